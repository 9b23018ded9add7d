"""Two `vibeforge serve` processes behaving like one: streams watched from the other process,
cancels that cross, a client switching process mid-stream, a killed owner's runs closed by the
survivor with every chunk kept, and a new message superseding a run that lives elsewhere."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from tests.scale.cluster import (
    HEADERS,
    chunks,
    contiguous,
    conversation,
    get,
    numbered,
    start_chat,
    watcher,
)
from tests.servers import RunningServer
from tests.stubs import TOKEN
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.runs import reasons

LONG = Script(chunks=tuple(f"w{i} " for i in range(400)), chunk_delay=0.01)


async def test_a_stream_on_a_is_watched_from_b(
    pair: tuple[RunningServer, RunningServer], stub: StubLLMServer
) -> None:
    a, b = pair
    talk = await conversation(a, stub)
    stub.script(Script(chunks=tuple(f"c{i} " for i in range(60)), chunk_delay=0.002))
    on_b = await watcher(b, talk.session_id)
    on_a = await start_chat(a, talk.session_id, "hello")
    done_a = await on_a.until("done")
    done_b = await on_b.until("done")
    expected = "".join(f"c{i} " for i in range(60))
    assert done_b["data"]["content"] == done_a["data"]["content"] == expected
    seqs = contiguous(numbered(on_b))
    assert chunks(numbered(on_b)) == done_b["data"]["content"]
    assert [e["seq"] for e in numbered(on_a)] == seqs
    await on_a.close()
    await on_b.close()


async def test_a_cancel_sent_to_b_stops_the_run_on_a(
    pair: tuple[RunningServer, RunningServer], stub: StubLLMServer
) -> None:
    a, b = pair
    talk = await conversation(a, stub)
    stub.script(LONG)
    on_a = await WsClient.open(a.url, TOKEN)
    ack = await on_a.command("chat", {"session_id": talk.session_id, "prompt": "x", "mode": "chat"})
    assert ack is None
    start = await on_a.until("chat_session_start")
    run_id = start["data"]["run_id"]
    for _ in range(5):
        await on_a.until("chunk")
    async with httpx.AsyncClient(base_url=b.url, headers=HEADERS, timeout=30) as http:
        other = (await http.post("/users", json={"email": "other@example.com"})).json()
        stranger = {"Authorization": f"Bearer {other['token']}"}
        # Another user's run is not found, wherever it runs, and keeps running.
        refused = await http.post(f"/runs/{run_id}/cancel", headers=stranger)
        assert refused.status_code == 404, refused.text
        assert stub.requests[-1].client_disconnected_at is None
        began = time.monotonic()
        answer = await http.post(f"/runs/{run_id}/cancel")
        took = time.monotonic() - began
    assert answer.status_code == 200, answer.text
    assert answer.json()["cancelled"] is True
    assert answer.json()["status"] == "cancelled"
    # Upstream was closed by A before B answered.
    assert stub.requests[-1].client_disconnected_at is not None
    assert stub.requests[-1].client_disconnected_at <= began + took
    cancelled = await on_a.until("cancelled")
    assert cancelled["data"]["reason"] == reasons.BY_USER
    run = await get(b, f"/runs/{run_id}")
    assert run["status"] == "cancelled"
    messages = (await get(b, f"/sessions/{talk.session_id}/messages"))["items"]
    assert messages[-1]["status"] == "cancelled"
    assert messages[-1]["content"].startswith(chunks(on_a.events))
    await on_a.close()


async def test_clients_switching_from_a_to_b_get_every_chunk_once(
    pair: tuple[RunningServer, RunningServer], stub: StubLLMServer
) -> None:
    a, b = pair
    talk = await conversation(a, stub)
    words = tuple(f"s{i} " for i in range(120))
    stub.script(*[Script(chunks=words, chunk_delay=0.005)] * 8)
    async with httpx.AsyncClient(base_url=a.url, headers=HEADERS, timeout=30) as http:
        sessions = [
            (
                await http.post(f"/projects/{talk.project_id}/sessions", json={"node_id": f"n{i}"})
            ).json()["session_id"]
            for i in range(8)
        ]

    async def switch(index: int, session_id: str) -> None:
        on_a = await start_chat(a, session_id, f"switch {index}")
        for _ in range(10 + 3 * index):
            await on_a.until("chunk")
        await on_a.close()
        seen_on_a = numbered(on_a)
        # Live events race the replay on B: each must still arrive once, in order.
        on_b = await watcher(b, session_id, after_seq=seen_on_a[-1]["seq"])
        done = await on_b.until("done", within=30)
        everything = seen_on_a + numbered(on_b)
        contiguous(everything)
        assert chunks(everything) == done["data"]["content"] == "".join(words)
        await on_b.close()

    await asyncio.gather(*(switch(i, sid) for i, sid in enumerate(sessions)))


async def test_killing_a_leaves_b_to_close_its_runs_keeping_every_chunk(
    pair: tuple[RunningServer, RunningServer], stub: StubLLMServer
) -> None:
    a, b = pair
    talk = await conversation(a, stub)
    stub.script(LONG)
    on_b = await watcher(b, talk.session_id)
    on_a = await start_chat(a, talk.session_id, "die")
    for _ in range(20):
        await on_b.until("chunk")
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(timeout=10)
    interrupted = await on_b.until("interrupted", within=15)
    assert interrupted["data"]["reason"] == reasons.SERVER_DIED
    seen = numbered(on_b)
    seqs = contiguous(seen)
    messages = (await get(b, f"/sessions/{talk.session_id}/messages"))["items"]
    last = messages[-1]
    assert last["status"] == "interrupted"
    assert last["reason"] == reasons.SERVER_DIED
    assert last["content"] == chunks(seen), "exactly what the clients were shown"
    run = await get(b, f"/runs/{last['run_id']}")
    assert run["status"] == "interrupted"
    session = await get(b, f"/sessions/{talk.session_id}")
    assert session["last_seq"] == seqs[-1]
    assert f"closed run {last['run_id']} of a dead server" in b.log()
    # The session goes on, on B, numbering after what A used.
    stub.script(Script(chunks=("again",)))
    on_b2 = await watcher(b, talk.session_id)
    await on_b2.send("chat", session_id=talk.session_id, prompt="again", mode="chat")
    done = await on_b2.until("done")
    assert done["data"]["content"] == "again"
    assert min(e["seq"] for e in numbered(on_b2)) > seqs[-1]
    for ws in (on_a, on_b, on_b2):
        await ws.close()


async def test_a_message_on_b_supersedes_the_run_on_a(
    pair: tuple[RunningServer, RunningServer], stub: StubLLMServer
) -> None:
    a, b = pair
    talk = await conversation(a, stub)
    stub.script(LONG, Script(chunks=("second",)))
    on_a = await start_chat(a, talk.session_id, "first")
    first = (await on_a.until("chat_session_start"))["data"]["run_id"]
    for _ in range(5):
        await on_a.until("chunk")
    on_b = await start_chat(b, talk.session_id, "second")
    done = await on_b.until("done")
    assert done["data"]["content"] == "second"
    assert done["data"]["superseded_run_id"] == first
    cancelled = await on_a.until("cancelled")
    assert cancelled["data"]["reason"].startswith("superseded by message")
    assert stub.requests[0].client_disconnected_at is not None
    contiguous(numbered(on_a))
    assert (await get(b, f"/runs/{first}"))["status"] == "cancelled"
    await on_a.close()
    await on_b.close()
