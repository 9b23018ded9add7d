"""The client's socket drops mid-stream (a cut connection, a killed server): nothing is lost or
repeated, and a run whose server died ends with what its journal kept."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.client.proxy import CuttableProxy
from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN, create_stub_model, until
from tests.wsclient import WsClient
from vibeforge.client import Client, ConnectionLost
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.runs.protocol import Chunk, decode_event


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


async def _session(http: httpx.AsyncClient) -> str:
    project = (await http.post("/projects", json={"name": "reconnect"})).json()
    return (await http.post(f"/projects/{project['id']}/sessions", json={})).json()["session_id"]


async def _server_record(url: str, session_id: str, run_id: str) -> list[Any]:
    """The run's events as the server numbered them (a replay from the start)."""
    ws = await WsClient.open(url, TOKEN)
    await ws.send("subscribe", session_id=session_id, after_seq=0)
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != "post_response_complete":
        event = await ws.next()
        if event["seq"] and event["data"].get("run_id") == run_id:
            events.append(event)
    await ws.close()
    assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[-1]["seq"] + 1))
    return [decode_event(e["type"], e["data"], e["seq"]) for e in events]


async def test_cut_connections_mid_stream_lose_and_repeat_nothing(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(http, stub)
    session = await _session(http)
    chunks = tuple(f"<{i}>" for i in range(150))
    stub.script(Script(chunks=chunks, chunk_delay=0.004))
    async with CuttableProxy(_address(server.url)) as proxy, Client(proxy.url, TOKEN) as client:
        run = await client.send(session, "stream", mode="chat")
        seen: list[Any] = []
        async for event in run:
            seen.append(event)
            pieces = sum(isinstance(e, Chunk) for e in seen)
            if pieces in (10, 50, 90) and proxy.cuts < (10, 50, 90).index(pieces) + 1:
                proxy.cut()  # the socket dies without a close frame; the run goes on
        assert proxy.cuts == 3 and client.socket.connections >= 4
        done = await run.result()
    text = "".join(event.content for event in seen if isinstance(event, Chunk))
    assert text == "".join(chunks) == done.content
    assert seen == await _server_record(server.url, session, run.id), (
        "every event of the run, once each, in the server's order"
    )


@pytest.mark.parametrize("missed_some", [False, True], ids=["saw-all", "missed-some"])
async def test_a_run_whose_server_was_killed_ends_with_what_its_journal_kept(
    tmp_path: Path, database_url: str, stub: StubLLMServer, missed_some: bool
) -> None:
    """Seen everything the journal holds: the resubscribe finds nothing to replay, and the
    client asks how the run ended. Missed some: the new server holds no stream to replay
    from and sends a snapshot, whose stored message ends the run with the text missed."""
    data_dir = tmp_path / "data"
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    stub.script(Script(chunks=tuple(f"k{i} " for i in range(2000)), chunk_delay=0.01))
    with vibeforge_server(data_dir, database_url, env=env) as first:
        async with httpx.AsyncClient(base_url=first.url, headers=headers) as http:
            await create_stub_model(http, stub)
            session = await _session(http)
        proxy = CuttableProxy(_address(first.url))
        await proxy.__aenter__()
        client = Client(proxy.url, TOKEN, reconnect_within=60)
        run = await client.send(session, "long", mode="chat")
        await until(lambda: len(run.text) > 20, within=10)
        if missed_some:
            proxy.target = ("127.0.0.1", 9)  # nothing listens there: reconnects fail
            proxy.cut()
            sent = stub.requests[-1].chunks_sent
            await until(lambda: stub.requests[-1].chunks_sent > sent + 50, within=10)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    seen_before_restart = run.content
    with vibeforge_server(data_dir, database_url, env=env) as second:
        proxy.target = _address(second.url)
        proxy.cut()
        outcome = await asyncio.wait_for(run.result(), 30)
        events = [event async for event in run]
        async with httpx.AsyncClient(base_url=second.url, headers=headers) as http:
            stored = (await http.get(f"/sessions/{session}/messages")).json()["items"][-1]
        await client.aclose()
        await proxy.__aexit__(None, None, None)
    assert outcome.status == stored["status"] == "interrupted"
    assert outcome.content == stored["content"] == run.content
    assert run.content.startswith(seen_before_restart) and len(run.content) >= 20
    if missed_some:
        assert len(run.content) > len(seen_before_restart) + 100, "the missed text arrived"
    assert events, "the iterator ends"
    assert client.runs == {}


async def test_a_socket_down_too_long_fails_its_runs_and_the_next_send_reconnects(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(http, stub)
    session = await _session(http)
    stub.script(Script(chunks=tuple(f"z{i}" for i in range(500)), chunk_delay=0.01))
    errors: list[Exception] = []
    async with CuttableProxy(_address(server.url)) as proxy:
        client = Client(
            proxy.url, TOKEN, reconnect_within=0.3, on_error=lambda r, e: errors.append(e)
        )
        run = await client.send(session, "long", mode="chat")
        await until(lambda: bool(run.text))
        live = proxy.target
        proxy.target = ("127.0.0.1", 9)
        proxy.cut()
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(run.result(), 10)
        with pytest.raises(ConnectionLost):
            async for _ in run:
                pass
        assert isinstance(errors[-1], ConnectionLost) and client.runs == {}
        proxy.target = live
        stub.script(Script(chunks=("back",)))
        again = await client.send(session, "again", mode="chat")
        assert (await asyncio.wait_for(again.result(), 20)).content == "back"
        await client.aclose()
