"""The server `vibeforge serve` runs: ticks once a second (not uvicorn's ten), keeps the Date
header fresh, and stops at once when asked."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from email.utils import parsedate_to_datetime

import httpx
import uvicorn

from tests.stubs import until
from vibeforge.serving import VibeforgeServer


async def hello(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"hi"})  # type: ignore[operator]


class Counted(VibeforgeServer):
    ticks = 0

    async def on_tick(self, counter: int) -> bool:
        self.ticks += 1
        return await super().on_tick(counter)


async def test_an_idle_server_ticks_once_a_second_and_stops_at_once() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    stopped: list[str] = []
    config = uvicorn.Config(hello, log_level="warning", lifespan="off")

    async def stop_runs() -> None:
        stopped.append("runs")

    server = Counted(config, stop_runs=stop_runs)
    # uvicorn raises the signal that stopped it again once it is done (so that a process
    # ends the way the signal says): let that one do nothing to the test process.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/")
    assert response.text == "hi"
    age = time.time() - parsedate_to_datetime(response.headers["date"]).timestamp()
    assert -1 <= age <= 2, "the Date header is refreshed every tick"
    ticks_before = server.ticks
    await asyncio.sleep(2.2)
    assert 2 <= server.ticks - ticks_before <= 3, "uvicorn's own loop ticks 22 times here"
    asked = time.monotonic()
    server.handle_exit(signal.SIGTERM, None)
    try:
        await asyncio.wait_for(serving, 5)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert time.monotonic() - asked < 0.5, "a stop does not wait for the next tick"
    assert stopped == ["runs"], "runs are interrupted before the sockets close"


def test_the_collector_is_settled_once_everything_is_loaded() -> None:
    import gc

    from vibeforge.serving import GC_YOUNG_THRESHOLD, settle_garbage_collector

    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    try:
        settle_garbage_collector()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > frozen, "what is loaded now stays out of later passes"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
