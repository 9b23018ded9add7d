"""Leases on the test suites a process runs, and the sweep that ends a dead server's.

A suite's runner holds `P:suite:SUITE` (its process id, expiring after `lease_ms`), taken as
the suite starts and renewed with the run leases. A suite still `running` past one lease after
it was created, with no lease, has lost its server: the process that wins `P:recover:SUITE`
ends its unfinished test runs as `error` (start-up recovery cannot: other processes' suites
are alive). A suite's rows are stored a moment before its lease is taken; the lease's length
is the grace that covers it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select

from vibeforge.db.engine import Database
from vibeforge.db.test_tables import TestSuiteRun
from vibeforge.db.types import utcnow
from vibeforge.scale.bus import RedisBus, unavailable
from vibeforge.statuses import TestStatus
from vibeforge.testcases.recovery import OWNER_DIED, end_cut_off

RECOVER_CLAIM_MS = 60_000


class SuiteLeaseKeeper:
    """This process's suite leases (the runner's `SuiteLeases`) and the dead-suite sweep."""

    def __init__(
        self,
        redis: aioredis.Redis,
        bus: RedisBus,
        key: Callable[[str, str], str],
        process_id: str,
        db: Database,
        lease_ms: int,
    ) -> None:
        self._redis, self._bus, self._key = redis, bus, key
        self._process_id, self._db, self._lease_ms = process_id, db, lease_ms
        self._local: set[str] = set()
        self.swept = 0

    async def hold(self, suite_id: str) -> None:
        """Take the suite's lease (Unavailable when Redis does not answer)."""
        try:
            await self._redis.set(self._key("suite", suite_id), self._process_id, px=self._lease_ms)
        except RedisError as error:
            raise unavailable(error) from None
        self._local.add(suite_id)

    def release(self, suite_id: str) -> None:
        """Drop the lease, in order after what the bus has queued."""
        if suite_id in self._local:
            self._local.discard(suite_id)
            self._bus.delete(self._key("suite", suite_id))

    async def renew(self) -> None:
        """Extend every lease this process holds (each heartbeat)."""
        if not self._local:
            return
        pipe = self._redis.pipeline(transaction=False)
        for suite_id in self._local:
            pipe.pexpire(self._key("suite", suite_id), self._lease_ms)
        await pipe.execute()

    async def sweep(self) -> list[str]:
        """End the running suites whose server's lease has expired; their ids."""
        settled = utcnow() - timedelta(milliseconds=self._lease_ms)
        async with self._db.transaction() as db:
            ids = list(
                await db.scalars(
                    select(TestSuiteRun.id).where(
                        TestSuiteRun.status == TestStatus.RUNNING,
                        TestSuiteRun.created_at < settled,
                    )
                )
            )
        ids = [suite_id for suite_id in ids if suite_id not in self._local]
        if not ids:
            return []
        leases = await self._redis.mget([self._key("suite", suite_id) for suite_id in ids])
        dead = []
        for suite_id, lease in zip(ids, leases, strict=True):
            claim = self._key("recover", f"suite-{suite_id}")
            if lease is None and await self._redis.set(
                claim, self._process_id, nx=True, px=RECOVER_CLAIM_MS
            ):
                dead.append(suite_id)
        if dead:
            await end_cut_off(self._db, dead, OWNER_DIED)
            self.swept += len(dead)
        return dead
