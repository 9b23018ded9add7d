"""The database's health as /health reports it: kept for a second, renewed without making the
caller wait, and never stuck at "ok" while the database does not answer."""

import asyncio

import httpx

from vibeforge.db.health import DatabaseHealth


class Pings:
    """A ping whose answers (or hang) the test sets, counting the calls."""

    def __init__(self) -> None:
        self.answer: bool | Exception = True
        self.hang = asyncio.Event()
        self.hang.set()
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        await self.hang.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_the_first_call_waits_for_a_real_answer_and_later_ones_reuse_it() -> None:
    pings = Pings()
    health = DatabaseHealth(pings, max_age_s=60)
    first = await health.state()
    assert first.ok and pings.calls == 1
    for _ in range(5):
        assert (await health.state()).ok
    assert pings.calls == 1, "a fresh answer is not asked again"


async def test_a_stale_answer_is_renewed_in_the_background() -> None:
    pings = Pings()
    health = DatabaseHealth(pings, max_age_s=0.01)
    assert (await health.state()).ok
    pings.answer = False
    pings.hang.clear()  # the renewal will not answer until the test says so
    await asyncio.sleep(0.02)
    stale = await health.state()
    assert stale.ok, "the caller got the last answer at once, not the pending one"
    assert stale.checked_ms_ago >= 10
    await asyncio.sleep(0)
    assert pings.calls == 2
    pings.hang.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not (await health.state()).ok


async def test_a_check_that_does_not_answer_reports_the_database_unavailable() -> None:
    pings = Pings()
    health = DatabaseHealth(pings, max_age_s=0.01, stuck_after_s=0.05)
    assert (await health.state()).ok
    pings.hang.clear()
    await asyncio.sleep(0.02)
    assert (await health.state()).ok  # asked just now: not stuck yet
    await asyncio.sleep(0.06)
    assert not (await health.state()).ok
    assert pings.calls == 2, "one check in flight at a time"
    await health.close()


async def test_a_first_check_that_hangs_answers_unavailable_after_the_limit() -> None:
    pings = Pings()
    pings.hang.clear()
    health = DatabaseHealth(pings, stuck_after_s=0.05)
    assert not (await asyncio.wait_for(health.state(), 1)).ok
    await health.close()


async def test_a_ping_that_raises_is_unavailable() -> None:
    pings = Pings()
    pings.answer = RuntimeError("connection refused")
    assert not (await DatabaseHealth(pings).state()).ok


async def test_health_reports_a_database_that_stopped_answering(app: object) -> None:
    services = app.state.services  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        assert (await anonymous.get("/health")).json()["database"] == "ok"

        async def refused() -> bool:
            return False

        services.db.health = DatabaseHealth(refused)
        health = (await anonymous.get("/health")).json()
    assert health["database"] == "unavailable"
    assert health["status"] == "degraded"
    assert health["database_checked_ms_ago"] >= 0
