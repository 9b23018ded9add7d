"""`vibeforge chat` killed with SIGKILL at random moments over many turns: the transcript always
parses, each partial turn is folded in on the next start, and the next start removes any
temporary file a kill left."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import httpx

from tests.client.test_terminal import _env
from tests.servers import RunningServer
from tests.stubs import create_stub_model
from vibeforge.client.terminal.transcript import parse
from vibeforge.llm.stub import Script, StubLLMServer

TURNS = 24
WORDS = tuple(f"t{i} " for i in range(40))
FULL = "".join(WORDS)


async def _chat(
    server: RunningServer, home: Path, session: str, transcript: Path
) -> asyncio.subprocess.Process:
    """A chat reading its messages from stdin, as a script would drive it."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vibeforge.cli",
        "chat",
        "--session",
        session,
        "--mode",
        "chat",
        "--transcript",
        str(transcript),
        env=_env(server, home),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _check(folder: Path, transcript: Path, *, killed: bool = False) -> None:
    """The transcript parses; no temporary file is left, except by a kill cut into a rewrite
    before its rename (the next start removes it: checked at the end)."""
    if not killed:
        temps = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
        assert not temps, "a temp file was left"
    if transcript.exists():
        parse(transcript.read_text(encoding="utf-8"))  # raises if it does not parse


async def test_kill_9_at_random_moments_never_corrupts_or_loses_the_transcript(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, tmp_path: Path
) -> None:
    await create_stub_model(http, stub)
    stub.rule(Script(chunks=WORDS, chunk_delay=0.01))
    project = (await http.post("/projects", json={"name": "kill"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    folder = tmp_path / "transcripts"
    folder.mkdir()
    transcript = folder / "session.md"
    seed = int(os.environ.get("KILL9_SEED", "1812"))
    chance = random.Random(seed)
    sent: list[str] = []
    for turn in range(TURNS):
        chat = await _chat(server, tmp_path, session["session_id"], transcript)
        prompt = f"turn {turn}"
        sent.append(prompt)
        assert chat.stdin is not None
        chat.stdin.write(f"{prompt}\n".encode())
        await chat.stdin.drain()
        if turn % 2:
            # Any moment, from before the chat has loaded to after its answer was written.
            await asyncio.sleep(chance.uniform(0.0, 1.4))
        else:
            # Within the turn, however slow the machine: once its journal has begun, while
            # it streams, or as its Markdown is rewritten.
            journal = folder / "session.md.journal"
            for _ in range(5000):
                if journal.exists():
                    break
                await asyncio.sleep(0.002)
            await asyncio.sleep(chance.uniform(0.0, 0.6))
        if chat.returncode is None:
            chat.send_signal(signal.SIGKILL)
        await chat.wait()
        _check(folder, transcript, killed=True)
    # One clean start folds in whatever the last kill left, and a last turn completes.
    chat = await _chat(server, tmp_path, session["session_id"], transcript)
    assert chat.stdin is not None
    chat.stdin.write(b"the last turn\n")
    chat.stdin.close()
    assert await asyncio.wait_for(chat.wait(), 60) == 0
    _check(folder, transcript)
    assert not (folder / "session.md.journal").exists()

    sections = parse(transcript.read_text(encoding="utf-8")).sections
    prompts = [s.body for s in sections if s.kind == "user"]
    assert prompts[-1] == "the last turn"
    # Every recorded prompt is one that was sent, once, in order (a chat killed before it
    # journaled its prompt never sent it).
    assert prompts[:-1] == [p for p in sent if p in prompts]
    assert len(set(s.meta["turn"] for s in sections if s.kind == "user")) == len(prompts)
    answers = [s for s in sections if s.kind == "assistant"]
    assert len(answers) == len(prompts), "each prompt has its answer, whole or partial"
    statuses = {answer.meta["status"] for answer in answers}
    assert statuses <= {"success", "interrupted"} and answers[-1].meta["status"] == "success"
    for answer in answers:
        if answer.meta["status"] == "success":
            assert answer.body == FULL
        else:
            assert FULL.startswith(answer.body), "a partial turn holds what streamed, in order"
    interrupted = [a for a in answers if a.meta["status"] == "interrupted"]
    assert interrupted and any(a.body for a in interrupted), (
        f"seed {seed}: some kills must land mid-stream for this test to mean anything"
    )
