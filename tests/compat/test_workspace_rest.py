"""The workspace agent system's REST routes `/workspace/*`, `/file/*`, `/models/*`,
`DELETE /chat/{id}` and `PATCH /chat/rename`, driven by a client written from its document
alone (form fields, paths, answers), against a real server and the stub LLM."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.attachments.files import image_bytes, text_pdf
from tests.compat.test_workspace import LONG, WorkspaceClient
from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from vibeforge.llm.stub import StubLLMServer

Files = list[tuple[str, tuple[str, bytes, str]]]


def files(*items: tuple[str, bytes, str]) -> Files:
    """Multipart parts named `files`, as the reference's curl `-F files=@...` sends them."""
    return [("files", item) for item in items]


async def user_id(http: httpx.AsyncClient, token: str = TOKEN) -> str:
    login = await http.post(
        "/auth/login", json={"email": (await me(http))["email"], "token": token}
    )
    assert login.status_code == 200, login.text
    return str(login.json()["user_id"])


async def me(http: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await http.get("/me")).json())


@pytest.fixture
async def other(server: RunningServer, http: httpx.AsyncClient) -> httpx.AsyncClient:
    token = (await http.post("/users", json={"email": "other@example.com"})).json()["token"]
    return httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def not_found(response: httpx.Response, detail: str | None = None) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"
    if detail is not None:
        assert response.json()["detail"] == detail


async def wait_ready(http: httpx.AsyncClient, attachment_id: str) -> None:
    async def state() -> str:
        return str((await http.get(f"/attachments/{attachment_id}")).json()["state"])

    for _ in range(200):
        if await state() in ("ready", "failed"):
            break
        await until(lambda: True, 0.05)
    assert await state() == "ready"


