"""The chat in the browser: live chunks, stop, reload and dropped sockets resumed without a gap
or a duplicate, proposals, models, node sessions, cost, and a long session."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, WebSocketRoute, expect

from tests.agents.conftest import APP_PY, sr, verdict
from tests.servers import RunningServer
from tests.web.conftest import check_accessibility, per_test_fixture, shot
from vibeforge.llm.stub import Script, StubLLMServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
HELLO = '    return "Hello, " + name\n'


@dataclass
class Chat:
    """A signed-in page, the server, its REST API and the stub (the default model)."""

    page: Page
    server: RunningServer
    http: httpx.AsyncClient
    stub: StubLLMServer
    stub_model: dict[str, Any]


@per_test_fixture
async def chat(
    page: Page,
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
) -> Chat:
    return Chat(page, server, http, stub, stub_model)


async def open_chat(
    page: Page, server: RunningServer, http: httpx.AsyncClient, name: str, node: str | None = None
) -> tuple[str, str]:
    """A new project holding app.py, its chat open in the page; (project id, session id)."""
    project = (await http.post("/projects", json={"name": name, "main_file": "app.py"})).json()
    await http.put(f"/projects/{project['id']}/files/app.py", json={"content": APP_PY})
    body = {"node_id": node} if node else {}
    session = (await http.post(f"/projects/{project['id']}/sessions", json=body)).json()
    query = f"?node={node}" if node else ""
    await page.goto(f"{server.url}/#/p/{project['id']}/chat{query}")
    await expect(page.get_by_label("Message", exact=True)).to_be_focused()
    return project["id"], session["session_id"]


async def send(page: Page, prompt: str, mode: str = "chat") -> Locator:
    """Send a prompt in a mode; the locator of the answer it starts."""
    await page.get_by_role("radio", name="Chat" if mode == "chat" else "Code").check()
    before = await page.locator(".msg.assistant").count()
    await page.get_by_label("Message", exact=True).fill(prompt)
    await page.keyboard.press("Enter")
    answer = page.locator(".msg.assistant").nth(before)
    await answer.wait_for()
    return answer


def answer_text(answer: Locator) -> Any:
    return answer.locator(".msg-body .msg-text").last.text_content()


async def stored_answer(http: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["items"]
    return [m for m in messages if m["role"] == "assistant"][-1]


async def watch_until_done(answer: Locator, full: str) -> list[str]:
    """Sample the answer's text until it is complete; every sample is a prefix of the full
    answer (nothing skipped, nothing doubled) that never shrinks."""
    samples: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = (await answer_text(answer) or "").strip()
        assert full.startswith(text), f"shown {text[-80:]!r} is not a prefix of the answer"
        assert not samples or len(text) >= len(samples[-1]), "the text went backwards"
        samples.append(text)
        if text == full.strip() and await answer.locator(".badge").text_content() == "done":
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"the answer did not complete: {samples[-1][-80:]!r}")


async def test_chunks_stream_live_with_the_stage_and_the_cost_of_the_message(chat: Chat) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    _, session_id = await open_chat(page, server, http, "live")
    words = tuple(f"w{i} " for i in range(30))
    usage = {"prompt_tokens": 1200, "completion_tokens": 30, "cost": 0.0123}
    stub.script(Script(chunks=words, chunk_delay=0.05, usage=usage))
    answer = await send(page, "say thirty words")
    await expect(answer).to_contain_text("w3 ")
    assert await answer.locator(".badge").get_attribute("data-status") == "streaming"
    await expect(page.locator(".chat-bar .stage")).to_contain_text("●")
    await shot(page, "10-chat-streaming")
    samples = await watch_until_done(answer, "".join(words))
    assert len({len(s) for s in samples}) > 3, "the text grew in steps, as chunks arrived"
    await expect(answer.locator(".usage")).to_have_text("1,200 in · 30 out · $0.0123")
    await expect(page.locator(".chat-usage")).to_contain_text("$0.0123")
    await expect(page.locator(".chat-usage")).to_contain_text("context 1,200 tokens")
    await answer.get_by_role("button", name="Usage by role").click()
    role_row = answer.locator("table.details tbody tr")
    await expect(role_row).to_have_count(1)
    await expect(role_row).to_contain_text("chat")
    await expect(role_row).to_contain_text("$0.0123")
    assert (await stored_answer(http, session_id))["token_usage"]["cost_usd"] == 0.0123
    await check_accessibility(page, "chat")
    await shot(page, "11-chat-cost")


async def test_stop_shows_stopped_at_once_keeps_the_partial_and_closes_the_upstream(
    chat: Chat,
) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    _, session_id = await open_chat(page, server, http, "stop")
    stub.script(Script(chunks=tuple(f"s{i} " for i in range(400)), chunk_delay=0.02))
    answer = await send(page, "talk for a long time")
    await expect(answer).to_contain_text("s5 ")
    request = stub.requests[-1]
    # The badge changes in the click's own task, before any answer from the server.
    shown = await page.evaluate(
        """() => {
            document.querySelector('.composer button.danger').click();
            const badges = document.querySelectorAll('.msg.assistant .badge');
            return badges[badges.length - 1].textContent;
        }"""
    )
    assert shown == "stopped"
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    await stub.wait_for(lambda: request.client_disconnected_at is not None)
    assert request.client_disconnected_at is not None, "the upstream stream was closed"
    assert request.chunks_sent < 400
    stored = await stored_answer(http, session_id)
    for _ in range(50):
        if stored["status"] == "cancelled":
            break
        await asyncio.sleep(0.1)
        stored = await stored_answer(http, session_id)
    assert stored["status"] == "cancelled"
    await expect(answer.locator(".badge")).to_have_attribute("data-status", "cancelled")
    shown_text = (await answer_text(answer) or "").strip()
    assert shown_text.startswith("s0 s1 s2 s3 s4 s5")
    assert shown_text == stored["content"].strip(), "the partial answer shown is the one kept"
    await shot(page, "12-chat-stopped")


async def test_a_reload_mid_stream_resumes_with_no_chunk_lost_or_doubled(chat: Chat) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    _, session_id = await open_chat(page, server, http, "reload")
    words = tuple(f"r{i} " for i in range(80))
    stub.script(Script(chunks=words, chunk_delay=0.04))
    answer = await send(page, "eighty words please")
    await expect(answer).to_contain_text("r10 ")
    await page.reload()
    answer = page.locator(".msg.assistant").last
    await answer.wait_for()
    assert "r79" not in (await answer_text(answer) or ""), "the reload was mid-stream"
    await watch_until_done(answer, "".join(words))
    assert (await stored_answer(http, session_id))["content"] == "".join(words)


async def test_a_dropped_socket_reconnects_and_resumes_from_the_last_seq(chat: Chat) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    sockets: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:
        route.connect_to_server()
        sockets.append(route)

    await page.route_web_socket(re.compile(r"/ws$"), through)
    await open_chat(page, server, http, "drop")
    words = tuple(f"d{i} " for i in range(80))
    stub.script(Script(chunks=words, chunk_delay=0.04))
    answer = await send(page, "keep talking")
    await expect(answer).to_contain_text("d10 ")
    await sockets[-1].close(code=4000, reason="network went away")
    await watch_until_done(answer, "".join(words))
    assert len(sockets) >= 2, "the client opened a new socket"


async def test_a_pending_proposal_is_accepted_from_the_chat(chat: Chat) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    project_id, session_id = await open_chat(page, server, http, "proposal")
    off = await http.put(f"/sessions/{session_id}/auto_apply", json={"auto_apply": False})
    assert off.status_code == 204
    stub.script(sr("app.py", "def greet(name):\n", "def welcome(name):\n"), verdict(True))
    answer = await send(page, "rename greet to welcome", mode="code")
    proposal = answer.locator(".proposal")
    await expect(proposal.locator(".proposal-status")).to_have_text("pending")
    await proposal.get_by_role("button", name="Show changes").click()
    added = proposal.locator("td.dcode.add, tr.add td.dcode").first
    await expect(added).to_have_text("def welcome(name):")
    await check_accessibility(page, "chat with a proposal")
    await shot(page, "13-chat-proposal")
    file = f"/projects/{project_id}/files/app.py"
    assert "def greet" in (await http.get(file)).json()["content"], "pending: nothing applied"
    await proposal.get_by_role("button", name="Accept").click()
    await expect(proposal.locator(".proposal-status")).to_have_text("applied")
    assert "def welcome(name):" in (await http.get(file)).json()["content"]
    await page.reload()
    proposal = page.locator(".msg.assistant").last.locator(".proposal")
    await expect(proposal.locator(".proposal-status")).to_have_text("applied")


async def test_a_proposal_made_while_no_browser_watched_is_decided_from_the_chat(
    chat: Chat,
) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    project = (
        await http.post("/projects", json={"name": "unwatched", "main_file": "app.py"})
    ).json()
    file = f"/projects/{project['id']}/files/app.py"
    await http.put(file, json={"content": APP_PY})
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    sessions = f"/sessions/{session['session_id']}"
    assert (await http.put(f"{sessions}/auto_apply", json={"auto_apply": False})).status_code == 204
    for old, new in (
        ("def greet(name):\n", "def welcome(name):\n"),
        (HELLO, HELLO.replace("Hello", "Hi")),
    ):
        stub.script(sr("app.py", old, new), verdict(True))
        done = await http.post(
            f"{sessions}/messages", json={"prompt": f"{old} -> {new}", "mode": "code"}
        )
        assert done.status_code == 200, done.text
    stored = (await http.get(f"{sessions}/proposals")).json()["items"]
    assert [p["status"] for p in stored] == ["pending", "pending"]

    # A browser that never saw the `proposal` events (its storage is new) offers both.
    await page.goto(f"{server.url}/#/p/{project['id']}/chat")
    cards = page.locator(".msg.assistant .proposal")
    await expect(cards).to_have_count(2)
    first, second = cards.nth(0), cards.nth(1)
    await expect(first.locator(".proposal-status")).to_have_text("pending")
    await first.get_by_role("button", name="Accept").click()
    await expect(first.locator(".proposal-status")).to_have_text("applied")
    assert "def welcome(name):" in (await http.get(file)).json()["content"]
    await second.get_by_role("button", name="Reject").click()
    await expect(second.locator(".proposal-status")).to_have_text("rejected")
    assert HELLO in (await http.get(file)).json()["content"], "rejected: not applied"
    statuses = {
        p["id"]: p["status"] for p in (await http.get(f"{sessions}/proposals")).json()["items"]
    }
    assert sorted(statuses.values()) == ["applied", "rejected"]
    # Nothing is remembered in the browser: a reload shows what the server stores.
    assert await page.evaluate("localStorage.getItem('vibeforge.proposals')") is None
    await page.reload()
    await expect(cards.nth(0).locator(".proposal-status")).to_have_text("applied")
    await expect(cards.nth(1).locator(".proposal-status")).to_have_text("rejected")
    await expect(cards.get_by_role("button", name="Accept")).to_have_count(0)


async def test_model_picker_node_session_and_chat_mode(chat: Chat) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    other = {**{k: chat.stub_model[k] for k in ("provider", "base_url")}, "name": "other"}
    created = await http.post("/models", json={**other, "model": "stub-model-2", "api_key": "k"})
    assert created.status_code == 201, created.text
    project_id, session_id = await open_chat(page, server, http, "node", node="app.py")
    await expect(page.get_by_label("Session")).to_have_value("app.py")
    await page.get_by_label("Model").select_option(created.json()["id"])
    before = len(stub.requests)
    answer = await send(page, "what does greet do?", mode="chat")
    await expect(answer.locator(".badge")).to_have_text("done")
    assert [r.body["model"] for r in stub.requests[before:]] == ["stub-model-2"]
    sessions = (await http.get(f"/projects/{project_id}/sessions")).json()["items"]
    assert {"session_id": session_id, "node_id": "app.py"}.items() <= next(
        s for s in sessions if s["session_id"] == session_id
    ).items()
    await page.get_by_label("Session").select_option(label="Whole project")
    await expect(page).to_have_url(re.compile(r"/chat(\?node=)?$"))
    await expect(page.locator(".msg")).to_have_count(0)


async def test_a_long_session_renders_only_what_is_visible(chat: Chat) -> None:
    page, server, http, stub = chat.page, chat.server, chat.http, chat.stub
    project = (await http.post("/projects", json={"name": "long"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    stub.rule(Script(chunks=("ok",), usage={"prompt_tokens": 3, "completion_tokens": 1}))
    # 240 messages prove the virtualisation; bench/web.py times 1,000 (seeding costs ~95 ms a run).
    for i in range(120):
        answer = await http.post(
            f"/sessions/{session['session_id']}/messages",
            json={"prompt": f"message number {i}", "mode": "chat"},
        )
        assert answer.status_code == 200, answer.text
    stub.reset()
    await page.goto(f"{server.url}/#/p/{project['id']}/chat")
    feed = page.get_by_role("feed", name="Messages")
    await expect(feed.get_by_text("message number 119")).to_be_visible()
    articles = feed.get_by_role("article")
    assert await articles.count() < 60, "only the messages near the viewport are in the DOM"
    assert await articles.last.get_attribute("aria-setsize") == "240"
    await feed.evaluate("el => { el.scrollTop = 0; }")
    await expect(feed.get_by_text("message number 0", exact=True)).to_be_visible()
    await shot(page, "14-chat-long-session")
