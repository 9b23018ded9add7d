"""The workspace over the sockets (both transports): uploads that visibly arrive, file
actions as versions reflected to every subscriber of the project, and the snapshot."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_socket_protocol import Client, open_client, refusal
from tests.attachments.files import csv_table, image_bytes, numbered_pdf
from tests.servers import RunningServer


@pytest.fixture(params=["ws", "socketio"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def workspace(http: httpx.AsyncClient) -> dict[str, Any]:
    project = (await http.post("/projects", json={"name": "workspace"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    return {"project_id": project["id"], "session_id": session["session_id"]}


@pytest.fixture
async def client(transport: str, server: RunningServer) -> AsyncIterator[Client]:
    opened = await open_client(transport, server)
    yield opened
    await opened.close()


@pytest.fixture
async def watcher(transport: str, server: RunningServer, workspace: dict[str, Any]) -> Any:
    """A second client following the project."""
    opened = await open_client(transport, server)
    await opened.send("subscribe", project_id=workspace["project_id"])
    await opened.until("snapshot")
    yield opened
    await opened.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_an_attachment_uploaded_over_the_socket_is_seen_through_its_states(
    client: Client, watcher: Client, http: httpx.AsyncClient, workspace: dict[str, Any]
) -> None:
    data = numbered_pdf(3)
    ack = await client.send(
        "upload_file", session_id=workspace["session_id"], name="report.pdf", data=b64(data)
    )
    reply = await client.until("file_uploaded")
    attachment = reply["data"]["attachment"]
    assert attachment["name"] == "report.pdf" and attachment["kind"] == "pdf"
    assert reply["seq"] == 0 and reply["data"]["project_id"] == workspace["project_id"]
    if ack is not None:
        assert ack == {
            "ok": True,
            "attachment_id": attachment["id"],
            "state": "uploaded",
            "created": True,
        }
    for follower in (client, watcher):
        ready = await follower.until("attachment_state", state="ready")
        assert ready["data"]["attachment_id"] == attachment["id"]
        assert ready["data"]["units"] == 3 and ready["data"]["tokens"] > 0
        states = [
            event["data"]["state"]
            for event in follower.events
            if event["type"] == "attachment_state"
        ]
        assert states == ["uploaded", "extracting", "ready"], "every change, in order"
    stored = await http.get(f"/attachments/{attachment['id']}/content")
    assert stored.content == data

    await client.send("delete_file", attachment_id=attachment["id"])
    deleted = await client.until("file_deleted")
    assert deleted["data"]["attachment_id"] == attachment["id"]
    gone = await watcher.until("attachment_state", state="deleted")
    assert gone["data"]["attachment_id"] == attachment["id"]
    assert (await http.get(f"/attachments/{attachment['id']}")).status_code == 404


async def test_each_type_uploads_over_the_socket(
    client: Client, http: httpx.AsyncClient, workspace: dict[str, Any]
) -> None:
    uploads = [
        ({"name": "notes.md", "content": "# Notes\n\nwords\n"}, "markdown"),
        ({"name": "table.csv", "data": b64(csv_table(20).encode())}, "csv"),
        ({"name": "photo.jpg", "data": b64(image_bytes("JPEG"))}, "image"),
        ({"name": "data.json", "content": '{"a": 1}'}, "json"),
    ]
    for fields, kind in uploads:
        await client.send("upload_file", project_id=workspace["project_id"], **fields)
        reply = await client.until("file_uploaded")
        attachment = reply["data"]["attachment"]
        assert attachment["session_id"] is None, "a project's own attachment"
        ready = await client.until(
            "attachment_state", state="ready", attachment_id=attachment["id"]
        )
        assert ready["data"]["kind"] == kind, (fields["name"], ready)
    listed = (await http.get("/attachments", params={"project_id": workspace["project_id"]})).json()
    assert [item["name"] for item in listed["items"]] == [f["name"] for f, _ in uploads]


async def test_bad_uploads_over_the_socket_are_refused_and_store_nothing(
    client: Client, http: httpx.AsyncClient, server: RunningServer, workspace: dict[str, Any]
) -> None:
    session_id = workspace["session_id"]
    cases = [
        ({"name": "a.txt", "data": "not base64!"}, "invalid_input"),
        ({"name": "a.txt", "data": "aGk"}, "invalid_input"),  # padding missing
        (
            {"name": "fake.png", "data": b64(b"\x89PNG\r\n\x1a\n" + b"junk" * 50)},
            "invalid_attachment",
        ),
        ({"name": "a.png", "data": b64(b"text, named as an image")}, "invalid_attachment"),
        ({"name": "a.txt", "content": "x", "data": "eA=="}, "invalid_input"),
        ({"name": "a.txt", "path": "a.txt", "content": "x"}, "invalid_input"),
    ]
    for fields, code in cases:
        error = await refusal(client, "upload_file", {"session_id": session_id, **fields})
        assert error["code"] == code, (fields, error)
    listed = (await http.get("/attachments", params={"session_id": session_id})).json()
    assert listed["items"] == []
    assert server.crashes() == []


async def test_file_actions_are_versions_reflected_to_the_project(
    client: Client, watcher: Client, http: httpx.AsyncClient, workspace: dict[str, Any]
) -> None:
    project_id = workspace["project_id"]
    await client.send("upload_file", project_id=project_id, path="a.py", data=b64(b"x = 1\n"))
    first = await client.until("file_uploaded")
    assert first["data"]["path"] == "a.py" and first["data"]["changed"] is True
    changed = await watcher.until("code_changed")
    assert changed["data"]["files"] == ["a.py"]
    assert changed["data"]["version_id"] == first["data"]["version_id"]

    await client.send("upload_file", project_id=project_id, path="a.py", content="x = 2\n")
    await client.until("file_uploaded")
    await watcher.until("code_changed")
    await client.send(
        "revert_version", project_id=project_id, version_id=first["data"]["version_id"], path="a.py"
    )
    reverted = await client.until("revert_complete")
    assert reverted["data"]["path"] == "a.py" and reverted["data"]["changed"] is True
    assert (await watcher.until("code_changed"))["data"]["files"] == ["a.py"]
    content = (await http.get(f"/projects/{project_id}/files/a.py")).json()["content"]
    assert content == "x = 1\n", "the file as it was at that version"

    await client.send("rename_file", project_id=project_id, **{"from": "a.py", "to": "b/c.py"})
    renamed = await client.until("file_renamed")
    assert (renamed["data"]["source"], renamed["data"]["target"]) == ("a.py", "b/c.py")
    assert (await watcher.until("code_changed"))["data"]["files"] == ["a.py", "b/c.py"]

    await client.send("delete_file", project_id=project_id, path="b/c.py")
    deleted = await client.until("file_deleted")
    assert deleted["data"]["path"] == "b/c.py"
    assert (await watcher.until("code_changed"))["data"]["files"] == ["b/c.py"]

    await client.send(
        "revert_version", project_id=project_id, version_id=first["data"]["version_id"]
    )
    whole = await client.until("revert_complete")
    assert whole["data"]["path"] is None
    files = (await http.get(f"/projects/{project_id}/files")).json()["items"]
    assert sorted(item["path"] for item in files) == ["a.py", "main.py"]
    versions = (await http.get(f"/projects/{project_id}/versions")).json()["items"]
    assert len(versions) == 7, "create, write, write, revert a.py, rename, delete, revert"


async def test_the_snapshot_holds_the_workspace(
    client: Client, http: httpx.AsyncClient, workspace: dict[str, Any]
) -> None:
    project_id, session_id = workspace["project_id"], workspace["session_id"]
    for number in range(3):
        await http.put(f"/projects/{project_id}/files/a.py", json={"content": f"v = {number}\n"})
    files = {"file": ("notes.txt", b"notes\n", "text/plain")}
    await http.post("/attachments", params={"session_id": session_id}, files=files)
    await client.send("subscribe", session_id=session_id)
    await client.until("session_start")
    snapshot = (await client.until("snapshot"))["data"]
    assert snapshot["last_seq"] == 0 and snapshot["running_run"] is None
    assert snapshot["models"] == [] and snapshot["model_names"] == []
    (note,) = snapshot["attachments"]
    assert note["name"] == "notes.txt" and note["state"] in ("uploaded", "extracting", "ready")
    by_path = {item["path"]: item for item in snapshot["files"]}
    assert set(by_path) == {"a.py", "main.py"} and snapshot["files_next"] is None
    versions = by_path["a.py"]["versions"]
    assert len(versions) == 3 and versions[0]["diff"] == "", "the newest differs from nothing"
    assert versions[0]["version_id"] == snapshot["version_id"]
    assert "-v = 0\n+v = 2\n" in versions[2]["diff"], "from that version to the newest"
    assert versions[2]["diff"].startswith("--- a/a.py\n+++ b/a.py\n")


async def test_the_snapshot_is_bounded_and_pages_on(
    client: Client, http: httpx.AsyncClient, workspace: dict[str, Any]
) -> None:
    project_id = workspace["project_id"]
    for round_number in range(12):
        await http.put(f"/projects/{project_id}/files/f.txt", json={"content": f"{round_number}\n"})
    big = "".join(f"line {n}\n" for n in range(9000))
    for number in range(60):
        await http.put(f"/projects/{project_id}/files/g{number:02}.txt", json={"content": big})
        await http.put(
            f"/projects/{project_id}/files/g{number:02}.txt", json={"content": big + "end\n"}
        )
    await client.send("subscribe", project_id=project_id)
    snapshot = (await client.until("snapshot"))["data"]
    files = snapshot["files"]
    assert files[0]["path"] == "f.txt"
    assert len(files[0]["versions"]) == 10 and files[0]["more_versions"] is True
    diffs = sum(len(v["diff"] or "") for f in files for v in f["versions"])
    assert diffs <= 256 * 1024 + len(big) + 1000, "the byte cap bounds the page"
    assert len(files) < 61 and snapshot["files_next"] is not None
    seen = [item["path"] for item in files]
    cursor = snapshot["files_next"]
    while cursor:
        page = (await http.get(f"/projects/{project_id}/history", params={"cursor": cursor})).json()
        seen += [item["path"] for item in page["items"]]
        cursor = page["next"]
    assert seen == ["f.txt", *(f"g{n:02}.txt" for n in range(60)), "main.py"], "every file once"
