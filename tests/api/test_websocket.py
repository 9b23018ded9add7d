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


async def test_frames_that_are_not_json_envelopes_get_an_error(server: RunningServer) -> None:
    """The framing of /ws; what is inside a well-framed command is tested on both transports
    in test_socket_protocol."""
    ws = await WsClient.open(server.url, TOKEN)
    await ws.connection.send("{not json")
    assert (await ws.until("error"))["data"] == {
        "code": "malformed_json",
        "detail": "not valid JSON",
    }
    await ws.connection.send(json.dumps([1, 2]))
    assert (await ws.until("error"))["data"]["code"] == "invalid_input"
    await ws.connection.send(b'{"type": "ping", "data": {"ts": 2}}')
    assert (await ws.until("pong"))["data"]["ts"] == 2, "a UTF-8 binary frame is a message"
    await ws.connection.send(json.dumps({"type": "ping", "ts": 3}))
    assert (await ws.until("pong"))["data"]["ts"] == 3, "a flat message is accepted"
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
                # Read again only once the server has cut the client off (within its
                # keepalive window, as a client that paused would); the close code it then
                # finds after the backlog says why.
                await until(lambda: "events behind: cut off" in running.log(), within=60)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
            for _ in range(400):
                items = (await http.get(f"/sessions/{session['session_id']}/messages")).json()
                if items["items"] and items["items"][-1]["status"] == "success":
                    break
                await asyncio.sleep(0.05)
            assert items["items"][-1]["status"] == "success", "the run finished regardless"
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
