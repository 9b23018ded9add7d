"""The workspace agent system's socket `WS /ws/{chat_id}`, `/auth/login` and `/chat/new`,
driven by a client written from its document alone, against a real server and the stub LLM."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from vibeforge.llm.stub import Script, StubLLMServer

LONG = Script(chunks=tuple(f"w{i} " for i in range(400)), chunk_delay=0.02)
INITIAL_KEYS = {
    "chat_id", "conversation", "chat_files_text", "chat_files_based", "workspace_files",
    "workspace_id", "models",
}  # fmt: skip


class WorkspaceClient:
    """The reference client: JSON actions (or plain text) over `/ws/{chat_id}`."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, url: str, chat_id: str, token: str | None = TOKEN) -> WorkspaceClient:
        ws_url = url.replace("http://", "ws://") + f"/ws/{chat_id}"
        return cls(await connect(ws_url + (f"?token={token}" if token else "")))

    async def receive(self, within: float = 15) -> Any:
        return json.loads(await asyncio.wait_for(self.socket.recv(), within))

    async def act(self, **action: Any) -> Any:
        await self.socket.send(json.dumps(action))
        return await self.receive()

    async def close(self) -> None:
        await self.socket.close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
async def chat_id(http: httpx.AsyncClient, stub: StubLLMServer) -> str:
    await create_stub_model(http, stub)
    login = await http.post("/auth/login", json={"email": "admin@localhost", "token": TOKEN})
    assert login.status_code == 200, login.text
    user_id = login.json()["user_id"]
    workspace = (await http.post("/projects", json={"name": "ws", "main_file": "notes.md"})).json()
    created = await http.post(
        "/chat/new",
        data={"user_id": user_id, "workspace_id": workspace["id"], "chat_name": "General Chat"},
    )
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"chat_id", "name", "last_updated"}
    return created.json()["chat_id"]


async def test_login_needs_the_email_and_a_token_of_that_user(
    server: RunningServer, http: httpx.AsyncClient, chat_id: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as anonymous:
        alone = await anonymous.post("/auth/login", json={"email": "admin@localhost"})
        assert alone.status_code == 422 and alone.json()["error"] == "validation_error"
        wrong = await anonymous.post(
            "/auth/login", json={"email": "admin@localhost", "token": "vf_nope-0123456789"}
        )
        assert wrong.status_code == 401
        other = await http.post("/users", json={"email": "other@example.com"})
        their_token = other.json()["token"]
        mismatch = await anonymous.post(
            "/auth/login", json={"email": "admin@localhost", "token": their_token}
        )
        assert mismatch.status_code == 401
        ok = await anonymous.post("/auth/login", json={"email": "admin@localhost", "token": TOKEN})
    body = ok.json()
    assert set(body) == {"user_id", "email", "workspaces"} and body["email"] == "admin@localhost"
    [workspace] = body["workspaces"]
    assert set(workspace) == {"id", "name", "chats"} and workspace["name"] == "ws"
    [chat] = workspace["chats"]
    assert chat["id"] == chat_id and chat["name"] == "General Chat"
    assert set(chat) == {"id", "name", "last_updated", "num_versions"}
    # `user_id` must be the caller's; another user's workspace is 404.
    theirs = httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {their_token}"}, timeout=30
    )
    async with theirs:
        forged = await theirs.post(
            "/chat/new",
            data={"user_id": body["user_id"], "workspace_id": workspace["id"], "chat_name": "x"},
        )
        assert forged.status_code == 404
        me = (await theirs.get("/me")).json()["id"]
        foreign = await theirs.post(
            "/chat/new", data={"user_id": me, "workspace_id": workspace["id"], "chat_name": "x"}
        )
        assert foreign.status_code == 404
    # Their socket cannot open the admin's chat.
    refused = await WorkspaceClient.open(server.url, chat_id, their_token)
    assert await refused.receive() == {"error": "Chat not found."}
    nobody = await WorkspaceClient.open(server.url, chat_id, None)
    assert await nobody.receive() == {"error": "unauthorized"}


