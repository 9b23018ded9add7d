"""The persona chat system's `POST/PUT/DELETE /api/messages`, conversation titles, `cancel`
of a chat session started on another socket, and `chat_controls`; a client written from its
document alone, against a real server (local mode) and the stub LLM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.compat.test_persona_chat_ws import LONG, ChatClient, chat
from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer


@pytest.fixture
async def api(local_server: RunningServer, stub: StubLLMServer) -> AsyncIterator[httpx.AsyncClient]:
    """The local user (no token), with the stub as its default model."""
    async with httpx.AsyncClient(base_url=local_server.url, timeout=60) as client:
        await create_stub_model(client, stub)
        yield client


async def test_messages_written_by_hand_and_titles(
    local_server: RunningServer,
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    stub: StubLLMServer,
) -> None:
    persona = (await api.post("/api/personas", json={"name": "Bo", "template": "Be Bo."})).json()
    created = await api.post(
        "/api/conversations", json={"persona_id": persona["id"], "title": "First talk"}
    )
    assert created.status_code == 201, created.text
    conversation = created.json()
    assert conversation["title"] == "First talk" and conversation["persona_id"] == persona["id"]
    cid = conversation["id"]
    # PUT changes the fields given and only those.
    retitled = await api.put(f"/api/conversations/{cid}", json={"title": "Renamed"})
    assert retitled.json()["title"] == "Renamed" and retitled.json()["persona_id"] == persona["id"]
    no_persona = await api.put(f"/api/conversations/{cid}", json={"persona_id": None})
    assert no_persona.json()["title"] == "Renamed" and no_persona.json()["persona_id"] is None
    assert (await api.get(f"/api/conversations/{cid}")).json()["title"] == "Renamed"
    assert (await api.get(f"/sessions/{cid}")).json()["title"] == "Renamed", "the session's"
    too_long = await api.put(f"/api/conversations/{cid}", json={"title": "x" * 201})
    assert too_long.status_code == 422 and set(too_long.json()) == {"error", "detail"}
    assert (await admin.put(f"/api/conversations/{cid}", json={"title": "t"})).status_code == 404

    # Messages by hand.
    user_said = await api.post(
        "/api/messages",
        json={"conversation_id": cid, "role": "user", "content": "My name is Ada."},
    )
    assert user_said.status_code == 201, user_said.text
    said = user_said.json()
    assert said["conversation_id"] == cid and said["role"] == "user"
    assert said["content"] == "My name is Ada." and said["token_count"] is None
    answer = await api.post(
        "/api/messages",
        json={
            "conversation_id": cid,
            "role": "assistant",
            "content": "Hello Ada.",
            "thinking": "greet",
            "token_count": 7,
        },
    )
    assert answer.json()["token_count"] == 7 and answer.json()["thinking"] == "greet"
    note = await api.post(
        "/api/messages", json={"conversation_id": cid, "role": "system", "content": "a note"}
    )
    assert note.status_code == 201
    for bad in (
        {"conversation_id": cid, "role": "robot", "content": "x"},
        {"conversation_id": cid, "role": "user", "content": "x", "surprise": 1},
        {"conversation_id": cid, "role": "user"},
        {"conversation_id": cid, "role": "user", "content": "x", "token_count": -1},
    ):
        refused = await api.post("/api/messages", json=bad)
        assert refused.status_code == 422 and set(refused.json()) == {"error", "detail"}, bad
    missing = await api.post(
        "/api/messages", json={"conversation_id": "nope", "role": "user", "content": "x"}
    )
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    theirs = await admin.post(
        "/api/messages", json={"conversation_id": cid, "role": "user", "content": "x"}
    )
    assert theirs.status_code == 404
    # PUT and DELETE.
    edited = await api.put(f"/api/messages/{answer.json()['id']}", json={"content": "Hi Ada."})
    assert edited.status_code == 200 and edited.json()["content"] == "Hi Ada."
    assert edited.json()["thinking"] == "greet" and edited.json()["token_count"] == 7
    assert (await api.put(f"/api/messages/{said['id']}", json={"role": "x"})).status_code == 422
    assert (
        await admin.put(f"/api/messages/{said['id']}", json={"content": "x"})
    ).status_code == 404
    assert (await admin.delete(f"/api/messages/{note.json()['id']}")).status_code == 404
    assert (await api.delete(f"/api/messages/{note.json()['id']}")).status_code == 204
    assert (await api.get(f"/api/messages/{note.json()['id']}")).status_code == 404
    assert (await api.delete(f"/api/messages/{note.json()['id']}")).status_code == 404
    listed = (await api.get(f"/api/messages/by-conversation/{cid}")).json()
    assert [(m["role"], m["content"]) for m in listed] == [
        ("user", "My name is Ada."),
        ("assistant", "Hi Ada."),
    ]
    kept = (await api.get(f"/sessions/{cid}/messages?include_archived=true")).json()["items"]
    assert [m["archived"] for m in kept] == [False, False, True]

    # The next run's history holds the hand-written messages.
    stub.script(Script(chunks=("You are Ada.",)))
    client = await ChatClient.open(local_server.url)
    await client.until("session_start")
    await client.send(chat("who am I?", conversation_id=cid))
    await client.until("post_response_complete")
    sent = json.dumps(stub.requests[-1].body["messages"])
    assert "My name is Ada." in sent and "Hi Ada." in sent and "a note" not in sent
    # While a run is active nothing is added, and its answer cannot be changed.
    stub.script(LONG)
    await client.send(chat("long", conversation_id=cid))
    streaming = (await client.until("chat_session_start"))["data"]["chat_session_id"]
    await client.until("chunk")
    busy = await api.post(
        "/api/messages", json={"conversation_id": cid, "role": "user", "content": "x"}
    )
    assert busy.status_code == 409 and busy.json()["error"] == "conflict"
    writing = await api.put(f"/api/messages/{streaming}", json={"content": "mine"})
    assert writing.status_code == 409
    await client.send({"type": "cancel", "session_id": streaming})
    await client.until("cancelled")
    await client.close()
    assert local_server.crashes() == []


async def test_cancel_names_a_chat_session_of_another_socket(
    local_server: RunningServer,
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    stub: StubLLMServer,
) -> None:
    stub.script(LONG, LONG)
    first = await ChatClient.open(local_server.url)
    await first.until("session_start")
    await first.send(chat("long one"))
    chat_session_id = (await first.until("chat_session_start"))["data"]["chat_session_id"]
    await first.until("chunk")
    # Another user's socket cannot cancel it: it is not found for them.
    await create_stub_model(admin, stub)
    stranger = await ChatClient.open(local_server.url, TOKEN)
    await stranger.until("session_start")
    await stranger.send({"type": "cancel", "session_id": chat_session_id})
    refused = await stranger.receive()
    assert refused["type"] == "error" and refused["data"]["code"] == "not_found"
    await stranger.close()
    # The same user's second socket (another tab) can.
    second = await ChatClient.open(local_server.url)
    await second.until("session_start")
    await second.send({"type": "cancel", "session_id": chat_session_id})
    told = await second.until("cancelled")
    assert told["data"]["chat_session_id"] == chat_session_id
    cancelled = await first.until("cancelled")
    assert cancelled["data"]["chat_session_id"] == chat_session_id
    assert stub.requests[0].chunks_sent < len(LONG.chunks)
    # Again: it is no longer running.
    await second.send({"type": "cancel", "session_id": chat_session_id})
    again = await second.receive()
    assert again["type"] == "error" and again["data"]["code"] == "conflict"
    await first.close()
    await second.close()
    assert local_server.crashes() == []


async def test_chat_controls_that_are_generation_parameters_are_honoured(
    local_server: RunningServer, api: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    stub.script(Script(chunks=("one",)), Script(chunks=("two",)))
    client = await ChatClient.open(local_server.url)
    await client.until("session_start")
    message = chat("hi", chat_controls={"temperature": 0.9, "top_p": 0.5, "show_thinking": True})
    message["data"]["provider_settings"] = {"model": "stub-model"}
    await client.send(message)
    await client.until("post_response_complete")
    body = stub.requests[-1].body
    assert body["temperature"] == 0.9 and body["top_p"] == 0.5
    # provider_settings win over the controls.
    await client.send(chat("again", chat_controls={"temperature": 0.9}))
    await client.until("post_response_complete")
    assert stub.requests[-1].body["temperature"] == 0.2
    # A control value the parameter refuses is the reference's error.
    await client.send(chat("bad", chat_controls={"top_p": 7}))
    refused = await client.until("error")
    assert "top_p" in refused["data"]["error"]
    await client.close()
