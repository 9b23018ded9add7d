"""Personas and prompt modules in the browser: create, edit, delete, a persona's image, the
resolved prompt's preview with its provenance, and a persona picked for a chat session."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.servers import RunningServer
from tests.web.conftest import check_accessibility, check_narrow, shot
from vibeforge.llm.stub import Script, StubLLMServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
DATA_PNG = re.compile(r"^data:image/png;base64,")


def png(width: int = 4, height: int = 4) -> bytes:
    """A small valid PNG (solid blue), made here so the test needs no file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x10\x40\xc0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def by_name(http: httpx.AsyncClient, path: str, name: str) -> dict[str, Any]:
    items = (await http.get(path, params={"limit": 500})).json()["items"]
    return next(item for item in items if item["name"] == name)


async def test_personas_and_modules_are_made_previewed_and_chosen_for_a_chat(
    page: Page,
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
) -> None:
    await page.goto(server.url + "/#/personas")
    await expect(page.get_by_role("heading", name="Personas and modules", level=1)).to_be_visible()

    await page.get_by_role("button", name="New module").click()
    form = page.get_by_role("form", name="New module")
    await form.get_by_label("Name", exact=True).fill("tone")
    await form.get_by_label("Description").fill("how to speak")
    await form.get_by_label("Text").fill("Be brief and kind.")
    await form.get_by_role("button", name="Create module").click()
    await expect(page.locator("tr[data-module='tone']")).to_contain_text("simple · always")
    module = await by_name(http, "/modules", "tone")
    assert (module["content"], module["trigger"]["type"]) == ("Be brief and kind.", "always")

    await page.get_by_role("button", name="New persona").click()
    form = page.get_by_role("form", name="New persona")
    await form.get_by_label("Name", exact=True).fill("Reviewer")
    await form.get_by_label("Description").fill("reads diffs")
    await form.get_by_label("Mode").select_option("autonomous")
    await form.get_by_label("System prompt template").fill("You review code.\n@Bad")
    await form.get_by_role("button", name="Create persona").click()
    await expect(form.get_by_role("alert")).to_contain_text("invalid module reference '@Bad'")
    await form.get_by_label("System prompt template").fill("You review code.\n@tone")
    await form.get_by_label("Image").set_input_files(
        {"name": "face.png", "mimeType": "image/png", "buffer": png()}
    )
    await form.get_by_role("button", name="Create persona").click()
    row = page.locator("tr[data-persona='Reviewer']")
    await expect(row).to_contain_text("autonomous")
    image = row.get_by_role("img", name="Image of Reviewer")
    await expect(image).to_have_attribute("src", DATA_PNG)
    persona = await by_name(http, "/personas", "Reviewer")
    assert persona["template"] == "You review code.\n@tone"
    assert persona["image"]["content_type"] == "image/png" and persona["image"]["width"] == 4

    await row.get_by_role("button", name="Preview Reviewer").click()
    preview = page.get_by_role("region", name="Preview of Reviewer")
    resolved = preview.get_by_label("Resolved system prompt")
    await expect(resolved).to_contain_text("You review code.")
    await expect(resolved.locator("mark[data-origin='module tone']")).to_have_text(
        "Be brief and kind."
    )
    await expect(preview.get_by_role("table", name="Where the parts came from")).to_contain_text(
        "tone"
    )
    await check_accessibility(page, "personas with a preview")
    await shot(page, "17-personas")

    # An inactive module is left out, and the preview says why.
    await page.get_by_role("button", name="Edit @tone").click()
    await page.get_by_role("form", name="Edit @tone").get_by_label("Active").uncheck()
    await page.get_by_role("button", name="Save module").click()
    await expect(page.locator("tr[data-module='tone']")).to_contain_text("(inactive)")
    assert not (await http.get(f"/modules/{module['id']}")).json()["is_active"]
    await row.get_by_role("button", name="Preview Reviewer").click()
    await expect(preview.get_by_role("list", name="Left out")).to_contain_text("@tone left out")
    await page.get_by_role("button", name="Edit @tone").click()
    await page.get_by_role("form", name="Edit @tone").get_by_label("Active").check()
    await page.get_by_role("button", name="Save module").click()
    await expect(page.locator("tr[data-module='tone']")).not_to_contain_text("(inactive)")

    await check_narrow(page, "personas", "18-personas-narrow")

    # The chat offers the persona; its runs then speak with its resolved template.
    project = (await http.post("/projects", json={"name": "persona chat"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    await page.goto(f"{server.url}/#/p/{project['id']}/chat")
    picker = page.get_by_label("Persona")
    await expect(picker).to_have_value("")
    await picker.select_option(label="Reviewer")
    await expect(page.get_by_text("Speaking as Reviewer")).to_be_visible()
    state = (await http.get(f"/sessions/{session['session_id']}/state")).json()
    assert state["persona_id"] == persona["id"]
    stub.script(Script(chunks=("Looks fine.",)))
    before = len(stub.requests)
    await page.get_by_role("radio", name="Chat").check()
    await page.get_by_label("Message", exact=True).fill("anything to review?")
    await page.keyboard.press("Enter")
    await expect(page.locator(".msg.assistant .badge")).to_have_text("done")
    system = stub.requests[before].body["messages"][0]
    assert system["role"] == "system"
    assert "You review code." in str(system["content"])
    assert "Be brief and kind." in str(system["content"])
    await page.reload()
    await expect(page.get_by_label("Persona")).to_have_value(persona["id"])

    await page.goto(server.url + "/#/personas")
    await page.get_by_role("button", name="Delete Reviewer").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await expect(page.locator("tr[data-persona='Reviewer']")).to_have_count(0)
    await page.get_by_role("button", name="Delete @tone").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await expect(page.get_by_text("No modules yet.")).to_be_visible()
    assert (await http.get(f"/personas/{persona['id']}")).status_code == 404
    assert (await http.get(f"/modules/{module['id']}")).status_code == 404
