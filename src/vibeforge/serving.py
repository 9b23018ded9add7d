"""The uvicorn server `vibeforge serve` runs: runs interrupted before sockets close, a main
loop that does not wake the process ten times a second, and the garbage collector's settings.

uvicorn's own main loop sleeps 0.1 s between ticks to refresh the `Date` header (once a
second) and to notice a stop. On this kind of machine (a VM, two cores) a wake-up from idle
costs 0.25-0.45 ms of CPU however little it does (`bench/streaming.py` measures the floor), so
the ticks alone cost an idle server 4-5 ms of CPU a second: at one stream of 20 chunks a
second, 0.2 ms per relayed chunk. Here the loop ticks once a second, which is as often as the
header changed anyway, and a stop wakes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import uvicorn

TICK_S = 1.0
# Allocations between two young-generation passes of the cyclic collector (CPython's default
# is 700). Measured at K = 200 (bench/streaming.py, stream, cancel and storm phases, two runs
# each): the default paused the loop 45-49 times over 2 ms, 320-350 ms in all, 67-70 ms at
# worst (the full passes); 50,000 paused it 6 times, 143-146 ms in all, 37-40 ms at worst,
# with chunk latency p99 12-21 ms against 22-25 and the storm's last `cancelled` 38-43 ms
# against 50-120. What the collector finds is the same garbage either way (cycles of
# finished tasks and their exceptions), found in fewer, larger passes over fewer survivors.
GC_YOUNG_THRESHOLD = 50_000
TICKS_PER_HEADER_REFRESH = 10  # uvicorn refreshes the Date header when counter % 10 == 0


def settle_garbage_collector() -> None:
    """Once everything is loaded: the objects that live as long as the server (modules, the
    app) are frozen out of the collector's passes, and its passes are made rarer."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class VibeforgeServer(uvicorn.Server):
    """Interrupts the runs while their clients are still connected (uvicorn closes the
    sockets before the application's shutdown), so live clients see `interrupted`; ticks once
    a second."""

    def __init__(
        self, config: uvicorn.Config, stop_runs: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        super().__init__(config)
        self._stop_runs = stop_runs
        self._exit_asked: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit_asked = asyncio.Event()
        if self.should_exit:
            self._exit_asked.set()
        counter = 0
        while not await self.on_tick(counter):
            counter += TICKS_PER_HEADER_REFRESH
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_asked.wait(), TICK_S)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler runs between two bytecodes of the main thread, maybe inside the
        # loop's own code: hand the wake-up to the loop instead of touching the event here.
        if self._loop is not None and self._exit_asked is not None:
            self._loop.call_soon_threadsafe(self._exit_asked.set)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        if self._stop_runs is not None:
            await self._stop_runs()
        await super().shutdown(sockets)
