"""Two real `vibeforge serve` processes sharing PostgreSQL, Redis and a data directory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN, create_stub_model
from tests.wsclient import WsClient
from vibeforge.llm.stub import StubLLMServer

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
# Short leases keep the dead-owner tests quick; the defaults are 5000/1000.
LEASE_ENV = {"VIBEFORGE_LEASE_MS": "1500", "VIBEFORGE_HEARTBEAT_MS": "300"}


def cluster_env(redis_url: str, prefix: str) -> dict[str, str]:
    """What every process of one deployment is started with."""
    return {
        "VIBEFORGE_ADMIN_TOKEN": TOKEN,
        "VIBEFORGE_REDIS_URL": redis_url,
        "VIBEFORGE_REDIS_PREFIX": prefix,
        **LEASE_ENV,
    }


@contextlib.contextmanager
def two_servers(
    data_dir: Path, database_url: str, redis_url: str, prefix: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Servers A and B of one deployment (started one after the other)."""
    env = cluster_env(redis_url, prefix)
    with (
        vibeforge_server(data_dir, database_url, env=env) as a,
        vibeforge_server(data_dir, database_url, env=env) as b,
    ):
        yield a, b


@dataclass
class Conversation:
    """A stub model, a project and its session, made through one of the servers."""

    project_id: str
    session_id: str


async def conversation(server: RunningServer, stub: StubLLMServer) -> Conversation:
    """Set up a model pointing at the stub, a project and a session."""
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
        await create_stub_model(http, stub)
        project = (await http.post("/projects", json={"name": "scale"})).json()
        session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    return Conversation(project["id"], session["session_id"])


async def watcher(server: RunningServer, session_id: str, after_seq: int | None = None) -> WsClient:
    """A /ws client following a session on `server` (replaying after `after_seq`)."""
    ws = await WsClient.open(server.url, TOKEN)
    if after_seq is None:
        await ws.send("subscribe", session_id=session_id)
    else:
        await ws.send("subscribe", session_id=session_id, after_seq=after_seq)
    await ws.until("session_start")
    return ws


def numbered(ws: WsClient) -> list[dict[str, Any]]:
    """The client's session events (seq > 0), in arrival order."""
    return [event for event in ws.events if event.get("seq")]


def contiguous(events: list[dict[str, Any]]) -> list[int]:
    """The events' seqs, asserted each once and none missing between the first and last."""
    seqs = [event["seq"] for event in events]
    assert len(seqs) == len(set(seqs)), f"an event twice: {seqs}"
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), f"an event missing: {seqs}"
    return seqs


async def start_chat(server: RunningServer, session_id: str, prompt: str) -> WsClient:
    """A /ws client of `server` that started a plain-chat run in the session."""
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("chat", session_id=session_id, prompt=prompt, mode="chat")
    return ws


def chunks(events: list[dict[str, Any]]) -> str:
    """The streamed text of some events."""
    return "".join(e["data"].get("content") or "" for e in events if e["type"] == "chunk")


async def get(server: RunningServer, path: str) -> Any:
    """GET as the admin; the JSON answer."""
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
        response = await http.get(path)
        assert response.status_code == 200, response.text
        return response.json()
