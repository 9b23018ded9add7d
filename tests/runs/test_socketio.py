"""Socket.IO: the same runs, in project rooms, with the named events of the reference clients."""

import asyncio
from typing import Any

import httpx
import pytest
import socketio

from tests.runs.conftest import TOKEN, create_stub_model
from tests.servers import RunningServer
from vibeforge.llm.stub import Script, StubLLMServer


async def _setup(server: RunningServer, stub: StubLLMServer) -> tuple[str, str, str]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        await create_stub_model(http, stub)
        project = (await http.post("/projects", json={"name": "sio"})).json()
        session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
        other = (await http.post("/users", json={"email": "other@example.com"})).json()
    return project["id"], session["session_id"], other["token"]


async def test_socketio_streams_a_run_to_the_project_room(
    server: RunningServer, stub: StubLLMServer
) -> None:
    project_id, session_id, other_token = await _setup(server, stub)
    stub.script(Script(chunks=("a", "b", "c"), usage={"prompt_tokens": 3, "completion_tokens": 3}))
    received: list[tuple[str, Any]] = []
    finished = asyncio.Event()
    client = socketio.AsyncClient()

    @client.on("*")
    async def any_event(name: str, data: Any) -> None:
        received.append((name, data))
        if name == "vibecode_response":
            finished.set()

    await client.connect(server.url, auth={"token": TOKEN}, transports=["websocket"])
    ack = await client.call("subscribe", {"project_id": project_id})
    assert ack == {"ok": True}
    started = await client.call("chat", {"session_id": session_id, "prompt": "abc", "mode": "chat"})
    assert started["ok"] is True
    await asyncio.wait_for(finished.wait(), 10)
    names = [name for name, _ in received]
    assert "snapshot" in names and "chat_session_start" in names
    assert "token_usage" in names and "done" in names
    assert "".join(data["content"] for name, data in received if name == "chunk") == "abc"
    response = next(data for name, data in received if name == "vibecode_response")
    assert response["content"] == "abc" and response["status"] == "success"
    chunk_events = [name for name in names if name == "chunk"]
    assert len(chunk_events) == 3, "an event reaches a client in both rooms once"
    await client.disconnect()

    intruder = socketio.AsyncClient()
    await intruder.connect(server.url, auth={"token": other_token}, transports=["websocket"])
    refused = await intruder.call("subscribe", {"project_id": project_id})
    assert refused["ok"] is False and refused["code"] == "not_found"
    refused = await intruder.call("chat", {"session_id": session_id, "prompt": "x"})
    assert refused["ok"] is False
    await intruder.disconnect()


async def test_socketio_refuses_a_bad_token(server: RunningServer) -> None:
    client = socketio.AsyncClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth={"token": "nope"}, transports=["websocket"])
