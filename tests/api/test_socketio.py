"""Socket.IO: the same runs, in project rooms, with the named events of the reference clients."""

import asyncio
from typing import Any

import httpx
import pytest
import socketio

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model
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
    stages = ["stage_update"] * 4  # resolve_prompt and generate, each running then finished
    assert names == [
        "snapshot",
        "chat_session_start",
        *stages[:3],
        "chunk",
        "chunk",
        "chunk",
        "token_usage",
        stages[3],
        "done",
        "vibecode_response",
    ], "every event once, in order, each done also under its reference name"
    assert "".join(data["content"] for name, data in received if name == "chunk") == "abc"
    response = next(data for name, data in received if name == "vibecode_response")
    done = next(data for name, data in received if name == "done")
    assert response == done and response["content"] == "abc" and response["status"] == "success"
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
