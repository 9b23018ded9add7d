"""Personas over REST: CRUD, filters, images checked by content, choices, other users."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import httpx
from PIL import Image

PERSONA = {"name": "Ada", "template": "You are Ada. @tone", "mode": "reactive"}


def png(width: int = 8, height: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "JPEG")
    return buffer.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming 10 gigapixels, with a few bytes of compressed data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


async def make(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/personas", json={**PERSONA, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def test_personas_are_created_read_listed_changed_and_deleted(
    client: httpx.AsyncClient,
) -> None:
    ada = await make(client, params={"temperature": 0.2}, token_budget=300)
    assert ada["mode"] == "reactive" and ada["is_active"] and ada["image"] is None
    await make(client, name="Bot", mode="autonomous", is_active=False)
    assert (await client.get(f"/personas/{ada['id']}")).json() == ada
    listed = (await client.get("/personas")).json()
    assert [p["name"] for p in listed["items"]] == ["Ada", "Bot"]
    assert [p["name"] for p in (await client.get("/personas?is_active=true")).json()["items"]] == [
        "Ada"
    ]
    autonomous = (await client.get("/personas", params={"mode": "autonomous"})).json()["items"]
    assert [p["name"] for p in autonomous] == ["Bot"]
    page = (await client.get("/personas?limit=1")).json()
    assert [p["name"] for p in page["items"]] == ["Ada"] and page["next"]
    rest = (await client.get("/personas", params={"limit": 1, "cursor": page["next"]})).json()
    assert [p["name"] for p in rest["items"]] == ["Bot"] and rest["next"] is None
    changed = await client.put(
        f"/personas/{ada['id']}", json={"description": "terse", "model": None}
    )
    assert changed.status_code == 200 and changed.json()["description"] == "terse"
    assert changed.json()["params"] == {"temperature": 0.2}, "fields left out stay"
    cleared = await client.put(f"/personas/{ada['id']}", json={"params": None})
    assert cleared.json()["params"] is None
    assert (await client.delete(f"/personas/{ada['id']}")).status_code == 204
    assert (await client.get(f"/personas/{ada['id']}")).status_code == 404


async def test_bad_personas_are_refused_saying_why(client: httpx.AsyncClient) -> None:
    await make(client)
    duplicate = await client.post("/personas", json=PERSONA)
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"
    for body, words in [
        ({**PERSONA, "name": "B", "template": "hi @Tone"}, "'@Tone'"),
        ({**PERSONA, "name": "B", "template": "hi ${"}, "unclosed"),
        ({**PERSONA, "name": "B", "mode": "chaotic"}, "mode"),
        ({**PERSONA, "name": "B", "params": {"temperature": 9}}, "temperature"),
        ({**PERSONA, "name": "B", "params": {"bogus": 1}}, "bogus"),
        ({**PERSONA, "name": "B", "token_budget": 0}, "token_budget"),
        ({**PERSONA, "name": "B", "surprise": 1}, "surprise"),
    ]:
        response = await client.post("/personas", json=body)
        assert response.status_code == 422, (body, response.text)
        assert words in response.json()["detail"], (body, response.json())
    listed = (await client.get("/personas", params={"mode": "chaotic"})).json()
    assert set(listed) == {"error", "detail"}


async def test_an_image_is_judged_by_its_content_and_served_back(client: httpx.AsyncClient) -> None:
    ada = await make(client)
    url = f"/personas/{ada['id']}/image"
    assert (await client.get(url)).status_code == 404
    # A JPEG sent as "image/png" named .png is stored as what it is.
    uploaded = await client.post(url, content=jpeg(), headers={"content-type": "image/png"})
    assert uploaded.status_code == 200, uploaded.text
    image = uploaded.json()["image"]
    assert (image["content_type"], image["width"], image["height"]) == ("image/jpeg", 4, 4)
    served = await client.get(url)
    assert served.status_code == 200 and served.content == jpeg()
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    replaced = await client.post(url, content=png(8, 6))
    assert replaced.json()["image"]["content_type"] == "image/png"
    assert (await client.get(url)).content == png(8, 6)
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.get(f"/personas/{ada['id']}")).json()["image"] is None


async def test_fake_oversized_and_bomb_images_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, app: Any
) -> None:
    ada = await make(client)
    url = f"/personas/{ada['id']}/image"
    images_dir = app.state.services.prompting.personas.images_dir
    fake = await client.post(
        url, content=b"<svg onload=alert(1)>", headers={"content-type": "image/png"}
    )
    assert fake.status_code == 422 and "judged by its content" in fake.json()["detail"]
    damaged = bytearray(png())
    damaged[40] ^= 0xFF  # inside the image data: its chunk checksum no longer matches
    broken = await client.post(url, content=bytes(damaged))
    assert broken.status_code == 422 and "damaged" in broken.json()["detail"]
    oversized = await client.post(url, content=b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024))
    assert oversized.status_code == 413 and oversized.json()["error"] == "payload_too_large"
    bomb = await client.post(url, content=pixel_bomb())  # Pillow itself refuses to open it
    assert bomb.status_code == 413 and "pixels" in bomb.json()["detail"]
    bomb = await client.post(url, content=pixel_bomb(5000, 5000))  # ours, from the header
    assert bomb.status_code == 413 and "5000x5000" in bomb.json()["detail"]
    wide = await client.post(url, content=pixel_bomb(9000, 10))
    assert wide.status_code == 413
    assert (await client.get(url)).status_code == 404
    assert not (images_dir / ada["id"]).exists()
    assert (await client.get(f"/personas/{ada['id']}")).json()["image"] is None


async def test_sessions_and_projects_choose_a_persona(
    client: httpx.AsyncClient, project_id: str, session_id: str
) -> None:
    ada = await make(client)
    chosen = await client.put(f"/sessions/{session_id}/persona", json={"persona_id": ada["id"]})
    assert chosen.status_code == 200 and chosen.json() == {"persona_id": ada["id"]}
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert state["persona_id"] == ada["id"]
    project = await client.put(f"/projects/{project_id}/persona", json={"persona_id": ada["id"]})
    assert project.status_code == 200
    missing = await client.put(f"/sessions/{session_id}/persona", json={"persona_id": "nope"})
    assert missing.status_code == 404
    assert (await client.delete(f"/personas/{ada['id']}")).status_code == 204
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert state["persona_id"] is None, "deleting a persona clears the choices of it"


async def test_another_users_personas_are_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, session_id: str, project_id: str
) -> None:
    ada = await make(client)
    url = f"/personas/{ada['id']}"
    assert (await other_client.get(url)).status_code == 404
    assert (await other_client.put(url, json={"name": "Mine"})).status_code == 404
    assert (await other_client.delete(url)).status_code == 404
    assert (await other_client.post(url + "/image", content=png())).status_code == 404
    assert (await other_client.get(url + "/image")).status_code == 404
    assert (await other_client.get("/personas")).json()["items"] == []
    theirs = (await other_client.post("/personas", json=PERSONA)).json()
    assert (
        await client.put(f"/sessions/{session_id}/persona", json={"persona_id": theirs["id"]})
    ).status_code == 404
    own = {"persona_id": theirs["id"]}
    assert (await other_client.put(f"/sessions/{session_id}/persona", json=own)).status_code == 404
    assert (await other_client.put(f"/projects/{project_id}/persona", json=own)).status_code == 404
    assert (await client.get(url)).json()["name"] == "Ada"
