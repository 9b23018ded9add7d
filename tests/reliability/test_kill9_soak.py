"""kill -9 soak: cycles of several streaming runs and file writes at once, the server killed
at a random moment, then restarted on the same data. After every restart: every chunk any
client saw is in the recovered message, the SQLite file passes `PRAGMA integrity_check`, every
project's repository passes `git fsck`, project rows and repositories match one to one, and
each session's numbering continues past what clients saw."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.budget import scaled
from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN, create_stub_model
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, StubLLMServer

ENV = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
STREAMS = 3  # runs streaming at once in each cycle
WORDS = tuple(f"w{i} " for i in range(400))


async def _setup(server: RunningServer, stub: StubLLMServer) -> list[dict[str, Any]]:
    """Projects with one session each, and the stub model every run streams from."""
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
        await create_stub_model(http, stub)
        sessions = []
        for index in range(STREAMS):
            project = (await http.post("/projects", json={"name": f"soak {index}"})).json()
            sessions.append(
                (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
            )
    return sessions


async def _writes(server: RunningServer, project_ids: list[str], cycle: int) -> None:
    """File writes and multi-file commits, until the server dies under them."""
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
        for step in range(10_000):
            project = project_ids[step % len(project_ids)]
            files = {f"f{cycle}_{step}_{n}.py": f"x = {step}\n" * 50 for n in range(3)}
            await http.post(f"/projects/{project}/commits", json={"files": files})


async def _drain(ws: WsClient) -> None:
    with contextlib.suppress(Exception):
        while True:
            await ws.next(within=0.3)


def _seen(ws: WsClient) -> tuple[dict[str, str], int]:
    """The chunks this client saw, by run, and the highest seq."""
    seen: dict[str, str] = {}
    for event in ws.events:
        if event["type"] == "chunk":
            run = event["data"].get("run_id", "")
            seen[run] = seen.get(run, "") + event["data"]["content"]
    return seen, max((event.get("seq") or 0 for event in ws.events), default=0)


async def _cycle(
    server: RunningServer, sessions: list[dict[str, Any]], rng: random.Random, cycle: int
) -> list[tuple[str, dict[str, str], int]]:
    """Start the runs and the writes, kill -9 at a random moment; what each client saw."""
    clients = []
    for session in sessions:
        ws = await WsClient.open(server.url, TOKEN)
        await ws.send("subscribe", session_id=session["session_id"])
        await ws.send("chat", session_id=session["session_id"], prompt="stream", mode="chat")
        clients.append((session["session_id"], ws))
    writer = asyncio.create_task(_writes(server, [s["project_id"] for s in sessions], cycle))
    await clients[0][1].until("chunk", within=20)
    await asyncio.sleep(rng.uniform(0.0, 0.8))
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=15)
    writer.cancel()
    with contextlib.suppress(BaseException):
        await writer
    seen = []
    for session_id, ws in clients:
        await _drain(ws)  # what was already in flight to the client still counts as seen
        chunks, last_seq = _seen(ws)
        seen.append((session_id, chunks, last_seq))
        with contextlib.suppress(Exception):
            await ws.close()
    return seen


def _integrity(data_dir: Path, database: Path | None, project_ids: set[str]) -> None:
    if database is not None:
        with contextlib.closing(sqlite3.connect(database)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    repositories = {path.name for path in (data_dir / "projects").iterdir() if path.is_dir()}
    assert repositories == project_ids, "a project row without its repository, or the reverse"
    for name in repositories:
        fsck = subprocess.run(
            ["git", "fsck", "--full", "--no-dangling"],
            cwd=data_dir / "projects" / name,
            capture_output=True,
            text=True,
        )
        assert fsck.returncode == 0 and "error" not in fsck.stderr, (name, fsck.stderr)


async def _check_recovered(
    server: RunningServer, seen: list[tuple[str, dict[str, str], int]]
) -> tuple[set[str], int]:
    """Every chunk seen is in its run's message; numbering goes on. The project ids and how
    many chunks were checked."""
    checked = 0
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
        for session_id, chunks, last_seq in seen:
            items = await http.get(f"/sessions/{session_id}/messages", params={"limit": 500})
            by_run = {m["run_id"]: m for m in items.json()["items"] if m["role"] == "assistant"}
            for run_id, text in chunks.items():
                message = by_run[run_id]
                assert message["content"].startswith(text), (run_id, message["status"])
                assert message["status"] in ("interrupted", "success"), message["status"]
                checked += len(text.split())
            info = (await http.get(f"/sessions/{session_id}")).json()
            assert info["last_seq"] >= last_seq, "numbering continues after the restart"
            assert info["active_run_id"] is None
        projects = (await http.get("/projects", params={"limit": 500})).json()["items"]
    return {project["id"] for project in projects}, checked


async def test_kill_9_soak_loses_nothing_a_client_saw_and_corrupts_nothing(
    tmp_path: Path, database_url: str, stub: StubLLMServer
) -> None:
    cycles = scaled(3, 100)
    rng = random.Random(9)
    stub.rule(Script(chunks=WORDS, chunk_delay=0.01))
    data_dir = tmp_path / "data"
    database = tmp_path / "test.db" if database_url.startswith("sqlite") else None
    with vibeforge_server(data_dir, database_url, env=ENV) as server:
        sessions = await _setup(server, stub)
        seen = await _cycle(server, sessions, rng, 0)
    chunks = 0
    for cycle in range(1, cycles + 1):
        with vibeforge_server(data_dir, database_url, env=ENV) as server:
            project_ids, checked = await _check_recovered(server, seen)
            chunks += checked
            assert server.crashes() == [], server.crashes()
            if cycle == cycles:
                break
            seen = await _cycle(server, sessions, rng, cycle)
        _integrity(data_dir, database, project_ids)
    _integrity(data_dir, database, project_ids)
    print(f"kill -9 soak: {cycles} cycles, {chunks} seen chunks found in recovered messages")
    assert chunks > 0
