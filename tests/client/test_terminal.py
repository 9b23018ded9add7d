"""`vibeforge chat`, `export` and `resume` driven as a user would: in a pseudo-terminal (pexpect)
against a real server and the stub LLM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pexpect
import pytest

from tests.agents.conftest import APP_PY, sr, verdict
from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from vibeforge.client.terminal.transcript import parse
from vibeforge.llm.stub import Script, StubLLMServer

LONG = tuple(f"w{i} " for i in range(600))


def _env(server: RunningServer, home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIBEFORGE_")}
    env.update(
        VIBEFORGE_URL=server.url,
        VIBEFORGE_TOKEN=TOKEN,
        XDG_DATA_HOME=str(home),
        PROMPT_TOOLKIT_NO_CPR="1",  # pexpect does not answer cursor-position requests
        TERM="xterm-256color",
    )
    return env


def _spawn(server: RunningServer, home: Path, *args: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "vibeforge.cli", "chat", *args],
        env=_env(server, home),
        encoding="utf-8",
        timeout=20,
        dimensions=(50, 200),
    )


@dataclass
class Ran:
    """What a finished command printed."""

    returncode: int
    stdout: str
    stderr: str


async def _run(server: RunningServer, home: Path, *args: str) -> Ran:
    """Run `vibeforge ARGS` without blocking the loop (the stub LLM is served by it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vibeforge.cli",
        *args,
        env=_env(server, home),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def _expect(child: pexpect.spawn, pattern: Any) -> None:
    await child.expect(pattern, async_=True)


@pytest.fixture
async def project(http: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    await create_stub_model(http, stub)
    return (await http.post("/projects", json={"name": "term"})).json()


async def _chat_with_a_long_answer(
    server: RunningServer, stub: StubLLMServer, home: Path
) -> pexpect.spawn:
    """A chat-mode terminal at its first prompt, the stub set to answer slowly and at length."""
    stub.script(Script(chunks=LONG, chunk_delay=0.02))
    child = _spawn(server, home, "term", "--mode", "chat")
    await _expect(child, "you›")
    return child


async def _session_of(http: httpx.AsyncClient, project_id: str) -> str:
    response = await http.post(f"/projects/{project_id}/sessions", json={})
    return str(response.json()["session_id"])


async def test_ctrl_c_cancels_the_run_upstream_and_a_second_ctrl_c_exits(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    project: Any,
    tmp_path: Path,
) -> None:
    child = await _chat_with_a_long_answer(server, stub, tmp_path)
    child.send("tell me a long story\r")
    await _expect(child, "w5 w6 ")  # streaming shows up live
    child.send("\x03")
    await _expect(child, "cancelled")
    request = stub.requests[-1]
    await until(lambda: request.client_disconnected_at is not None)
    assert request.completed_at is None, "the upstream stream was closed mid-answer"
    session = await _session_of(http, project["id"])
    stored = (await http.get(f"/sessions/{session}/messages")).json()["items"][-1]
    assert stored["status"] == "cancelled" and stored["content"].startswith("w0 w1 ")
    await _expect(child, "you›")
    child.send("\x03")
    await _expect(child, pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    transcript = parse(next((tmp_path / "vibeforge" / "transcripts").glob("*.md")).read_text())
    user, answer = transcript.sections
    assert user.body == "tell me a long story"
    assert answer.meta["status"] == "cancelled" and answer.body == stored["content"]


async def test_esc_cancels_and_multi_line_input_is_one_message(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    project: Any,
    tmp_path: Path,
) -> None:
    child = await _chat_with_a_long_answer(server, stub, tmp_path)
    child.send("first line")
    child.send("\x1b\r")  # Esc Enter: a new line, not a send
    child.send("second line\r")
    await _expect(child, "w3 ")
    child.send("\x1b")
    await _expect(child, "cancelled")
    await _expect(child, "you›")
    child.send("/quit\r")
    await _expect(child, pexpect.EOF)
    session = await _session_of(http, project["id"])
    messages = (await http.get(f"/sessions/{session}/messages")).json()["items"]
    assert messages[0]["content"] == "first line\nsecond line"
    assert messages[1]["status"] == "cancelled"


async def test_json_prints_the_servers_events_as_ndjson(
    server: RunningServer, stub: StubLLMServer, project: Any, tmp_path: Path
) -> None:
    stub.script(Script(chunks=("one ", "two ", "three")))
    result = await _run(server, tmp_path, "chat", "term", "--mode", "chat", "--json", "-m", "count")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    types = [event["type"] for event in events]
    assert types[0] == "chat_session_start" and types[-2:] == ["done", "post_response_complete"]
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "every event, once, in order"
    text = "".join(e["data"]["content"] for e in events if e["type"] == "chunk")
    assert text == "one two three" == events[-2]["data"]["content"]
    assert len({event["data"]["run_id"] for event in events}) == 1


async def test_message_mode_prints_the_answer_and_says_how_it_went(
    server: RunningServer, stub: StubLLMServer, project: Any, tmp_path: Path
) -> None:
    stub.script(Script(chunks=("an ", "answer")))
    result = await _run(server, tmp_path, "chat", "term", "--mode", "chat", "-m", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "an answer\n", "stdout holds the answer alone"
    assert "success" in result.stderr and "tokens" in result.stderr
    stub.script(Script(status=400, error_message="nope"))
    failed = await _run(server, tmp_path, "chat", "term", "--mode", "chat", "-m", "again")
    assert failed.returncode == 1 and "provider_bad_request" in failed.stderr
    refused = await _run(server, tmp_path, "chat", "term", "--param", "temperature=9", "-m", "x")
    assert refused.returncode == 1 and "invalid_parameter" in refused.stderr
    no_server = await _run(server, tmp_path, "chat", "-m", "x")
    assert no_server.returncode == 0  # the default project is made on first use


async def test_proposals_diffs_accept_undo_and_cost_from_the_chat(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    project: Any,
    tmp_path: Path,
) -> None:
    pid = project["id"]
    await http.put(f"/projects/{pid}/files/app.py", json={"content": APP_PY})
    session = await _session_of(http, pid)
    await http.put(f"/sessions/{session}/auto_apply", json={"auto_apply": False})
    stub.script(sr("app.py", "def greet(name):\n", "def welcome(name):\n"), verdict(True))
    child = _spawn(server, tmp_path, "term")
    await _expect(child, "you›")
    child.send("rename greet to welcome\r")
    await _expect(child, r"\+def welcome\(name\):")
    await _expect(child, "pending")
    await _expect(child, "you›")
    child.send("/accept\r")
    await _expect(child, "applied")
    file = (await http.get(f"/projects/{pid}/files/app.py")).json()
    assert "def welcome(name):" in file["content"]
    child.send("/diff\r")
    await _expect(child, r"-def greet\(name\):")
    child.send("/cost\r")
    await _expect(child, "this project: ")
    child.send("/undo\r")
    await _expect(child, "reverted")
    file = (await http.get(f"/projects/{pid}/files/app.py")).json()
    assert file["content"] == APP_PY
    child.send("/model\r")
    await _expect(child, "stub: openai-compatible stub-model")
    child.send("/bogus\r")
    await _expect(child, "unknown command")
    child.send("/reset\r")
    await _expect(child, "history cleared")
    assert (await http.get(f"/sessions/{session}/messages")).json()["items"] == []
    await _expect(child, "you›")
    child.sendeof()
    await _expect(child, pexpect.EOF)
    transcript = parse(next((tmp_path / "vibeforge" / "transcripts").glob("*.md")).read_text())
    kinds = [section.kind for section in transcript.sections]
    assert kinds[:3] == ["user", "assistant", "diff"] and "note" in kinds


async def test_export_rebuilds_the_transcript_from_the_server_and_resume_lists_it(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    project: Any,
    tmp_path: Path,
) -> None:
    stub.script(Script(chunks=("first",)), Script(chunks=("second",)))
    for prompt in ("a", "b"):
        done = await _run(server, tmp_path, "chat", "term", "--mode", "chat", "-m", prompt)
        assert done.returncode == 0, done.stderr
    session = await _session_of(http, project["id"])
    exported = await _run(server, tmp_path, "export", session, "--format", "json")
    assert exported.returncode == 0, exported.stderr
    stored = (await http.get(f"/sessions/{session}/messages")).json()["items"]
    assert json.loads(exported.stdout)["messages"] == stored
    out = tmp_path / "export.md"
    markdown = await _run(server, tmp_path, "export", session, "--format", "md", "-o", str(out))
    assert markdown.returncode == 0, markdown.stderr
    sections = parse(out.read_text()).sections
    assert [(s.kind, s.body) for s in sections] == [
        ("user", "a"),
        ("assistant", "first"),
        ("user", "b"),
        ("assistant", "second"),
    ]
    local = parse(next((tmp_path / "vibeforge" / "transcripts").glob("*.md")).read_text())
    assert [(s.kind, s.body) for s in local.sections] == [(s.kind, s.body) for s in sections]
    listed = await _run(server, tmp_path, "resume", "--list")
    assert listed.returncode == 0 and session in listed.stdout and "2 turns" in listed.stdout
    missing = await _run(server, tmp_path, "export", "no-such-session")
    assert missing.returncode == 1 and "not_found" in missing.stderr


async def test_sigint_cancels_a_message_sent_from_a_script(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    project: Any,
    tmp_path: Path,
) -> None:
    stub.script(Script(chunks=LONG, chunk_delay=0.02))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "vibeforge.cli", "chat", "term", "--mode", "chat", "-m", "go on"),
        env=_env(server, tmp_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await until(lambda: bool(stub.requests) and stub.requests[-1].chunks_sent > 5, within=20)
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1, err.decode()
    assert b"cancelled" in err and out.startswith(b"w0 w1 ")
    await until(lambda: stub.requests[-1].client_disconnected_at is not None)
    session = await _session_of(http, project["id"])
    stored = (await http.get(f"/sessions/{session}/messages")).json()["items"][-1]
    assert stored["status"] == "cancelled"
