"""kill -9 of the server mid-stream: on restart every chunk a client saw is in the message."""

import asyncio
import signal
from pathlib import Path

import httpx

from tests.runs.conftest import STUB_KEY
from tests.runs.wsclient import WsClient
from tests.servers import vibeforge_server
from vibeforge.llm.stub import Script, StubLLMServer

TOKEN = "vf_crash-test-token-0123456789"


async def test_killed_server_recovers_the_streamed_chunks(
    tmp_path: Path, database_url: str, stub: StubLLMServer
) -> None:
    data_dir = tmp_path / "data"
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    stub.script(Script(chunks=tuple(f"k{i} " for i in range(1000)), chunk_delay=0.01))
    with vibeforge_server(data_dir, database_url, env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
            await http.post(
                "/models",
                json={
                    "name": "stub",
                    "provider": "openai-compatible",
                    "model": "m",
                    "base_url": f"{stub.url}/v1",
                    "api_key": STUB_KEY,
                    "is_default": True,
                },
            )
            project = (await http.post("/projects", json={"name": "crash"})).json()
            session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
        ws = await WsClient.open(server.url, TOKEN)
        await ws.send("chat", session_id=session["session_id"], prompt="stream", mode="chat")
        for _ in range(20):
            await ws.until("chunk")
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        # Whatever was already in flight to the client still counts as seen.
        try:
            while True:
                await ws.next(within=0.5)
        except Exception:
            pass
        seen = "".join(e["data"]["content"] for e in ws.events if e["type"] == "chunk")
        last_seq = max(e["seq"] for e in ws.events)
    assert len(seen.split()) >= 20

    with vibeforge_server(data_dir, database_url, env=env) as restarted:
        async with httpx.AsyncClient(base_url=restarted.url, headers=headers) as http:
            items = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
            assert items[-1]["status"] == "interrupted"
            assert items[-1]["content"].startswith(seen)
            run = (await http.get(f"/runs/{items[-1]['run_id']}")).json()
            assert run["status"] == "interrupted"
            info = (await http.get(f"/sessions/{session['session_id']}")).json()
            assert info["last_seq"] >= last_seq, "numbering continues after the restart"
        assert not list((data_dir / "journal").glob("*.jsonl"))
        await asyncio.sleep(0)


async def test_graceful_stop_keeps_the_partial_answer(
    tmp_path: Path, database_url: str, stub: StubLLMServer
) -> None:
    data_dir = tmp_path / "data"
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    stub.script(Script(chunks=tuple(f"g{i} " for i in range(1000)), chunk_delay=0.01))
    with vibeforge_server(data_dir, database_url, env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
            await http.post(
                "/models",
                json={
                    "name": "stub",
                    "provider": "openai-compatible",
                    "model": "m",
                    "base_url": f"{stub.url}/v1",
                    "api_key": STUB_KEY,
                    "is_default": True,
                },
            )
            project = (await http.post("/projects", json={"name": "stop"})).json()
            session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
        ws = await WsClient.open(server.url, TOKEN)
        await ws.send("chat", session_id=session["session_id"], prompt="stream", mode="chat")
        for _ in range(10):
            await ws.until("chunk")
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        seen = "".join(e["data"]["content"] for e in ws.events if e["type"] == "chunk")
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=2)

    with vibeforge_server(data_dir, database_url, env=env) as restarted:
        async with httpx.AsyncClient(base_url=restarted.url, headers=headers) as http:
            items = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
    assert items[-1]["status"] == "interrupted"
    assert items[-1]["content"].startswith(seen)