async def test_workspaces_and_files(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, other: httpx.AsyncClient
) -> None:
    await create_stub_model(http, stub)
    uid = await user_id(http)
    pdf = text_pdf([["The quarterly report says forty two."]])
    made = await http.post(
        "/workspace/new",
        data={"owner_id": uid, "name": "MyNewWorkspace"},
        files=files(("document.pdf", pdf, "application/pdf"), ("notes.txt", b"hi\n", "text/plain")),
    )
    assert made.status_code == 200, made.text
    body = made.json()
    assert set(body) == {"workspace_id", "files"}
    assert [f["filename"] for f in body["files"]] == ["document.pdf", "notes.txt"]
    assert all(set(f) == {"file_id", "filename"} for f in body["files"])
    workspace_id = body["workspace_id"]
    assert (await http.get(f"/projects/{workspace_id}")).json()["name"] == "MyNewWorkspace"
    # Bad input, in the one error shape; another user's owner_id; a JSON body.
    async with other:
        their_id = await user_id(other, other.headers["Authorization"][7:])
        forged = await other.post("/workspace/new", data={"owner_id": uid, "name": "x"})
        not_found(forged)
        renamed = await other.patch(
            "/workspace/rename", data={"workspace_id": workspace_id, "new_name": "mine"}
        )
        not_found(renamed, "Workspace not found.")
        not_found(await other.delete(f"/workspace/delete/{workspace_id}"), "Workspace not found.")
        upload = await other.post(
            "/file/upload",
            data={"user_id": their_id, "target_id": workspace_id, "is_chat": "false"},
            files=files(("x.txt", b"x", "text/plain")),
        )
        not_found(upload, "Workspace not found.")
        stolen = body["files"][1]["file_id"]
        not_found(await other.delete(f"/file/delete/{stolen}"), "File not found.")
        grab = await other.patch("/file/rename", data={"file_id": stolen, "new_name": "y.txt"})
        not_found(grab, "File not found.")
    missing = await http.post("/workspace/new", data={"owner_id": uid})
    assert missing.status_code == 422 and missing.json()["error"] == "invalid_input"
    assert "name" in missing.json()["detail"]
    as_json = await http.post("/workspace/new", json={"owner_id": uid, "name": "j"})
    assert as_json.status_code == 415 and set(as_json.json()) == {"error", "detail"}
    stray = await http.post(
        "/workspace/new",
        data={"owner_id": uid, "name": "stray"},
        files=[("file", ("a.txt", b"a", "text/plain"))],
    )
    assert stray.status_code == 422 and "files" in stray.json()["detail"]
    projects = (await http.get("/projects")).json()["items"]
    assert [p["name"] for p in projects] == ["MyNewWorkspace"], "nothing made by refused forms"
    bad_file = await http.post(
        "/workspace/new",
        data={"owner_id": uid, "name": "half"},
        files=files(("ok.txt", b"ok", "text/plain"), ("broken.pdf", b"%PDF-1.4 no", "x/y")),
    )
    assert bad_file.status_code == 422, bad_file.text
    assert "half" not in [p["name"] for p in (await http.get("/projects")).json()["items"]]

    renamed = await http.patch(
        "/workspace/rename", data={"workspace_id": workspace_id, "new_name": "Renamed Workspace"}
    )
    assert renamed.json() == {"workspace_id": workspace_id, "new_name": "Renamed Workspace"}

    # Files of a chat and of the workspace.
    chat = await http.post(
        "/chat/new",
        data={"user_id": uid, "workspace_id": workspace_id, "chat_name": "General Chat"},
    )
    chat_id = chat.json()["chat_id"]
    image = image_bytes()
    to_chat = await http.post(
        "/file/upload",
        data={"user_id": uid, "target_id": chat_id, "is_chat": "true"},
        files=files(("report.pdf", pdf, "application/pdf"), ("image.png", image, "image/png")),
    )
    assert to_chat.status_code == 200, to_chat.text
    pdf_id, image_id = to_chat.json()["files"]
    to_workspace = await http.post(
        "/file/upload",
        data={"user_id": uid, "target_id": workspace_id, "is_chat": "false"},
        files=files(("more.txt", b"more", "text/plain")),
    )
    [more_id] = to_workspace.json()["files"]
    forged = await http.post(
        "/file/upload",
        data={"user_id": "someone-else", "target_id": chat_id, "is_chat": "true"},
        files=files(("x.txt", b"x", "text/plain")),
    )
    not_found(forged)
    bad_flag = await http.post(
        "/file/upload",
        data={"user_id": uid, "target_id": chat_id, "is_chat": "maybe"},
        files=files(("x.txt", b"x", "text/plain")),
    )
    assert bad_flag.status_code == 422
    session_files = (await http.get(f"/attachments?session_id={chat_id}")).json()["items"]
    assert {row["id"] for row in session_files} == {pdf_id, image_id}
    await wait_ready(http, pdf_id)
    await wait_ready(http, image_id)

    # The socket's initial payload: a PDF's extracted text, an image's path.
    client = await WorkspaceClient.open(server.url, chat_id)
    initial = await client.receive()
    await client.close()
    chat_files = {f["file_id"]: f for f in initial["chat_files_text"]}
    assert chat_files[pdf_id]["type"] == "text"
    assert "The quarterly report says forty two." in chat_files[pdf_id]["content"]
    assert chat_files[image_id] == {
        "file_id": image_id,
        "name": "image.png",
        "content": f"/attachments/{image_id}/content",
        "type": "image",
    }
    listed = {f["name"] for f in initial["workspace_files"]}
    assert listed == {"document.pdf", "notes.txt", "more.txt"}

    # Rename and delete a file.
    renamed = await http.patch("/file/rename", data={"file_id": more_id, "new_name": "less.txt"})
    assert renamed.json() == {
        "file_id": more_id,
        "new_filename": "less.txt",
        "new_path": f"/attachments/{more_id}/content",
    }
    assert (await http.get(f"/attachments/{more_id}")).json()["name"] == "less.txt"
    bad_name = await http.patch("/file/rename", data={"file_id": more_id, "new_name": "a\tb"})
    assert bad_name.status_code == 422
    deleted = await http.delete(f"/file/delete/{more_id}")
    assert deleted.status_code == 200 and deleted.json() == {"detail": "File deleted successfully."}
    not_found(await http.delete(f"/file/delete/{more_id}"), "File not found.")
    assert (await http.delete(f"/file/{image_id}")).json()["detail"] == "File deleted successfully."
    not_found(await http.get(f"/attachments/{image_id}"))

    # Delete the workspace.
    gone = await http.delete(f"/workspace/delete/{workspace_id}")
    assert gone.json() == {"detail": "Workspace and all associated data deleted successfully."}
    not_found(await http.get(f"/projects/{workspace_id}"))
    not_found(await http.delete(f"/workspace/delete/{workspace_id}"), "Workspace not found.")
    assert server.crashes() == []


