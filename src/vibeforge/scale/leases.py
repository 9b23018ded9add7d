"""Leases on a process's background work (test suites, attachment extractions), and the
sweeps that take over a dead server's.

The process doing a piece of work holds `P:KIND:ID` (its process id, expiring after
`lease_ms`), taken as the work starts and renewed with the run leases. Work still pending a
lease after it was last touched, with no lease, has lost its server: the process that wins
`P:recover:KIND-ID` takes it over. A dead server's test suites are ended (their unfinished runs
`error`: start-up recovery cannot, other processes' suites are alive); its extractions are
started again. The rows are stored a moment before the lease is taken: the lease's length is
the grace that covers it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select

from vibeforge.db.attachment_tables import Attachment
from vibeforge.db.engine import Database
from vibeforge.db.test_tables import TestSuiteRun
from vibeforge.db.types import utcnow
from vibeforge.scale.bus import RedisBus, unavailable
from vibeforge.statuses import PENDING_ATTACHMENT, TestStatus
from vibeforge.testcases.recovery import OWNER_DIED, end_cut_off

RECOVER_CLAIM_MS = 60_000


class WorkLeases:
    """This process's leases on one kind of work (a `WorkLease` of the runs' coordination)."""

    def __init__(
        self,
        kind: str,
        redis: aioredis.Redis,
        bus: RedisBus,
        key: Callable[[str, str], str],
        process_id: str,
        lease_ms: int,
    ) -> None:
        self.kind = kind
        self.lease_ms = lease_ms
        self._redis, self._bus, self._key, self._process_id = redis, bus, key, process_id
        self._local: set[str] = set()
        self.taken_over = 0

    async def hold(self, work_id: str) -> None:
        """Take the work's lease (Unavailable when Redis does not answer)."""
        try:
            await self._redis.set(self._key(self.kind, work_id), self._process_id, px=self.lease_ms)
        except RedisError as error:
            raise unavailable(error) from None
        self._local.add(work_id)

    def release(self, work_id: str) -> None:
        """Drop the lease, in order after what the bus has queued."""
        if work_id in self._local:
            self._local.discard(work_id)
            self._bus.delete(self._key(self.kind, work_id))

    async def renew(self) -> None:
        """Extend every lease this process holds (each heartbeat)."""
        if not self._local:
            return
        pipe = self._redis.pipeline(transaction=False)
        for work_id in self._local:
            pipe.pexpire(self._key(self.kind, work_id), self.lease_ms)
        await pipe.execute()

    async def claim_dead(self, candidates: list[str]) -> list[str]:
        """Of work others may hold, what has no lease and this process won the right to take."""
        candidates = [work_id for work_id in candidates if work_id not in self._local]
        if not candidates:
            return []
        leases = await self._redis.mget([self._key(self.kind, work_id) for work_id in candidates])
        won = []
        for work_id, lease in zip(candidates, leases, strict=True):
            claim = self._key("recover", f"{self.kind}-{work_id}")
            if lease is None and await self._redis.set(
                claim, self._process_id, nx=True, px=RECOVER_CLAIM_MS
            ):
                won.append(work_id)
        self.taken_over += len(won)
        return won

    def settled(self) -> datetime:
        """The moment before which untouched pending work should be leased by now."""
        return utcnow() - timedelta(milliseconds=self.lease_ms)


async def end_dead_suites(leases: WorkLeases, db: Database) -> list[str]:
    """End the running suites whose server died; their ids."""
    async with db.transaction() as session:
        running = select(TestSuiteRun.id).where(
            TestSuiteRun.status == TestStatus.RUNNING, TestSuiteRun.created_at < leases.settled()
        )
        ids = list(await session.scalars(running))
    dead = await leases.claim_dead(ids)
    if dead:
        await end_cut_off(db, dead, OWNER_DIED)
    return dead


async def restart_dead_extractions(
    leases: WorkLeases, db: Database, restart: Callable[[Attachment], None]
) -> list[str]:
    """Extract again here what a dead server was extracting; the attachments' ids."""
    async with db.transaction() as session:
        pending = select(Attachment).where(
            Attachment.state.in_(list(PENDING_ATTACHMENT)), Attachment.updated_at < leases.settled()
        )
        rows = {row.id: row for row in await session.scalars(pending)}
    dead = await leases.claim_dead(list(rows))
    for attachment_id in dead:
        restart(rows[attachment_id])
    return dead
