"""Attachments in the chat: upload by button and by drop, each one's state as it changes,
a message waiting until they are read, the answer sees them, remove; wide and 390 px narrow."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Route, WebSocket, expect

from tests.servers import RunningServer
from tests.web.conftest import check_accessibility, check_narrow, shot
from vibeforge.llm.stub import Script, StubLLMServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
NOTES = "The secret word is tangerine.\n"
DROP = """(el) => {
  const data = new DataTransfer();
  data.items.add(new File(['city,people\\nOslo,709000\\n'], 'cities.csv', { type: 'text/csv' }));
  const init = { dataTransfer: data, bubbles: true, cancelable: true };
  el.dispatchEvent(new DragEvent('dragenter', init));
  el.dispatchEvent(new DragEvent('drop', init));
}"""


async def session_attachments(http: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    found = await http.get("/attachments", params={"session_id": session_id})
    assert found.status_code == 200, found.text
    return {a["name"]: a for a in found.json()["items"]}


async def hold_uploads(page: Page) -> asyncio.Event:
    """Hold the page's uploads back until the returned event is set."""
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route(re.compile(r"/attachments\?session_id="), hold)
    return release


async def test_attach_wait_send_drop_and_remove(
    page: Page,
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
) -> None:
    frames: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: frames.append(str(frame)))

    page.on("websocket", watch)
    project = (await http.post("/projects", json={"name": "attached"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    session_id = session["session_id"]
    await page.goto(f"{server.url}/#/p/{project['id']}/chat")
    await expect(page.get_by_label("Message", exact=True)).to_be_focused()

    # The upload is held back: meanwhile the attachment is "uploading" and sending waits.
    release = await hold_uploads(page)
    async with page.expect_file_chooser() as chosen:
        await page.get_by_role("button", name="Attach files").click()
    chooser = await chosen.value
    await chooser.set_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": NOTES.encode()}
    )
    item = page.get_by_role("list", name="Attachments").locator("li[data-attachment='notes.txt']")
    await expect(item).to_have_attribute("data-state", "uploading")
    note = page.locator(".wait-note")
    cancel = note.get_by_role("button", name="Cancel sending")
    await expect(note).to_contain_text("Sending waits until notes.txt is read.")
    await expect(cancel).to_be_hidden()
    await page.get_by_role("radio", name="Chat").check()
    prompt = page.get_by_label("Message", exact=True)
    await prompt.fill("what is the secret word?")
    await prompt.press("Enter")
    # Sending waits for the attachment; it can be called off.
    await expect(note).to_contain_text("Sends once notes.txt is read.")
    await cancel.click()
    await expect(note).to_contain_text("Sending waits until notes.txt is read.")
    await expect(cancel).to_be_hidden()
    await prompt.press("Enter")
    await expect(note).to_contain_text("Sends once notes.txt is read.")
    await expect(page.locator(".msg")).to_have_count(0)
    await expect(prompt).to_have_value("what is the secret word?")
    assert await session_attachments(http, session_id) == {}, "nothing reached the server"

    # Once it is read, the waiting message goes, and the run reads the attachment.
    stub.script(Script(chunks=("tangerine",)))
    before = len(stub.requests)
    release.set()
    await expect(item).to_have_attribute("data-state", "ready")
    await expect(item).to_contain_text("tokens")
    await expect(note).to_be_hidden()
    await expect(page.locator(".msg.assistant .badge")).to_have_text("done")
    await expect(page.locator(".msg.user")).to_have_text(re.compile("what is the secret word"))
    assert "tangerine" in json.dumps(stub.requests[before].body["messages"]), "the run read it"
    stored = await session_attachments(http, session_id)
    assert stored["notes.txt"]["state"] == "ready" and stored["notes.txt"]["size"] == len(NOTES)
    states = [json.loads(f) for f in frames if '"attachment_state"' in f]
    assert any(s["data"]["attachment_id"] == stored["notes.txt"]["id"] for s in states), (
        "the socket told of the attachment's state"
    )

    # A file dropped on the chat is attached too.
    await page.locator(".chat").evaluate(DROP)
    dropped = page.locator("li[data-attachment='cities.csv']")
    await expect(dropped).to_have_attribute("data-state", "ready")
    assert set(await session_attachments(http, session_id)) == {"notes.txt", "cities.csv"}
    await check_accessibility(page, "chat with attachments")
    await shot(page, "19-chat-attachments")

    await page.get_by_role("button", name="Remove notes.txt").click()
    await expect(item).to_have_count(0)
    assert (await http.get(f"/attachments/{stored['notes.txt']['id']}")).status_code == 404
    await page.reload()
    await expect(dropped).to_have_attribute("data-state", "ready")
    await expect(page.locator(".attachments li")).to_have_count(1)

    await check_narrow(page, "chat with attachments", "20-chat-attachments-narrow")


async def test_a_message_waiting_for_a_refused_upload_is_not_sent(
    page: Page, server: RunningServer, http: httpx.AsyncClient, stub_model: dict[str, Any]
) -> None:
    project = (await http.post("/projects", json={"name": "refused"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    await page.goto(f"{server.url}/#/p/{project['id']}/chat")
    release = await hold_uploads(page)
    async with page.expect_file_chooser() as chosen:
        await page.get_by_role("button", name="Attach files").click()
    # Bytes no extractor reads as any kind of attachment: the server refuses them.
    await (await chosen.value).set_files(
        {"name": "blob.bin", "mimeType": "application/octet-stream", "buffer": bytes(range(256))}
    )
    prompt = page.get_by_label("Message", exact=True)
    await prompt.fill("read the blob")
    await prompt.press("Enter")
    await expect(page.locator(".wait-note")).to_contain_text("Sends once blob.bin is read.")
    release.set()
    await expect(page.get_by_text(re.compile(r"^blob\.bin not attached: "))).to_be_visible()
    await expect(page.get_by_text("Not sent: blob.bin could not be attached")).to_be_visible()
    await expect(page.locator(".attachments li")).to_have_count(0)
    await expect(page.locator(".wait-note")).to_be_hidden()
    await expect(prompt).to_have_value("read the blob")
    await expect(page.locator(".msg")).to_have_count(0)
    assert await session_attachments(http, session["session_id"]) == {}
    messages = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
    assert messages == []
