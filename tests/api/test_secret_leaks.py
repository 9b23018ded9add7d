"""A provider that echoes the API key leaks it nowhere: a real server process, the stub over
real HTTP repeating the key in every form, and a sweep of everything anyone could read after:
REST answers, socket events, the server's log, the run journal, the database file and rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from tests.leaks import leaks
from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN
from tests.wsclient import WsClient
from vibeforge.db import agent_tables, chat_tables
from vibeforge.db.tables import Base
from vibeforge.llm.stub import Script, StubLLMServer

KEY = 'sk-vf-7Hq2+Lm9/Xr4"Tz8=Wc3Nb6Ys1Kd5Pg0'
BASE_PATHS = {"openai-compatible": "/v1", "ollama": "", "anthropic": ""}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    """The real server of the conftest, logging at DEBUG: every line it writes is swept."""
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN, "VIBEFORGE_LOG_LEVEL": "DEBUG"}
    with vibeforge_server(tmp_path / "data", database_url, env=env) as running:
        yield running


class Seen:
    """Everything collected, by where it came from."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str | bytes]] = []

    def add(self, where: str, what: str | bytes) -> None:
        self.items.append((where, what))

    def response(self, where: str, response: httpx.Response) -> httpx.Response:
        self.add(f"{where} -> {response.status_code}", response.text)
        return response

    def leaked(self) -> list[tuple[str, list[str]]]:
        return [(where, found) for where, what in self.items if (found := leaks(what, KEY))]


def _files(directory: Path, pattern: str) -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in directory.glob(pattern)]


async def _post(http: httpx.AsyncClient, seen: Seen, session_id: str, **params: str) -> Any:
    response = await http.post(
        f"/sessions/{session_id}/messages",
        params=params,
        json={"prompt": "hi", "mode": "chat"},
    )
    return seen.response("POST messages", response)


async def _journal_while_streaming(
    http: httpx.AsyncClient, seen: Seen, session_id: str, journal: Path
) -> str:
    """Start a run whose answer quotes the key, and read the journal while it is written."""
    accepted = (await _post(http, seen, session_id, wait="false")).json()
    for _ in range(400):
        for name, text in _files(journal, "*.jsonl"):
            seen.add(f"journal {name}", text)
            if b"[redacted]" in text:
                return accepted["run_id"]
        await asyncio.sleep(0.01)
    raise AssertionError("the journal never held the streamed answer")


async def _database(database_url: str, seen: Seen, tmp_path: Path) -> None:
    assert {chat_tables.LLMCall.__table__, agent_tables.RunStats.__table__} <= set(
        Base.metadata.sorted_tables
    ), "every table is swept"
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            seen.add(f"table {table.name}", "\n".join(repr(tuple(row)) for row in rows))
    await engine.dispose()
    for name, content in _files(tmp_path, "test.db*"):  # SQLite's file, WAL, shared memory
        seen.add(f"file {name}", content)


@pytest.mark.parametrize("provider", list(BASE_PATHS))
async def test_a_key_the_provider_echoes_is_stored_logged_and_sent_nowhere(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    tmp_path: Path,
    database_url: str,
    provider: str,
) -> None:
    seen = Seen()
    config = seen.response(
        "POST /models",
        await http.post(
            "/models",
            json={
                "name": "echo",
                "provider": provider,
                "model": "stub-model",
                "base_url": stub.url + BASE_PATHS[provider],
                "api_key": KEY,
                "is_default": True,
            },
        ),
    ).json()
    project = (await http.post("/projects", json={"name": "leak"})).json()
    session_id = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()[
        "session_id"
    ]
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", session_id=session_id)

    # Over REST: refused, retried and refused again, failing mid-stream.
    stub.script(Script(status=401, echo_key=True))
    assert (await _post(http, seen, session_id)).status_code == 502
    stub.script(*[Script(status=429, retry_after=0.01, echo_key=True)] * 3)
    assert (await _post(http, seen, session_id)).status_code == 503
    # (Chunks ending in a space: a piece that might begin a key is held back, and a failure
    # before anything was shown is retried.)
    stub.script(Script(chunks=("a ", "b ", "c"), error_after=2, echo_key=True))
    failed = await _post(http, seen, session_id)
    assert failed.status_code == 502 and "[redacted]" in failed.json()["detail"]
    # The answer itself quotes the key, split across chunks, while clients and journal watch.
    answer = ("Your key: ", KEY[:5], KEY[5:14], KEY[14:], " end", " of", " the", " answer")
    stub.script(Script(chunks=answer, thinking=("I see ", KEY), chunk_delay=0.1))
    run_id = await _journal_while_streaming(http, seen, session_id, server.data_dir / "journal")
    await ws.until("done", within=15, run_id=run_id)

    # Over the socket: the same inputs.
    stub.script(Script(status=401, echo_key=True))
    await ws.send("chat", session_id=session_id, prompt="again", mode="chat")
    assert (await ws.until("error"))["data"]["code"] == "provider_authentication"
    await ws.until("done")
    stub.script(Script(chunks=("x ", "y"), error_after=1, echo_key=True))
    await ws.send("chat", session_id=session_id, prompt="once more", mode="chat")
    await ws.until("done")
    await ws.close()

    # The model test route, then every read anyone can make.
    stub.script(Script(status=401, echo_key=True))
    tested = seen.response("POST test", await http.post(f"/models/{config['id']}/test"))
    assert tested.json()["ok"] is False and "[redacted]" in tested.json()["detail"]
    messages = seen.response(
        "GET messages", await http.get(f"/sessions/{session_id}/messages")
    ).json()["items"]
    for message in messages:
        seen.response("GET full", await http.get(f"/messages/{message['id']}/full"))
        if message["run_id"]:
            seen.response("GET run", await http.get(f"/runs/{message['run_id']}"))
    seen.response("GET usage", await http.get("/usage"))
    seen.response("GET models", await http.get("/models"))
    seen.add("socket events", json.dumps(ws.events))
    port = server.url.rsplit(":", 1)[1]
    seen.add("server log", _files(tmp_path, f"server-{port}.log")[0][1])
    await _database(database_url, seen, tmp_path)

    # The stub was sent the key every time, and echoed it: the sweep is not vacuous.
    assert len(stub.requests) == 9
    assert all(KEY in " ".join(record.headers.values()) for record in stub.requests)
    assert [m["status"] for m in messages if m["role"] == "assistant"] == [
        "error",
        "error",
        "error",
        "success",
        "error",
        "error",
    ]
    assert messages[7]["content"] == "Your key: [redacted] end of the answer"
    assert messages[7]["thinking"] == "I see [redacted]"
    assert seen.leaked() == []
