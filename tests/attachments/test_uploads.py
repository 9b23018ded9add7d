"""Uploads over REST: each type told by its bytes, each refusal in the error shape with
nothing left behind, the limits, deduplication, downloads, other users, cancellation."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest

from tests.attachments.conftest import settled, upload
from tests.attachments.files import bomb_pdf, csv_table, image_bytes, numbered_pdf

MAX_BYTES = 2 * 1024 * 1024


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """Small limits, so each can be reached."""
    return settings.model_copy(
        update={
            "attachment_max_bytes": MAX_BYTES,
            "attachment_max_files": 4,
            "attachment_user_bytes": 5 * 1024 * 1024,
            "attachment_pdf_pages": 1000,
            "attachment_image_pixels": 1_000_000,
        }
    )


def store_dir(app: Any) -> Path:
    return Path(app.state.services.settings.attachments_dir)


def left_behind(app: Any) -> list[str]:
    """Every file under the attachment store."""
    root = store_dir(app)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def encrypted_pdf() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


KINDS = [
    ("notes.txt", b"plain words\n", "text", "text/plain"),
    ("README.md", b"# Title\n\ntext\n", "markdown", "text/markdown"),
    ("table.csv", csv_table(5).encode(), "csv", "text/csv"),
    ("data.json", b'{"a": [1, 2]}\n', "json", "application/json"),
    ("app.py", b"def f():\n    return 1\n", "code", "text/plain"),
    ("report.pdf", numbered_pdf(3), "pdf", "application/pdf"),
    ("photo.png", image_bytes("PNG"), "image", "image/png"),
    ("photo.jpg", image_bytes("JPEG"), "image", "image/jpeg"),
    ("photo.webp", image_bytes("WEBP"), "image", "image/webp"),
    ("photo.gif", image_bytes("GIF", mode="P"), "image", "image/gif"),
    # By content, not by name: an image named as text, JSON with no extension, a "CSV" that
    # is one column of text.
    ("actually-an-image.txt", image_bytes("PNG"), "image", "image/png"),
    ("payload", b'[{"id": 1}]', "json", "text/plain"),
    ("list.csv", b"just\none\ncolumn\n", "text", "text/csv"),
]


@pytest.mark.parametrize(("name", "data", "kind", "media_type"), KINDS)
async def test_each_type_is_told_by_its_bytes_and_extracted(
    client: httpx.AsyncClient,
    session_id: str,
    name: str,
    data: bytes,
    kind: str,
    media_type: str,
) -> None:
    response = await upload(client, name, data, session_id=session_id)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["state"] == "uploaded" and created["size"] == len(data)
    assert created["media_type"] == media_type
    found = await settled(client, created["id"])
    assert (found["state"], found["kind"]) == ("ready", kind), found
    assert found["tokens"] > 0 and found["units"] >= 1
    content = await client.get(f"/attachments/{created['id']}/content")
    assert content.content == data, "the bytes come back exactly as sent"
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["content-disposition"].startswith("attachment;")


REFUSED = [
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"not really an image" * 20, 422, "invalid_attachment"),
    ("photo.png", b"this is text, named as an image\n", 422, "invalid_attachment"),
    ("report.pdf", b"%PDF-1.4\nnot a real PDF at all\n", 422, "invalid_attachment"),
    ("bomb.pdf", bomb_pdf(100), 422, "invalid_attachment"),
    ("locked.pdf", encrypted_pdf(), 422, "invalid_attachment"),
    ("huge.png", image_bytes("PNG", (1001, 1001)), 422, "invalid_attachment"),
    ("archive.zip", b"PK\x03\x04" + bytes(range(256)) * 4, 422, "invalid_attachment"),
    ("big.txt", b"x" * (MAX_BYTES + 1), 413, "payload_too_large"),
]


@pytest.mark.parametrize(("name", "data", "status", "code"), REFUSED)
async def test_refused_uploads_get_the_error_shape_and_leave_nothing_behind(
    client: httpx.AsyncClient,
    app: Any,
    session_id: str,
    name: str,
    data: bytes,
    status: int,
    code: str,
) -> None:
    response = await upload(client, name, data, session_id=session_id)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"} and response.json()["error"] == code
    listed = await client.get("/attachments", params={"session_id": session_id})
    assert listed.json()["items"] == []
    assert left_behind(app) == []


async def test_a_name_with_control_characters_is_refused(
    client: httpx.AsyncClient, app: Any, session_id: str
) -> None:
    files = {"file": ("ok.txt", b"text\n", "text/plain")}
    params = {"session_id": session_id, "name": "bad\x07name.txt"}
    response = await client.post("/attachments", params=params, files=files)
    assert response.status_code == 422 and response.json()["error"] == "invalid_input"
    assert left_behind(app) == []


async def test_a_pdf_over_the_page_limit_is_refused(
    client: httpx.AsyncClient, session_id: str
) -> None:
    response = await upload(client, "long.pdf", numbered_pdf(1001, 1), session_id=session_id)
    assert response.status_code == 422
    assert "1001 pages; the limit is 1000" in response.json()["detail"]


async def test_files_per_session_and_bytes_per_user_are_capped(
    client: httpx.AsyncClient, project_id: str, session_id: str
) -> None:
    for number in range(4):
        assert (
            await upload(client, f"{number}.txt", b"%d\n" % number, session_id=session_id)
        ).status_code == 201
    full = await upload(client, "5.txt", b"5\n", session_id=session_id)
    assert full.status_code == 409 and full.json()["error"] == "limit_reached"
    # The project's own attachments are counted apart from the session's.
    for number in range(2):
        big = bytes([65 + number]) * (MAX_BYTES - 10)
        assert (
            await upload(client, f"big{number}.txt", big, project_id=project_id)
        ).status_code == 201
    over = await upload(client, "big2.txt", b"C" * (MAX_BYTES - 10), project_id=project_id)
    assert over.status_code == 413 and "this user's attachments" in over.json()["detail"]
    # The same bytes again cost nothing: they are stored once.
    again = await upload(client, "copy.txt", b"A" * (MAX_BYTES - 10), project_id=project_id)
    assert again.status_code == 200 and again.json()["deduplicated"] is True


async def test_the_same_bytes_are_stored_once_per_owner(
    client: httpx.AsyncClient, app: Any, project_id: str, session_id: str
) -> None:
    other = (await client.post(f"/projects/{project_id}/sessions", json={"node_id": "a"})).json()
    first = (await upload(client, "a.txt", b"same bytes\n", session_id=session_id)).json()
    again = await upload(client, "renamed.txt", b"same bytes\n", session_id=session_id)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["deduplicated"] is True
    elsewhere = await upload(client, "b.txt", b"same bytes\n", session_id=other["session_id"])
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != first["id"]
    assert elsewhere.json()["sha256"] == first["sha256"]
    await settled(client, first["id"])
    await settled(client, elsewhere.json()["id"])
    contents = [p for p in left_behind(app) if p.endswith("/content")]
    assert len(contents) == 1, "one copy of the bytes"
    assert (await client.delete(f"/attachments/{first['id']}")).status_code == 204
    assert len([p for p in left_behind(app) if p.endswith("/content")]) == 1, "still held"
    assert (await client.delete(f"/attachments/{elsewhere.json()['id']}")).status_code == 204
    assert left_behind(app) == [], "the last holder gone, the bytes go"
    assert (await client.get(f"/attachments/{first['id']}")).status_code == 404


async def test_other_users_attachments_are_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, session_id: str
) -> None:
    mine = (await upload(client, "a.txt", b"mine\n", session_id=session_id)).json()
    for method, path in (
        ("GET", f"/attachments/{mine['id']}"),
        ("GET", f"/attachments/{mine['id']}/content"),
        ("POST", f"/attachments/{mine['id']}/cancel"),
        ("DELETE", f"/attachments/{mine['id']}"),
    ):
        response = await other_client.request(method, path)
        assert response.status_code == 404 and response.json()["error"] == "not_found", path
    for target in ({"session_id": session_id}, {"in_query": True, "session_id": session_id}):
        intrusion = await upload(other_client, "x.txt", b"x\n", **target)  # type: ignore[arg-type]
        assert intrusion.status_code == 404
    listing = await other_client.get("/attachments", params={"session_id": session_id})
    assert listing.status_code == 404
    assert (await client.get(f"/attachments/{mine['id']}")).status_code == 200


def workers_of(pid: int) -> list[int]:
    """Extraction worker processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"vibeforge.attachments.worker" in command:
            found.append(int(entry))
    return found


