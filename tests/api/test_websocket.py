"""The /ws protocol end to end: a real server, a real socket, the stub LLM over real HTTP."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN, create_stub_model, until
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, StubLLMServer


@pytest.fixture
async def session(http: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    await create_stub_model(http, stub)
    project = (await http.post("/projects", json={"name": "ws"})).json()
    return (await http.post(f"/projects/{project['id']}/sessions", json={})).json()


async def test_chat_streams_every_event_in_order(
    server: RunningServer, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(
        Script(chunks=("Hel", "lo", " ✓"), usage={"prompt_tokens": 5, "completion_tokens": 3})
    )
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", session_id=session["session_id"])
    assert (await ws.next())["type"] == "session_start"
    assert (await ws.next())["type"] == "snapshot"
    await ws.send("chat", session_id=session["session_id"], prompt="hi", mode="chat")
    done = await ws.until("done")
    types = [event["type"] for event in ws.events[2:]]
    assert types[0] == "chat_session_start"
    assert "stage_update" in types and "token_usage" in types
    chunks = [e["data"]["content"] for e in ws.events if e["type"] == "chunk"]
    assert "".join(chunks) == "Hello ✓"
    assert done["data"]["content"] == "Hello ✓"
    seqs = [event["seq"] for event in ws.events[2:]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "numbered without gaps"
    await ws.send("ping")
    assert (await ws.until("pong"))["type"] == "pong"
    await ws.close()


async def test_cancel_mid_stream_over_the_socket(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(Script(chunks=tuple(f"w{i} " for i in range(500)), chunk_delay=0.01))
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("chat", session_id=session["session_id"], prompt="go", mode="chat")
    start = await ws.until("chat_session_start")
    for _ in range(5):
        await ws.until("chunk")
    await ws.send("cancel", run_id=start["data"]["run_id"])
    await ws.until("cancelled")
    seen = "".join(e["data"]["content"] for e in ws.events if e["type"] == "chunk")
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=2)
    await ws.close()
    await until(lambda: True)
    for _ in range(100):
        messages = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
        if messages[-1]["status"] == "cancelled":
            break
        await asyncio.sleep(0.02)
    assert messages[-1]["status"] == "cancelled"
    assert messages[-1]["content"].startswith(seen), "every chunk the client saw is kept"


async def test_reconnect_with_after_seq_loses_nothing(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(Script(chunks=tuple(f"p{i} " for i in range(60)), chunk_delay=0.01))
    first = await WsClient.open(server.url, TOKEN)
    await first.send("chat", session_id=session["session_id"], prompt="go", mode="chat")
    for _ in range(10):
        await first.until("chunk")
    last_seen = first.events[-1]["seq"]
    await first.close()  # the run goes on without any client

    second = await WsClient.open(server.url, TOKEN)
    await second.send("subscribe", session_id=session["session_id"], after_seq=last_seen)
    await second.until("done", within=15)
    replayed = [e for e in second.events if e["type"] not in ("session_start", "snapshot")]
    assert replayed[0]["seq"] == last_seen + 1
    seqs = [e["seq"] for e in replayed]
    assert seqs == list(range(last_seen + 1, last_seen + 1 + len(seqs)))
    text = "".join(
        e["data"]["content"] for e in first.events + second.events if e["type"] == "chunk"
    )
    assert text == "".join(f"p{i} " for i in range(60))
    await second.close()


async def test_a_dropped_socket_does_not_stop_the_run(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(Script(chunks=tuple(f"d{i}" for i in range(30)), chunk_delay=0.01))
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("chat", session_id=session["session_id"], prompt="go", mode="chat")
    await ws.until("chunk")
    ws.connection.transport.abort()  # no close handshake: the client just vanishes
    for _ in range(200):
        items = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
        if items and items[-1]["status"] == "success":
            break
        await asyncio.sleep(0.02)
    assert items[-1]["content"] == "".join(f"d{i}" for i in range(30))


async def test_bad_input_gets_an_error_and_the_socket_stays_usable(
    server: RunningServer, http: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    other = (await http.post("/users", json={"email": "intruder@example.com"})).json()
    ws = await WsClient.open(server.url, TOKEN)
    await ws.connection.send("{not json")
    assert (await ws.until("error"))["data"]["code"] == "malformed_json"
    await ws.connection.send(json.dumps([1, 2]))
    assert (await ws.until("error"))["data"]["code"] == "invalid_input"
    await ws.send("teleport")
    assert "unknown" in (await ws.until("error"))["data"]["detail"]
    await ws.send("chat", session_id=session["session_id"])
    assert "prompt" in (await ws.until("error"))["data"]["detail"]
    await ws.send("chat", session_id=123, prompt="x", mode="chat")
    assert (await ws.until("error"))["data"]["code"] == "invalid_input"
    await ws.send("subscribe", session_id=session["session_id"], after_seq=-4)
    assert (await ws.until("error"))["data"]["code"] == "invalid_input"
    await ws.send("ping", ts=1)
    assert (await ws.until("pong"))["data"]["ts"] == 1

    intruder = await WsClient.open(server.url, other["token"])
    await intruder.send("subscribe", session_id=session["session_id"])
    assert (await intruder.until("error"))["data"]["code"] == "not_found"
    await intruder.send("chat", session_id=session["session_id"], prompt="steal", mode="chat")
    assert (await intruder.until("error"))["data"]["code"] == "not_found"
    await intruder.close()
    await ws.close()


async def test_bad_tokens_are_refused_before_accept(server: RunningServer) -> None:
    url = server.url.replace("http://", "ws://")
    with pytest.raises(InvalidStatus):
        await connect(f"{url}/ws?token=nope")
    async with connect(f"{url}/ws") as anonymous:
        await anonymous.send(json.dumps({"type": "auth", "data": {"token": TOKEN}}))
        await anonymous.send(json.dumps({"type": "ping", "data": {}}))
        assert json.loads(await anonymous.recv())["type"] == "pong"
    async with connect(f"{url}/ws") as wrong:
        await wrong.send(json.dumps({"type": "auth", "data": {"token": "nope"}}))
        assert json.loads(await wrong.recv())["data"]["code"] == "unauthorized"


async def test_a_client_that_stops_reading_is_cut_off_not_buffered(
    tmp_path: Path, database_url: str, stub: StubLLMServer
) -> None:
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN, "VIBEFORGE_WS_QUEUE_EVENTS": "16"}
    big = "x" * 16_384
    stub.script(Script(chunks=tuple(big for _ in range(1500))))
    with vibeforge_server(tmp_path / "slow", database_url, env=env) as running:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=30) as http:
            await create_stub_model(http, stub)
            project = (await http.post("/projects", json={"name": "slow"})).json()
            session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
            url = running.url.replace("http://", "ws://") + f"/ws?token={TOKEN}"
            # A tiny receive buffer and no reading: the server's sends back up.
            async with connect(url, max_size=None, max_queue=1) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "type": "chat",
                            "data": {
                                "session_id": session["session_id"],
                                "prompt": "flood",
                                "mode": "chat",
                            },
                        }
                    )
                )
                for _ in range(200):
                    items = (await http.get(f"/sessions/{session['session_id']}/messages")).json()
                    if items["items"] and items["items"][-1]["status"] == "success":
                        break
                    await asyncio.sleep(0.05)
                assert items["items"][-1]["status"] == "success", "the run finished regardless"
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008


async def test_project_subscribers_hear_of_rest_edits(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    project = (await http.post("/projects", json={"name": "watched"})).json()
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", project_id=project["id"])
    assert (await ws.until("snapshot"))["data"]["project_id"] == project["id"]
    written = (
        await http.put(f"/projects/{project['id']}/files/app.py", json={"content": "x = 1\n"})
    ).json()
    changed = await ws.until("code_changed")
    assert changed["data"]["version_id"] == written["version_id"]
    assert changed["data"]["files"] == ["app.py"]
    unchanged = await http.put(
        f"/projects/{project['id']}/files/app.py", json={"content": "x = 1\n"}
    )
    assert unchanged.json()["changed"] is False
    await ws.send("ping")
    assert (await ws.until("pong"))["type"] == "pong", (
        "no code_changed for a write that changed nothing"
    )
    assert [e["type"] for e in ws.events].count("code_changed") == 1
    await ws.close()
