"""Lookups by key that arrive together, answered by one query.

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
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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
                for key, futures in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(values.get(key))
        except BaseException:
            for futures in (*batch.values(), *self._waiting.values()):
                for future in futures:
                    future.cancel()
            self._waiting = {}
            raise
        finally:
            self._runner = None