async def test_an_extraction_is_cancelled_mid_way(
    client: httpx.AsyncClient, app: Any, session_id: str
) -> None:
    created = (
        await upload(client, "big.pdf", numbered_pdf(1000, 60), session_id=session_id)
    ).json()
    for _ in range(500):
        if workers_of(os.getpid()):
            break
        await asyncio.sleep(0.01)
    assert (await client.get(f"/attachments/{created['id']}")).json()["state"] == "extracting"
    cancelled = await client.post(f"/attachments/{created['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["state"], body["error_code"]) == ("failed", "cancelled")
    assert workers_of(os.getpid()) == [], "the worker process was killed"
    assert not any(p.endswith("extract.json") for p in left_behind(app))
    again = await client.post(f"/attachments/{created['id']}/cancel")
    assert again.status_code == 409, "nothing left to cancel"


async def test_a_streamed_upload_over_the_cap_is_cut_off(
    client: httpx.AsyncClient, app: Any, session_id: str
) -> None:
    boundary = "vf-boundary"

    async def body() -> Any:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="endless.txt"\r\n\r\n'
        ).encode()
        for _ in range(64):
            yield b"z" * 65536

    response = await client.post(
        "/attachments",
        params={"session_id": session_id},
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text
    assert left_behind(app) == []
