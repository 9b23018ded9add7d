"""Answers kept for a few seconds, where misses asked together share one lookup.

A burst of run starts (100 chats at once) asks the same questions at the same moment: which
model config is this user's default, which budgets apply. A plain cache misses 100 times
before the first answer is in, and 100 identical queries then queue for the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedLookups(Generic[K, V]):
    """`get(key, look_up)`: the answer cached for `ttl_s`, or one `look_up()` shared by every
    caller that missed meanwhile. `forget` drops answers; a lookup already in flight then
    still answers its callers but is not kept (it may have read what was just changed)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._answers: dict[K, tuple[float, V]] = {}
        self._generation = 0
        self._asking: dict[tuple[K, int], asyncio.Task[V]] = {}

    async def get(
        self,
        key: K,
        look_up: Callable[[], Awaitable[V]],
        *,
        until: Callable[[V], float | None] | None = None,
    ) -> V:
        """The answer for `key`; `until` may say an answer goes stale sooner than `ttl_s` (a
        moment on the monotonic clock)."""
        kept = self._answers.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        asking_key = (key, self._generation)
        asking = self._asking.get(asking_key)
        if asking is None:
            asking = asyncio.get_running_loop().create_task(
                self._ask(key, self._generation, look_up, until)
            )
            self._asking[asking_key] = asking
            asking.add_done_callback(lambda done: self._asked(asking_key, done))
        # Shielded: a caller that gives up does not cancel the others' answer.
        return await asyncio.shield(asking)

    def forget(self, key: K | None = None) -> None:
        """Drop the answer for `key`, or every answer."""
        self._generation += 1
        if key is None:
            self._answers.clear()
        else:
            self._answers.pop(key, None)

    async def _ask(
        self,
        key: K,
        generation: int,
        look_up: Callable[[], Awaitable[V]],
        until: Callable[[V], float | None] | None,
    ) -> V:
        began = time.monotonic()
        answer = await look_up()
        if generation == self._generation:
            expiry = began + self.ttl_s
            sooner = until(answer) if until is not None else None
            self._answers[key] = (min(expiry, sooner) if sooner is not None else expiry, answer)
        return answer

    def _asked(self, asking_key: tuple[K, int], done: asyncio.Task[V]) -> None:
        if self._asking.get(asking_key) is done:
            del self._asking[asking_key]
        if not done.cancelled():
            done.exception()  # retrieved: its callers (if any are left) raise it
