"""The persona chat system's REST routes under /api/, driven as its document describes them,
against a real server in local mode (its clients send no token)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.compat.test_persona_chat_ws import ChatClient, chat
from tests.servers import RunningServer
from tests.stubs import create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer


def png(width: int = 2, height: int = 2) -> bytes:
    """A tiny valid PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def api(local_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=local_server.url, timeout=60) as client:
        yield client


async def test_personas_modules_and_templates(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    module = await api.post("/api/modules", json={"name": "tone", "content": "Be brief."})
    assert module.status_code == 201, module.text
    created = await api.post(
        "/api/personas",
        json={"name": "Ada", "mode": "reactive", "template": "You are Ada. @tone"},
    )
    assert created.status_code == 201, created.text
    persona = created.json()
    assert persona["mode"] == "reactive" and persona["is_active"] is True
    bad_mode = await api.post("/api/personas", json={"name": "Bad", "mode": "sleepy"})
    assert bad_mode.status_code in (400, 422) and "detail" in bad_mode.json()
    await api.post("/api/personas", json={"name": "Off", "is_active": False})
    listed = await api.get("/api/personas")
    assert [p["name"] for p in listed.json()] == ["Ada", "Off"]  # a plain array
    active = await api.get("/api/personas", params={"is_active": "true"})
    assert [p["name"] for p in active.json()] == ["Ada"]
    updated = await api.put(f"/api/personas/{persona['id']}", json={"description": "kind"})
    assert updated.json()["description"] == "kind"
    # The image: a multipart upload.
    uploaded = await api.post(
        "/api/personas/upload-image",
        data={"persona_id": persona["id"]},
        files={"file": ("ada.png", png(), "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["image"]["width"] == 2
    not_image = await api.post(
        "/api/personas/upload-image",
        data={"persona_id": persona["id"]},
        files={"file": ("x.png", b"not an image", "image/png")},
    )
    assert not_image.status_code in (400, 415, 422) and "detail" in not_image.json()
    # Modules: plugin functions, a script tested in the sandbox, template resolution.
    functions = (await api.get("/api/modules/plugin-functions")).json()
    assert "set_output" in str(functions)
    tested = await api.post(
        "/api/modules/test-script", json={"script": 'ctx.set_output("greeting", "Hello!")'}
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True and "Hello!" in str(tested.json())
    resolved = await api.post(
        "/api/templates/resolve",
        json={"template": "Hi ${who}. @tone", "variables": {"who": "Bo"}},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["text"] == "Hi Bo. Be brief."
    assert [m["name"] for m in (await api.get("/api/modules")).json()] == ["tone"]
    # Another user's ids are 404; the admin's lists do not show them.
    for path in (f"/api/personas/{persona['id']}", f"/api/modules/{module.json()['id']}"):
        assert (await admin.get(path)).status_code == 404
        assert (await admin.delete(path)).status_code == 404
    assert (await admin.get("/api/personas")).json() == []
    theirs = await admin.post(
        "/api/personas/upload-image",
        data={"persona_id": persona["id"]},
        files={"file": ("ada.png", png(), "image/png")},
    )
    assert theirs.status_code == 404
    assert (await api.delete(f"/api/personas/{persona['id']}")).status_code == 204
    assert (await api.get(f"/api/personas/{persona['id']}")).status_code == 404


async def test_conversations_and_messages(
    local_server: RunningServer,
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    stub: StubLLMServer,
) -> None:
    await create_stub_model(api, stub)
    persona = (await api.post("/api/personas", json={"name": "Bo", "template": "Be Bo."})).json()
    created = await api.post("/api/conversations", json={"persona_id": persona["id"]})
    assert created.status_code == 201, created.text
    conversation = created.json()
    assert conversation["persona_id"] == persona["id"]
    assert (await api.post("/api/conversations", json={"persona_id": "nope"})).status_code == 404
    assert (await api.post("/api/conversations", json={"surprise": 1})).status_code == 422
    found = await api.get(f"/api/conversations/by-persona/{persona['id']}")
    assert found.json()["id"] == conversation["id"]
    # A chat in it, over the socket, speaks as the persona; its messages are listed.
    stub.script(Script(chunks=("I am Bo.",)))
    client = await ChatClient.open(local_server.url)
    await client.until("session_start")
    await client.send(chat("who are you?", conversation_id=conversation["id"]))
    await client.until("post_response_complete")
    await client.close()
    assert "Be Bo." in str(stub.requests[-1].body["messages"])
    messages = (await api.get(f"/api/messages/by-conversation/{conversation['id']}")).json()
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "who are you?"),
        ("assistant", "I am Bo."),
    ]
    assert all(m["conversation_id"] == conversation["id"] for m in messages)
    assert messages[1]["token_count"] and messages[1]["token_count"] > 0
    one = await api.get(f"/api/messages/{messages[1]['id']}")
    assert one.json()["content"] == "I am Bo."
    # Another user sees none of it.
    for path in (
        f"/api/conversations/{conversation['id']}",
        f"/api/messages/by-conversation/{conversation['id']}",
        f"/api/messages/{messages[1]['id']}",
        f"/api/conversations/by-persona/{persona['id']}",
    ):
        assert (await admin.get(path)).status_code == 404, path
    theirs = await admin.delete(f"/api/conversations/{conversation['id']}/memories")
    assert theirs.status_code == 404
    # A plain session of another project is no conversation.
    project = (await api.post("/projects", json={"name": "other"})).json()
    session = (await api.post(f"/projects/{project['id']}/sessions", json={})).json()
    assert (await api.get(f"/api/conversations/{session['session_id']}")).status_code == 404
    # Changing the persona, clearing memories, deleting.
    changed = await api.put(f"/api/conversations/{conversation['id']}", json={"persona_id": None})
    assert changed.json()["persona_id"] is None
    cleared = await api.delete(f"/api/conversations/{conversation['id']}/memories")
    assert cleared.status_code == 204
    assert (await api.get(f"/api/messages/by-conversation/{conversation['id']}")).json() == []
    deleted = await api.delete(f"/api/conversations/{conversation['id']}")
    assert deleted.status_code == 204
    assert (await api.get(f"/api/conversations/{conversation['id']}")).status_code == 404
    assert local_server.crashes() == []
