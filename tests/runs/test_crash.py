"""Stopping the server mid-stream, by kill -9 or SIGTERM: on restart nothing a client saw is
lost."""

import signal
from pathlib import Path
from typing import Any

import httpx

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import create_stub_model
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.runs import reasons

TOKEN = "vf_crash-test-token-0123456789"
ENV = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


async def _stream_then_stop(
    server: RunningServer, stub: StubLLMServer, stop: signal.Signals, chunks_seen: int
) -> tuple[dict[str, Any], WsClient]:
    """Start a long streamed run, read some chunks, then signal the server and wait for it."""
    stub.script(Script(chunks=tuple(f"k{i} " for i in range(1000)), chunk_delay=0.01))
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        await create_stub_model(http, stub)
        project = (await http.post("/projects", json={"name": "stop"})).json()
        session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("chat", session_id=session["session_id"], prompt="stream", mode="chat")
    for _ in range(chunks_seen):
        await ws.until("chunk")
    server.process.send_signal(stop)
    server.process.wait(timeout=15)
    # Whatever was already in flight to the client still counts as seen.
    try:
        while True:
            await ws.next(within=0.5)
    except Exception:
        pass
    return session, ws


def _seen(ws: WsClient) -> str:
    return "".join(e["data"]["content"] for e in ws.events if e["type"] == "chunk")


async def test_killed_server_recovers_the_streamed_chunks(
    tmp_path: Path, database_url: str, stub: StubLLMServer
) -> None:
    data_dir = tmp_path / "data"
    with vibeforge_server(data_dir, database_url, env=ENV) as server:
        session, ws = await _stream_then_stop(server, stub, signal.SIGKILL, 20)
    seen, last_seq = _seen(ws), max(e["seq"] for e in ws.events)
    assert len(seen.split()) >= 20

    with vibeforge_server(data_dir, database_url, env=ENV) as restarted:
        async with httpx.AsyncClient(base_url=restarted.url, headers=HEADERS) as http:
            items = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
            assert items[-1]["status"] == "interrupted"
            assert items[-1]["reason"] == reasons.SERVER_DIED
            assert items[-1]["content"].startswith(seen)
            run = (await http.get(f"/runs/{items[-1]['run_id']}")).json()
            assert run["status"] == "interrupted"
            assert run["reason"] == reasons.SERVER_DIED
            # The agent never stored its spans, yet the trace id it handed out has a trace.
            trace = (await http.get(f"/traces/{items[-1]['trace_id']}")).json()
            assert [(s["name"], s["status"]) for s in trace["spans"]] == [("run", "interrupted")]
            assert trace["run_id"] == run["id"]
            info = (await http.get(f"/sessions/{session['session_id']}")).json()
            assert info["last_seq"] >= last_seq, "numbering continues after the restart"
        run_id = items[-1]["run_id"]
        assert f"recovered run {run_id} as interrupted: {reasons.SERVER_DIED}" in restarted.log()
    assert not list((data_dir / "journal").glob("*.jsonl"))


async def test_graceful_stop_keeps_the_partial_answer(
    tmp_path: Path, database_url: str, stub: StubLLMServer
) -> None:
    data_dir = tmp_path / "data"
    with vibeforge_server(data_dir, database_url, env=ENV) as server:
        session, ws = await _stream_then_stop(server, stub, signal.SIGTERM, 10)
        stopped_log = server.log()
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=2)
    assert "shutting down, 1 runs interrupted" in stopped_log
    # The client was still connected when the run stopped: it was told, live.
    told = [e for e in ws.events if e["type"] == "interrupted"]
    assert [e["data"]["reason"] for e in told] == [reasons.SERVER_STOPPED]

    with vibeforge_server(data_dir, database_url, env=ENV) as restarted:
        async with httpx.AsyncClient(base_url=restarted.url, headers=HEADERS) as http:
            items = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
            trace = (await http.get(f"/traces/{items[-1]['trace_id']}")).json()
    assert items[-1]["status"] == "interrupted"
    assert items[-1]["reason"] == reasons.SERVER_STOPPED
    assert items[-1]["content"].startswith(_seen(ws))
    # Stopped gracefully, the agent stored its own spans, cut off where the stop came.
    spans = {span["name"]: span["status"] for span in trace["spans"]}
    assert spans["run"] == spans["llm.chat"] == "cancelled"