async def test_models(http: httpx.AsyncClient, other: httpx.AsyncClient) -> None:
    uid = await user_id(http)
    fields = {
        "user_id": uid,
        "name": "Example Model",
        "ak": "sk-your-api-key-1234",
        "base_url": "http://api.example.com",
    }
    made = await http.post("/models/new", data=fields)
    assert made.status_code == 200, made.text
    body = made.json()
    assert body == {
        "id": body["id"],
        "name": "Example Model",
        "base_url": "http://api.example.com",
        "user_id": uid,
    }
    assert "sk-your-api-key" not in made.text
    config = (await http.get(f"/models/{body['id']}")).json()
    assert config["provider"] == "openai-compatible" and config["model"] == "Example Model"
    assert "sk-your-api-key" not in json.dumps(config)
    twice = await http.post("/models/new", data=fields)
    assert twice.status_code == 409 and set(twice.json()) == {"error", "detail"}
    bad_url = await http.post("/models/new", data={**fields, "name": "b", "base_url": "nope"})
    assert bad_url.status_code == 422 and bad_url.json()["error"] == "invalid_input"
    async with other:
        not_found(await other.post("/models/new", data={**fields, "name": "theirs"}))
        not_found(await other.delete(f"/models/delete/{body['id']}"), "Model not found.")
    deleted = await http.delete(f"/models/delete/{body['id']}")
    assert deleted.json() == {"detail": "Model deleted successfully."}
    not_found(await http.delete(f"/models/delete/{body['id']}"), "Model not found.")


async def test_chat_rename_and_delete(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, other: httpx.AsyncClient
) -> None:
    await create_stub_model(http, stub)
    uid = await user_id(http)
    workspace = (await http.post("/projects", json={"name": "ws"})).json()["id"]
    created = await http.post(
        "/chat/new", data={"user_id": uid, "workspace_id": workspace, "chat_name": "draft"}
    )
    chat_id = created.json()["chat_id"]
    renamed = await http.patch(
        "/chat/rename", data={"chat_id": chat_id, "new_name": "New Chat Name"}
    )
    assert renamed.status_code == 200, renamed.text
    assert set(renamed.json()) == {"chat_id", "name", "last_updated"}
    assert renamed.json()["chat_id"] == chat_id and renamed.json()["name"] == "New Chat Name"
    # vibeforge's own session carries the title; its node is unchanged.
    session = (await http.get(f"/sessions/{chat_id}")).json()
    assert session["title"] == "New Chat Name" and session["node_id"] == "draft"
    login = await http.post("/auth/login", json={"email": "admin@localhost", "token": TOKEN})
    [listed] = login.json()["workspaces"][0]["chats"]
    assert listed["name"] == "New Chat Name"
    retitled = await http.patch(f"/sessions/{chat_id}", json={"title": "Own API"})
    assert retitled.status_code == 200 and retitled.json()["title"] == "Own API"
    assert (await http.patch(f"/sessions/{chat_id}", json={"title": "x" * 201})).status_code == 422
    assert (await http.patch(f"/sessions/{chat_id}", json={"name": "x"})).status_code == 422
    empty = await http.patch("/chat/rename", data={"chat_id": chat_id, "new_name": ""})
    assert empty.status_code == 422 and set(empty.json()) == {"error", "detail"}
    async with other:
        not_found(
            await other.patch("/chat/rename", data={"chat_id": chat_id, "new_name": "t"}),
            "Chat not found.",
        )
        not_found(await other.delete(f"/chat/{chat_id}"), "Chat not found.")
        not_found(await other.patch(f"/sessions/{chat_id}", json={"title": "t"}))
    # Deleting a chat cancels its run: the socket's client is told.
    stub.script(LONG)
    client = await WorkspaceClient.open(server.url, chat_id)
    await client.receive()
    await client.socket.send(json.dumps({"action": "new_message", "prompt": "long"}))
    await until(lambda: bool(stub.requests) and stub.requests[0].chunks_sent >= 3)
    deleted = await http.delete(f"/chat/{chat_id}")
    assert deleted.status_code == 200 and deleted.json() == {"detail": "Chat deleted successfully."}
    told = await client.receive()
    assert told["error"].startswith("cancelled"), told
    await client.close()
    not_found(await http.delete(f"/chat/{chat_id}"), "Chat not found.")
    not_found(
        await http.patch("/chat/rename", data={"chat_id": chat_id, "new_name": "again"}),
        "Chat not found.",
    )
    login = await http.post("/auth/login", json={"email": "admin@localhost", "token": TOKEN})
    assert login.json()["workspaces"][0]["chats"] == []
    gone = await WorkspaceClient.open(server.url, chat_id)
    assert await gone.receive() == {"error": "Chat not found."}
    # Its messages stay readable (archived) to vibeforge's own API.
    kept = (await http.get(f"/sessions/{chat_id}/messages?include_archived=true")).json()
    assert [m["archived"] for m in kept["items"]] == [True, True]
    again = await http.post(
        "/chat/new", data={"user_id": uid, "workspace_id": workspace, "chat_name": "draft"}
    )
    assert again.json()["chat_id"] != chat_id
    assert server.crashes() == []
