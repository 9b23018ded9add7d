"""`WS /ws/chat`, driven by a client written from the persona chat system's document alone
(message types, fields and flow as it lists them), against a real server and the stub LLM."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from vibeforge.llm.stub import Script, StubLLMServer

LONG = Script(chunks=tuple(f"w{i} " for i in range(400)), chunk_delay=0.02)


class ChatClient:
    """The reference client: `{"type", "data"}` messages over one socket."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, token: str | None = None) -> ChatClient:
        ws_url = url.replace("http://", "ws://") + "/ws/chat"
        if token:
            ws_url += f"?token={token}"
        return cls(await connect(ws_url))

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, within: float = 10) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.socket.recv(), within))
        self.seen.append(message)
        return message

    async def until(self, kind: str, within: float = 10) -> dict[str, Any]:
        while True:
            message = await self.receive(within)
            if message["type"] == kind:
                return message

    async def close(self) -> None:
        await self.socket.close()


@pytest.fixture
async def local_http(local_server: RunningServer, stub: StubLLMServer) -> httpx.AsyncClient:
    """The local user's client (no token), with a stub model as its default."""
    async with httpx.AsyncClient(base_url=local_server.url, timeout=30) as client:
        await create_stub_model(client, stub)
        yield client


def chat(message: str, **fields: Any) -> dict[str, Any]:
    data = {
        "message": message,
        "provider": "openai-compatible",
        "provider_settings": {"model": "stub-model", "temperature": 0.2},
        "chat_controls": {},
        **fields,
    }
    return {"type": "chat", "data": data}


async def test_a_full_exchange_in_the_documented_order(
    local_server: RunningServer, local_http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    stub.script(Script(chunks=("Hello", " there", "!"), thinking=("hmm",)))
    client = await ChatClient.open(local_server.url)  # no token: the local mode
    start = await client.receive()
    assert start["type"] == "session_start" and set(start["data"]) == {"session_id"}
    await client.send(chat("Hello!"))
    first = await client.receive()
    assert first["type"] == "chat_session_start"
    chat_session_id = first["data"]["chat_session_id"]
    conversation_id = first["data"]["conversation_id"]
    await client.until("post_response_complete")
    kinds = [m["type"] for m in client.seen]
    assert kinds[0] == "session_start" and kinds[1] == "chat_session_start"
    assert kinds[-2:] == ["done", "post_response_complete"]
    assert "stage_update" in kinds
    assert set(kinds) <= {
        "session_start", "chat_session_start", "stage_update", "chunk", "done",
        "post_response_complete",
    }  # fmt: skip
    stages = [m["data"] for m in client.seen if m["type"] == "stage_update"]
    assert all(set(s) == {"stage", "message"} for s in stages)
    chunks = [m["data"] for m in client.seen if m["type"] == "chunk"]
    assert all(set(c) == {"content", "thinking", "done"} for c in chunks)
    assert "".join(c["content"] for c in chunks) == "Hello there!"
    assert "".join(c["thinking"] or "" for c in chunks) == "hmm"
    assert [c["done"] for c in chunks][-1] is True and not any(c["done"] for c in chunks[:-1])
    metadata = client.seen[-2]["data"]["metadata"]
    assert metadata["model"] == "openai-compatible:stub-model"
    configs = (await local_http.get("/models")).json()["items"]
    assert [c["name"] for c in configs] == ["stub"], "the matching config was picked"
    assert metadata["total_tokens"] == metadata["prompt_tokens"] + metadata["completion_tokens"]
    assert metadata["total_tokens"] > 0 and metadata["chat_session_id"] == chat_session_id
    # The same conversation goes on with its history; the answer was stored as a message.
    await client.send(chat("again", conversation_id=conversation_id))
    again = await client.until("chat_session_start")
    assert again["data"]["conversation_id"] == conversation_id
    await client.until("post_response_complete")
    assert "Hello there!" in json.dumps(stub.requests[-1].body["messages"])
    # ping / pong
    await client.send({"type": "ping"})
    assert (await client.receive())["type"] == "pong"
    await client.close()
    assert local_server.crashes() == []


async def test_cancel_and_a_new_chat_cancelling_the_running_one(
    local_server: RunningServer, local_http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    stub.script(LONG, LONG, Script(chunks=("short",)))
    client = await ChatClient.open(local_server.url)
    await client.until("session_start")
    await client.send(chat("long one"))
    chat_session_id = (await client.until("chat_session_start"))["data"]["chat_session_id"]
    await client.until("chunk")
    await client.send({"type": "cancel", "session_id": chat_session_id})
    cancelled = await client.until("cancelled")
    assert cancelled["data"]["chat_session_id"] == chat_session_id
    await until(lambda: stub.requests[0].client_disconnected_at is not None, within=5)
    assert stub.requests[0].chunks_sent < len(LONG.chunks)
    # A second chat while one runs (another conversation): the first is cancelled.
    await client.send(chat("second long"))
    second = (await client.until("chat_session_start"))["data"]["chat_session_id"]
    await client.until("chunk")
    await client.send(chat("third"))
    cancelled = await client.until("cancelled")
    assert cancelled["data"]["chat_session_id"] == second
    third = await client.receive()
    assert third["type"] == "chat_session_start"
    assert third["data"]["chat_session_id"] not in (second, chat_session_id)
    await client.until("post_response_complete")
    # Cancelling a finished chat session, or one that is not this client's, is an error.
    await client.send({"type": "cancel", "session_id": second})
    assert (await client.receive())["type"] == "error"
    await client.send({"type": "cancel", "session_id": "no-such-session"})
    refused = await client.receive()
    assert refused["type"] == "error" and isinstance(refused["data"]["error"], str)
    await client.close()
    # What was streamed before the cancel is kept in the conversation.
    conversation = third["data"]["conversation_id"]
    listed = await local_http.get(f"/sessions/{conversation}/messages")
    assert listed.status_code == 200


async def test_bad_input_gets_the_error_message_and_the_socket_stays_usable(
    local_server: RunningServer, local_http: httpx.AsyncClient
) -> None:
    client = await ChatClient.open(local_server.url)
    await client.until("session_start")
    bad = [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"type": "shout"}),
        json.dumps({"type": "chat", "data": {"message": ""}}),
        json.dumps({"type": "chat", "data": {"message": "hi", "surprise": 1}}),
        json.dumps({"type": "chat", "data": "hello"}),
        json.dumps({"type": "cancel"}),
        json.dumps(chat("hi", conversation_id="nope")),
        json.dumps(chat("hi", persona_id="nope")),
    ]
    for text in bad:
        await client.socket.send(text)
        reply = await client.receive()
        assert reply["type"] == "error", (text, reply)
        assert isinstance(reply["data"]["error"], str) and reply["data"]["error"]
    await client.send({"type": "ping"})
    assert (await client.receive())["type"] == "pong"
    await client.close()
    assert local_server.crashes() == []


