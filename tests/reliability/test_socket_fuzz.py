"""Socket fuzzing: random commands and malformed frames on `/ws` and raw Socket.IO packets.

After every batch the socket still answers a ping (or, where the protocol itself was broken,
a new connection does), every error is the error shape, nothing of another user's reaches the
fuzzing client, and the server log holds no unhandled exception."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.reliability.budget import scaled
from tests.reliability.frames import malformed_sio_packets, malformed_ws_frames, random_command
from tests.servers import RunningServer
from tests.stubs import TOKEN

# Socket frames behave the same whatever the database: SQLite only.
pytestmark = pytest.mark.sqlite_only

BATCH = 20
SECRET = "the-other-users-file-content-7d1f"


async def _two_users(http: httpx.AsyncClient) -> tuple[list[str], list[str]]:
    """Ids the fuzzer owns, and ids of another user (a project holding SECRET)."""
    own_project = (await http.post("/projects", json={"name": "fuzzed"})).json()["id"]
    own = (await http.post(f"/projects/{own_project}/sessions", json={})).json()["session_id"]
    other = (await http.post("/users", json={"email": "victim@example.com"})).json()
    async with httpx.AsyncClient(
        base_url=str(http.base_url), headers={"Authorization": f"Bearer {other['token']}"}
    ) as victim:
        project = (await victim.post("/projects", json={"name": "private"})).json()["id"]
        await victim.put(f"/projects/{project}/files/secret.py", json={"content": SECRET})
        session = (await victim.post(f"/projects/{project}/sessions", json={})).json()
    return [own_project, own], [project, session["session_id"]]


def _check_event(event: dict[str, Any], foreign: list[str]) -> None:
    text = json.dumps(event)
    assert SECRET not in text, event
    if event.get("type") == "error":
        data = event["data"]
        assert isinstance(data.get("code"), str) and isinstance(data.get("detail"), str), event
        assert set(data) - {"seq"} == {"code", "detail"}, event
    if event.get("type") in ("snapshot", "session_start"):
        assert not any(identifier in text for identifier in foreign), event


async def _ws_ping(socket: ClientConnection, ts: str, foreign: list[str]) -> int:
    """Ping; read every event up to its pong (checking each); how many came before it."""
    await socket.send(json.dumps({"type": "ping", "data": {"ts": ts}}))
    seen = 0
    while True:
        event = json.loads(await asyncio.wait_for(socket.recv(), 30))
        _check_event(event, foreign)
        if event["type"] == "pong" and event["data"].get("ts") == ts:
            return seen
        seen += 1


async def test_ws_survives_random_commands_and_malformed_frames(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    own, foreign = await _two_users(http)
    rng = random.Random(17)
    url = server.url.replace("http://", "ws://") + f"/ws?token={TOKEN}"
    frames: list[str | bytes] = malformed_ws_frames()
    for _ in range(scaled(300, 5000)):
        kind, data = random_command(rng, own + foreign)
        if kind == "chat":  # a chat that got through would start a run: not what this tests
            data = {"session_id": rng.choice(foreign)} if rng.random() < 0.5 else "x"
        frames.append(json.dumps({"type": kind, "data": data}))
    answered = 0
    async with connect(url, max_size=None) as socket:
        for start in range(0, len(frames), BATCH):
            for frame in frames[start : start + BATCH]:
                await socket.send(frame)
            answered += await _ws_ping(socket, f"batch-{start}", foreign)
    assert answered >= len(frames) // 2, "most bad frames are answered with an error"
    print(f"/ws: {len(frames)} frames, {answered} answers")
    assert server.crashes() == [], server.crashes()


async def _sio_open(server: RunningServer) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    socket = await connect(url, max_size=None)
    opened = await asyncio.wait_for(socket.recv(), 10)
    assert str(opened).startswith("0"), opened
    await socket.send("40" + json.dumps({"token": TOKEN}))
    while not str(connected := await asyncio.wait_for(socket.recv(), 10)).startswith("40"):
        pass
    assert '"sid"' in str(connected), connected
    return socket


async def _sio_ping(socket: ClientConnection, ts: str, foreign: list[str]) -> None:
    await socket.send("42" + json.dumps(["ping", {"ts": ts}]))
    while True:
        packet = str(await asyncio.wait_for(socket.recv(), 30))
        if packet == "2":  # engine.io's heartbeat
            await socket.send("3")
            continue
        if packet.startswith("42"):
            name, *args = json.loads(packet[2:])
            data = args[0] if args and isinstance(args[0], dict) else {}
            _check_event({"type": name, "data": data}, foreign)
            if name == "pong" and data.get("ts") == ts:
                return


async def test_socketio_survives_malformed_packets_and_random_commands(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    own, foreign = await _two_users(http)
    rng = random.Random(71)
    packets: list[str | bytes] = malformed_sio_packets()
    for index in range(scaled(200, 3000)):
        kind, data = random_command(rng, own + foreign)
        if kind == "chat":
            data = {"session_id": rng.choice(foreign)}
        packets.append(f"42{index}" + json.dumps([kind, data]))  # with an ack id
    socket = await _sio_open(server)
    reconnects = 0
    try:
        for start in range(0, len(packets), BATCH):
            for packet in packets[start : start + BATCH]:
                try:
                    await socket.send(packet)
                except ConnectionClosed:
                    break
            try:
                await _sio_ping(socket, f"batch-{start}", foreign)
            except (ConnectionClosed, TimeoutError):
                # A packet that breaks the protocol itself ends the connection (engine.io's
                # rule); the server must still take a new one.
                reconnects += 1
                await socket.close()
                socket = await _sio_open(server)
                await _sio_ping(socket, f"again-{start}", foreign)
    finally:
        await socket.close()
    print(f"socket.io: {len(packets)} packets, {reconnects} reconnects")
    assert server.crashes() == [], server.crashes()
