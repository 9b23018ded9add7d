"""SharedLookups: answers kept a few seconds, and misses asked together answered by one lookup."""

from __future__ import annotations

import asyncio
import time

import pytest

from vibeforge.caching import SharedLookups


class Counted:
    """A lookup that counts its calls and answers when the test lets it."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def __call__(self) -> int:
        self.calls += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return self.calls


async def test_misses_asked_together_share_one_lookup() -> None:
    cache: SharedLookups[str, int] = SharedLookups(60)
    look_up = Counted()
    look_up.release.clear()
    waiting = [asyncio.create_task(cache.get("k", look_up)) for _ in range(100)]
    await asyncio.sleep(0)
    look_up.release.set()
    assert await asyncio.gather(*waiting) == [1] * 100
    assert look_up.calls == 1
    assert await cache.get("k", look_up) == 1 and look_up.calls == 1, "kept"
    assert await cache.get("other", look_up) == 2, "keys are apart"


async def test_an_answer_is_asked_again_once_it_is_old() -> None:
    cache: SharedLookups[str, int] = SharedLookups(0.05)
    look_up = Counted()
    assert await cache.get("k", look_up) == 1
    await asyncio.sleep(0.06)
    assert await cache.get("k", look_up) == 2


async def test_until_makes_an_answer_stale_sooner() -> None:
    cache: SharedLookups[str, int] = SharedLookups(60)
    look_up = Counted()
    soon = time.monotonic() + 0.05
    assert await cache.get("k", look_up, until=lambda _: soon) == 1
    assert await cache.get("k", look_up, until=lambda _: soon) == 1
    await asyncio.sleep(0.06)
    assert await cache.get("k", look_up, until=lambda _: None) == 2


async def test_an_answer_read_before_a_change_is_not_kept() -> None:
    cache: SharedLookups[str, int] = SharedLookups(60)
    look_up = Counted()
    look_up.release.clear()
    in_flight = asyncio.create_task(cache.get("k", look_up))
    await asyncio.sleep(0)
    cache.forget("k")  # changed while the lookup read the old state
    look_up.release.set()
    assert await in_flight == 1, "its caller still gets an answer"
    assert await cache.get("k", look_up) == 2, "but it was not kept"


async def test_a_failed_lookup_fails_its_callers_and_is_not_kept() -> None:
    cache: SharedLookups[str, int] = SharedLookups(60)
    look_up = Counted()
    look_up.fail = RuntimeError("database away")
    look_up.release.clear()
    waiting = [asyncio.create_task(cache.get("k", look_up)) for _ in range(3)]
    await asyncio.sleep(0)
    look_up.release.set()
    for outcome in await asyncio.gather(*waiting, return_exceptions=True):
        assert isinstance(outcome, RuntimeError)
    look_up.fail = None
    assert await cache.get("k", look_up) == 2


async def test_a_caller_that_gives_up_does_not_cancel_the_others() -> None:
    cache: SharedLookups[str, int] = SharedLookups(60)
    look_up = Counted()
    look_up.release.clear()
    impatient = asyncio.create_task(cache.get("k", look_up))
    patient = asyncio.create_task(cache.get("k", look_up))
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    look_up.release.set()
    assert await patient == 1