async def test_another_users_conversation_is_refused_and_tokens_decide(
    local_server: RunningServer, local_http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    mine = await ChatClient.open(local_server.url)
    await mine.until("session_start")
    await mine.send(chat("mine"))
    conversation = (await mine.until("chat_session_start"))["data"]["conversation_id"]
    await mine.until("post_response_complete")
    # The admin, by token, cannot use the local user's conversation: it does not exist for it.
    admin_http = httpx.AsyncClient(
        base_url=local_server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    async with admin_http:
        await create_stub_model(admin_http, stub)
    admin = await ChatClient.open(local_server.url, TOKEN)
    await admin.until("session_start")
    await admin.send(chat("theirs", conversation_id=conversation))
    refused = await admin.receive()
    assert refused["type"] == "error" and refused["data"]["code"] == "not_found"
    await admin.close()
    await mine.close()


async def test_without_local_mode_a_token_is_needed(server: RunningServer) -> None:
    anonymous = await ChatClient.open(server.url)
    refused = await anonymous.receive()
    assert refused == {"type": "error", "data": {"error": "unauthorized", "code": "unauthorized"}}
    with pytest.raises(Exception):  # noqa: B017 - closed with 4401
        await anonymous.receive()
    wrong = await ChatClient.open(server.url, "vf_wrong-token-0123456789")
    assert (await wrong.receive())["type"] == "error"
    with_token = await ChatClient.open(server.url, TOKEN)
    assert (await with_token.receive())["type"] == "session_start"
    await with_token.close()


async def test_provider_and_model_make_a_config_when_none_matches(
    local_server: RunningServer, local_http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    stub.script(Script(chunks=("from ollama",)))
    client = await ChatClient.open(local_server.url)
    await client.until("session_start")
    settings = {"model": "llama3", "base_url": stub.url, "temperature": 0.5}
    await client.send(chat("hi", provider="ollama", provider_settings=settings))
    done = await client.until("done")
    assert done["data"]["metadata"]["model"] == "ollama:llama3"
    assert stub.requests[-1].path == "/api/chat"  # the Ollama wire
    assert stub.requests[-1].body["options"]["temperature"] == 0.5
    names = sorted(c["name"] for c in (await local_http.get("/models")).json()["items"])
    assert names == ["ollama:llama3", "stub"]
    await client.send(chat("bad", provider="nonsense", provider_settings={"model": "x"}))
    assert (await client.until("error"))["data"]["code"] == "invalid_input"
    await client.close()
