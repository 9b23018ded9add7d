"""The code-editing agent system's `/api/v1/` routes and stream socket, driven as its
document shows them (curl and a browser WebSocket), against a real server and the stub LLM."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from vibeforge.llm.stub import Script, StubLLMServer

LONG = Script(chunks=tuple(f"w{i} " for i in range(400)), chunk_delay=0.02)


async def _stream(url: str, project_id: str, token: str | None = TOKEN) -> ClientConnection:
    ws_url = url.replace("http://", "ws://") + f"/api/v1/chat/stream/{project_id}"
    return await connect(ws_url + (f"?token={token}" if token else ""))


async def _until(socket: ClientConnection, kind: str, seen: list[dict[str, Any]]) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 15))
        seen.append(message)
        if message["type"] == kind:
            return message


async def test_projects_sessions_and_the_stream(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(http, stub)
    created = await http.post(
        "/api/v1/chat/create-session", json={"message": "Create a React app with TypeScript"}
    )
    assert created.status_code == 201, created.text
    session = created.json()
    assert set(session) == {"session_id", "project_id", "project_name", "message"}
    project_id = session["project_id"]
    listed = await http.get("/api/v1/projects/")
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [project_id]  # an array
    made = await http.post("/api/v1/projects/", json={"name": "second"})
    assert made.status_code == 201 and made.json()["name"] == "second"
    assert len((await http.get("/api/v1/projects")).json()) == 2
    detail = (await http.get(f"/api/v1/projects/{project_id}")).json()
    assert detail["description"] == "Create a React app with TypeScript"
    tree = await http.get(f"/api/v1/projects/{project_id}/files")
    assert (
        tree.status_code == 200
        and tree.json() == (await http.get(f"/projects/{project_id}/files")).json()
    )
    # The stream: a message, then the run's events.
    stub.script(Script(chunks=("Sure", ", here it is.")))
    socket = await _stream(server.url, project_id)
    await socket.send(
        json.dumps({"message": "Help me build a web application", "model": "stub-model",
                    "provider": "openai-compatible"})
    )  # fmt: skip
    seen: list[dict[str, Any]] = []
    done = await _until(socket, "done", seen)
    kinds = [m["type"] for m in seen]
    assert kinds[0] == "chat_session_start" and "chunk" in kinds
    assert done["data"]["status"] in ("success", "needs_input", "error")
    await _until(socket, "post_response_complete", seen)
    conversations = (await http.get(f"/api/v1/projects/{project_id}/conversations")).json()
    [conversation] = conversations
    assert conversation["id"] == session["session_id"]
    assert conversation["messages"][0]["content"] == "Help me build a web application"
    assert conversation["messages"][0]["role"] == "user"
    # Bad input is an error event; the socket stays usable.
    for bad in ("nope", json.dumps({"model": "x"}), json.dumps({"message": "", "x": 1})):
        await socket.send(bad)
        assert json.loads(await socket.recv())["type"] == "error"
    await socket.send(json.dumps({"type": "ping", "data": {"ts": 1}}))
    assert json.loads(await socket.recv())["type"] == "pong"
    await socket.close()
    assert server.crashes() == []


async def test_a_second_message_cancels_the_first_and_others_are_refused(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(http, stub)
    session = (await http.post("/api/v1/chat/create-session", json={"message": "x"})).json()
    stub.script(LONG, Script(chunks=("second",)))
    socket = await _stream(server.url, session["project_id"])
    await socket.send(json.dumps({"message": "long"}))
    seen: list[dict[str, Any]] = []
    await _until(socket, "chunk", seen)
    await socket.send(json.dumps({"message": "short"}))
    cancelled = await _until(socket, "cancelled", seen)
    assert cancelled["data"]["reason"].startswith("superseded")
    done = await _until(socket, "done", seen)
    assert done["data"]["content"] == "second"
    await until(lambda: stub.requests[0].client_disconnected_at is not None)
    await socket.close()
    # Another user: the project is 404 everywhere, and its stream refuses them.
    other = (await http.post("/users", json={"email": "other@example.com"})).json()["token"]
    headers = {"Authorization": f"Bearer {other}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as theirs:
        for path in ("", "/files", "/conversations"):
            got = await theirs.get(f"/api/v1/projects/{session['project_id']}{path}")
            assert got.status_code == 404, path
        assert (await theirs.get("/api/v1/projects")).json() == []
    refused = await _stream(server.url, session["project_id"], other)
    message = json.loads(await refused.recv())
    assert message["type"] == "error" and message["data"]["code"] == "not_found"
    anonymous = await _stream(server.url, session["project_id"], None)
    assert json.loads(await anonymous.recv())["data"]["code"] == "unauthorized"
