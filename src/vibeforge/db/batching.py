"""Lookups by key that arrive together, answered by one query; writes, likewise, in one
transaction.

Under a burst (100 chats sent at once), every run start looks up its session and its project.
One query per caller means a hundred transactions, each several round trips to the database
thread, each round trip waiting behind everything else the event loop has to do; they also
hold pooled connections that `/health` then waits for. A `KeyedBatch` runs one query at a
time: the keys asked for while it runs are fetched together by the next one. An idle server
pays one loop iteration more per lookup, nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

# Callers resumed per loop iteration (in a burst of 100 run starts, 8 gave /health p99 39-60 ms
# and 4 gave 34-48, the runs reaching the provider a little later: 219-243 ms against 182-210).
WAKE_AT_ONCE = 4
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
R = TypeVar("R")


class KeyedBatch(Generic[K, V]):
    """`get(key)` answered by `fetch(keys)`, which returns what it found by key."""

    def __init__(self, fetch: Callable[[set[K]], Awaitable[dict[K, V]]]) -> None:
        self._fetch = fetch
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._runner: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        """The value of `key`, or None when the fetch found none."""
        loop = asyncio.get_running_loop()
        found: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(found)
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        return await found

    async def _run(self) -> None:
        batch: dict[K, list[asyncio.Future[V | None]]] = {}
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                try:
                    values = await self._fetch(set(batch))
                except Exception as error:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(error)
                    continue
                for count, (key, futures) in enumerate(batch.items(), 1):
                    for future in futures:
                        if not future.done():
                            future.set_result(values.get(key))
                    await _pace(count)
        except BaseException:
            for futures in (*batch.values(), *self._waiting.values()):
                for future in futures:
                    future.cancel()
            self._waiting = {}
            raise
        finally:
            self._runner = None


class WriteBatches(Generic[T, R]):
    """Writes asked for while a batch is being written go into the next batch, written by
    `write(items)` in one transaction (returning one result per item, in order). A batch
    that fails is written again item by item, so one bad item fails only its own caller.
    A caller cancelled while waiting does not unwrite its item: `abandoned` gets the result
    of an item written for a caller that went away."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[list[R]]],
        abandoned: Callable[[R], None] | None = None,
    ) -> None:
        self._write, self._abandoned = write, abandoned
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write `item` with whatever else is waiting; its result."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        self._queued.append((item, done))
        if self._writer is None:
            self._writer = loop.create_task(self._run())
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            if self._abandoned is not None:
                done.add_done_callback(self._give_up)
            raise

    def _give_up(self, done: asyncio.Future[R]) -> None:
        if not done.cancelled() and done.exception() is None and self._abandoned is not None:
            self._abandoned(done.result())

    async def _run(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    results = await self._write([item for item, _ in batch])
                    for count, ((_, done), result) in enumerate(
                        zip(batch, results, strict=True), 1
                    ):
                        _resolve(done, result)
                        await _pace(count)
                except Exception:
                    for item, done in batch:
                        try:
                            _resolve(done, (await self._write([item]))[0])
                        except Exception as error:
                            _resolve(done, error)
        except BaseException:
            for _, done in (*batch, *self._queued):
                if not done.done():
                    done.cancel()
            self._queued = []
            raise
        finally:
            self._writer = None


async def _pace(count: int) -> None:
    """Let the loop breathe after every few callers woken: each resumes with work of its own
    (a run start is about 2 ms of CPU until its request is sent), and a hundred woken at
    once would hold the loop for the sum of them, stalling every other client (/health)."""
    if count % WAKE_AT_ONCE == 0:
        await asyncio.sleep(0)


def _resolve(done: asyncio.Future[Any], outcome: Any) -> None:
    if done.done():
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