async def test_the_documented_actions(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, chat_id: str
) -> None:
    client = await WorkspaceClient.open(server.url, chat_id)
    initial = await client.receive()
    assert set(initial) == INITIAL_KEYS and initial["chat_id"] == chat_id
    assert initial["conversation"] == [] and initial["models"] == ["stub"]
    uploaded = await client.act(action="upload_file", filename="notes.txt", file_data=b64("hi\n"))
    assert uploaded["action"] == "file_uploaded"
    message = uploaded["message"]
    assert message["role"] == "user" and message["type"] == "file"
    assert set(message["content"]) == {"file_id", "filename", "path"}
    notes_id = message["content"]["file_id"]
    for text in ("a = 1\n", "a = 2\n"):
        based = await client.act(action="upload_file", filename="main.based", file_data=b64(text))
        assert based["message"]["content"]["filename"] == "main.based"
    # Plain text is a chat message; new_message is one too.
    stub.script(Script(chunks=("Hello", " back")), Script(chunks=("Summary.",)))
    await client.socket.send("Hello, are you there?")
    answer = await client.receive()
    assert answer["action"] == "agent_response"
    assert answer["message"] == {"role": "assistant", "type": "text", "content": "Hello back"}
    answer = await client.act(action="new_message", model="stub", prompt="Summarize the file.")
    assert answer["message"]["content"] == "Summary."
    assert "hi" in json.dumps(stub.requests[-1].body["messages"]), "the chat's file was read"
    await client.close()
    # Reconnected: the payload holds what was done.
    client = await WorkspaceClient.open(server.url, chat_id)
    initial = await client.receive()
    assert [(m["role"], m["type"]) for m in initial["conversation"]] == [
        ("user", "text"), ("assistant", "text"), ("user", "text"), ("assistant", "text"),
    ]  # fmt: skip
    [text_file] = initial["chat_files_text"]
    assert text_file == {
        "file_id": notes_id,
        "name": "notes.txt",
        "content": "hi\n",
        "type": "text",
    }
    [based_file] = initial["chat_files_based"]
    assert based_file["name"] == "main.based" and based_file["latest_content"] == "a = 2\n"
    assert based_file["type"] == "based" and len(based_file["versions"]) == 2
    newest, oldest = based_file["versions"]
    assert newest["diff"] == "" and "-a = 1" in oldest["diff"] and "+a = 2" in oldest["diff"]
    assert set(oldest) == {"version_id", "timestamp", "diff"}
    reverted = await client.act(
        action="revert_version", version_id=oldest["version_id"], filename="main.based"
    )
    assert reverted["action"] == "revert_complete"
    content = reverted["message"]["content"]
    assert reverted["message"]["role"] == "assistant" and content["based_content"] == "a = 1\n"
    assert content["message"].startswith(f"Reverted to version {oldest['version_id']}")
    assert (await http.get(f"/projects/{initial['workspace_id']}/files/main.based")).json()[
        "content"
    ] == "a = 1\n"
    # Unknown actions and bad input.
    assert await client.act(action="some_unhandled_action") == {
        "error": "Unknown action: some_unhandled_action"
    }
    assert "error" in await client.act(action="upload_file", filename="x.txt")
    assert "error" in await client.act(action="upload_file", filename="x.txt", file_data="@@@")
    assert "error" in await client.act(action="revert_version", version_id="zzzz", filename="a")
    assert "error" in await client.act(action="delete_file", file_id="no-such-file")
    deleted = await client.act(action="delete_file", file_id=notes_id)
    assert deleted == {
        "action": "file_deleted",
        "message": {
            "role": "system",
            "type": "file",
            "content": {"deleted_file_id": notes_id, "filename": "notes.txt"},
        },
    }
    deleted = await client.act(action="delete_file", file_id="main.based")
    assert deleted["message"]["content"]["filename"] == "main.based"
    await client.close()
    assert server.crashes() == []


async def test_a_second_message_cancels_the_first(
    server: RunningServer, stub: StubLLMServer, chat_id: str
) -> None:
    stub.script(LONG, Script(chunks=("second",)))
    client = await WorkspaceClient.open(server.url, chat_id)
    await client.receive()
    await client.socket.send(json.dumps({"action": "new_message", "prompt": "long"}))
    await until(lambda: bool(stub.requests) and stub.requests[0].chunks_sent >= 3)
    second = await client.act(action="new_message", prompt="short")
    assert "error" in second and second["error"].startswith("cancelled: superseded")
    answer = await client.receive()
    assert answer["message"]["content"] == "second", answer
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None)
    assert stub.requests[0].chunks_sent < len(LONG.chunks)
    await client.close()
