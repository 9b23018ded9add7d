"""This process's part in a scaled-out deployment: run leases, cancels that cross processes,
and the sweep that closes a dead owner's runs. It is the run registry's `Coordinator`.

A run's owner holds `P:lease:RUN` ("PROCESS USER", expiring after `lease_ms`) and
`P:active:SESSION` (the run id), renewed every `heartbeat_ms`; both are taken before the run's
rows exist, so a `running` run without a live lease has lost its owner. Every process sweeps
for such runs each heartbeat (and once at start-up); the one that wins `P:recover:RUN` closes
the run as `interrupted` from its Redis journal, keeping every chunk a client was shown, and
tells the session's clients. A cancel for a run owned elsewhere is a control message to the
owner, answered once the owner has stored the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select

from vibeforge.db.attachment_tables import Attachment
from vibeforge.db.chat_tables import ChatSession, Run
from vibeforge.db.engine import Database
from vibeforge.errors import Unavailable
from vibeforge.runs import reasons
from vibeforge.runs.coordination import Journal
from vibeforge.runs.events import Event
from vibeforge.runs.journal import RecoveredRun, leftover_journals, parse_journal
from vibeforge.runs.protocol import Interrupted, event_data
from vibeforge.runs.store import RunStore
from vibeforge.scale.bus import BusUnavailable, RedisBus, unavailable
from vibeforge.scale.leases import WorkLeases, end_dead_suites, restart_dead_extractions
from vibeforge.statuses import RunStatus

if TYPE_CHECKING:
    from vibeforge.runs.registry import RunRegistry

log = logging.getLogger("vibeforge.scale")

CANCEL_WAIT_S = 6.0
SESSION_LOCK_S = 15.0
GIT_LOCK_S = 60.0
RECOVER_CLAIM_MS = 60_000
BUS_LOST = "the event bus (Redis) became unavailable during this run"
LEASE_LOST = "this server lost the run's lease (it stalled longer than the lease)"


class RedisJournal:
    """A run's journal as a Redis list, written by the bus before the run's events."""

    def __init__(self, bus: RedisBus, run_id: str) -> None:
        self._bus = bus
        self._run_id = run_id

    def append(self, event: Event) -> None:
        """Queue the line ahead of the event's publication."""
        self._bus.journal(self._run_id, event)

    def flush(self) -> None:
        """Nothing to write here: the bus sends the lines ahead of the events they precede."""

    def close(self) -> None:
        """Nothing is held open."""

    def discard(self) -> None:
        """Delete the list: the outcome is committed."""
        self._bus.delete(self._bus.journal_key(self._run_id))


class Cluster:
    """Leases, remote cancels and dead-owner sweeps for one server process."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        db: Database,
        store: RunStore,
        *,
        lease_ms: int,
        heartbeat_ms: int,
    ) -> None:
        self.process_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.redis = aioredis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=5, retry_on_timeout=False
        )
        self.prefix = prefix
        self.bus = RedisBus(self.redis, prefix, self.process_id)
        self.bus.on_control = self._control
        self.bus.on_down = self._bus_down
        self.lease_ms = lease_ms
        self.heartbeat_s = heartbeat_ms / 1000
        self._db = db
        self._store = store
        self.registry: RunRegistry | None = None  # set by Services.build
        self._local: dict[str, str] = {}  # run id -> session id, for the runs this one owns
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self._task: asyncio.Task[None] | None = None
        self._interrupting: set[asyncio.Task[list[str]]] = set()
        self.swept = 0
        self.leases_lost = 0
        leases = (self.redis, self.bus, self._key, self.process_id, lease_ms)
        self.suites = WorkLeases("suite", *leases)
        self.extractions = WorkLeases("extract", *leases)
        self.restart_extraction: Callable[[Attachment], None] | None = None  # Services.build

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    # -- the Coordinator interface -----------------------------------------------------------

    def check_ready(self) -> None:
        """Refuse new runs while Redis is unreachable."""
        if not self.bus.healthy:
            raise BusUnavailable(
                "the event bus (Redis) is unavailable, so this server refuses new runs rather "
                f"than run them unseen by the other servers ({self.bus.outage})"
            )

    def session_lock(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """A Redis lock held while a session's active run changes hands."""
        return self._lock("slock", session_id, SESSION_LOCK_S, f"session {session_id}")

    def git_lock(self, project_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """A Redis lock around a project's commit, so writers of every process take turns
        (the commit's compare-and-swap still refuses a lost update if a lock ever expired)."""
        return self._lock("gitlock", project_id, GIT_LOCK_S, f"project {project_id}")

    @contextlib.asynccontextmanager
    async def _lock(self, kind: str, name: str, hold_s: float, what: str) -> AsyncIterator[None]:
        lock = self.redis.lock(
            self._key(kind, name), timeout=hold_s, sleep=0.005, blocking_timeout=hold_s
        )
        try:
            acquired = await lock.acquire()
        except RedisError as error:
            raise unavailable(error) from None
        if not acquired:
            raise Unavailable(f"{what} is busy in another server; try again")
        try:
            yield
        finally:
            with contextlib.suppress(RedisError):
                await lock.release()

    async def running_elsewhere(self, session_id: str) -> str | None:
        """The session's run if a live lease of another process holds it."""
        run_id = await self._get(self._key("active", session_id))
        if run_id is None:
            return None
        owner, _ = await self._lease(run_id)
        return run_id if owner is not None and owner != self.process_id else None

    async def cancel_elsewhere(self, run_id: str, reason: str, user_id: str | None = None) -> bool:
        """Ask the run's owner to cancel it (only if it is `user_id`'s run, when given);
        True once the owner has stored the outcome. The lease names the user, so a cancel
        costs no database read before it is on its way."""
        owner, lease_user = await self._lease(run_id)
        if owner is None or owner == self.process_id:
            return False
        if user_id is not None and lease_user != user_id:
            return False
        request = uuid.uuid4().hex
        answer = self._pending[request] = asyncio.get_running_loop().create_future()
        message = {"op": "cancel", "run_id": run_id, "reason": reason}
        self.bus.send_control(owner, {**message, "reply_to": self.process_id, "req": request})
        try:
            return await asyncio.wait_for(answer, CANCEL_WAIT_S)
        except TimeoutError:
            log.warning("process %s did not answer a cancel of run %s", owner, run_id)
            await self.sweep()  # it may have died: close its runs now rather than later
            return False
        finally:
            self._pending.pop(request, None)

    async def seq_floor(self, session_id: str, stored: int) -> int:
        """The highest seq used for the session by any process, Redis or the database."""
        async with self._db.transaction() as db:
            in_db = await db.scalar(
                select(ChatSession.last_seq).where(ChatSession.id == session_id)
            )
        in_redis = await self.bus.last_seq(session_id)
        return max(stored, in_db or 0, in_redis)

    def journal(self, directory: Path, run_id: str) -> Journal:
        """The run's journal in Redis, readable by the other processes."""
        return RedisJournal(self.bus, run_id)

    async def claim(self, run_id: str, session_id: str, user_id: str) -> None:
        """Take the run's lease and mark it the session's active run."""
        try:
            pipe = self.redis.pipeline(transaction=True)
            lease = f"{self.process_id} {user_id}"
            pipe.set(self._key("lease", run_id), lease, px=self.lease_ms)
            pipe.set(self._key("active", session_id), run_id, px=self.lease_ms)
            await pipe.execute()
        except RedisError as error:
            raise unavailable(error) from None
        self._local[run_id] = session_id

    def release(self, run_id: str, session_id: str) -> None:
        """Drop the lease, after every event of the run queued before this."""
        if self._local.pop(run_id, None) is not None:
            self.bus.delete(self._key("lease", run_id))

    # -- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the bus (raising when Redis does not answer) and start the heartbeat."""
        try:
            await self.bus.start()
        except (RedisError, OSError, TimeoutError) as error:
            raise BusUnavailable(
                f"VIBEFORGE_REDIS_URL is set but Redis does not answer: {error}"
            ) from None
        self._task = asyncio.create_task(self._heartbeat(), name="cluster-heartbeat")

    async def close(self) -> None:
        """Stop the heartbeat and the bus (the registry has stopped its runs)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.bus.close()

    def state(self) -> dict[str, Any]:
        """For /health: this process, its leases, and the bus."""
        return {
            "status": "ok" if self.bus.healthy else "unavailable",
            "process_id": self.process_id,
            "leases": {
                "held": len(self._local),
                "lease_ms": self.lease_ms,
                "heartbeat_ms": int(self.heartbeat_s * 1000),
                "lost": self.leases_lost,
                "dead_runs_closed": self.swept,
                "dead_suites_closed": self.suites.taken_over,
                "dead_extractions_restarted": self.extractions.taken_over,
            },
            "bus": self.bus.state(),
        }

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if not self.bus.healthy:
                continue
            try:
                await self._renew()
                await self.suites.renew()
                await self.extractions.renew()
                await self.sweep()
                await self.sweep_work()
            except (RedisError, OSError) as error:
                log.warning("lease heartbeat failed: %s", error)
            except Exception:
                log.exception("lease heartbeat failed")

    async def _renew(self) -> None:
        runs = list(self._local.items())
        if not runs:
            return
        pipe = self.redis.pipeline(transaction=False)
        for run_id, session_id in runs:
            pipe.pexpire(self._key("lease", run_id), self.lease_ms)
            pipe.pexpire(self._key("active", session_id), self.lease_ms)
        renewed = await pipe.execute()
        lost = [run_id for (run_id, _), ok in zip(runs, renewed[::2], strict=True) if not ok]
        if lost and self.registry is not None:
            # Another process may be closing these as dead already: stop them here.
            self.leases_lost += len(lost)
            log.error("lost the lease of runs %s: interrupting them", lost)
            await self.registry.interrupt_where(lambda run: run.id in lost, LEASE_LOST)

    async def sweep(self) -> list[str]:
        """Close the running runs whose owner's lease has expired; their ids."""
        async with self._db.transaction() as db:
            rows = (
                await db.execute(
                    select(Run.id, Run.session_id, Run.assistant_message_id).where(
                        Run.status == RunStatus.RUNNING
                    )
                )
            ).all()
        rows = [row for row in rows if row.id not in self._local]
        if not rows:
            return []
        leases = await self.redis.mget([self._key("lease", row.id) for row in rows])
        closed = []
        for row, lease in zip(rows, leases, strict=True):
            if lease is not None:
                continue
            claim = self._key("recover", row.id)
            if await self.redis.set(claim, self.process_id, nx=True, px=RECOVER_CLAIM_MS):
                await self._close_dead(row.id, row.session_id, row.assistant_message_id)
                closed.append(row.id)
        return closed

    async def _close_dead(self, run_id: str, session_id: str, message_id: str) -> None:
        """Close a dead owner's run from its Redis journal, and tell its session."""
        async with self.session_lock(session_id):
            lines = await self.redis.lrange(self.bus.journal_key(run_id), 0, -1)
            journal = parse_journal(RecoveredRun(run_id=run_id), (_line(raw) for raw in lines))
            seq = await self.seq_floor(session_id, journal.last_seq) + 1
            closed = await self._store.close_from_journal(journal, seq)
            async with self._db.transaction() as db:
                project_id = await db.scalar(
                    select(ChatSession.project_id).where(ChatSession.id == session_id)
                )
            data = {"run_id": run_id, **event_data(Interrupted(message_id, closed.reason))}
            event = Event.make(
                "interrupted", data, project_id=project_id or "", session_id=session_id, seq=seq
            )
            self.bus.publish(event)
            self.bus.delete(self.bus.journal_key(run_id))
        self.swept += 1
        log.warning(
            "closed run %s of a dead server as %s: %s (%d chunks kept)",
            run_id,
            closed.status,
            closed.reason,
            sum(1 for event in journal.events if event.type == "chunk"),
            extra={"run_id": run_id, "status": str(closed.status)},
        )

    async def recover_at_start(self, journal_dir: Path) -> int:
        """Start-up recovery for a process among others: only runs whose lease expired, from
        the Redis journals, and file journals left by a run alone whose lease is gone."""
        count = 0
        for journal in leftover_journals(journal_dir):
            if await self._get(self._key("lease", journal.run_id)) is None:
                await self._store.close_from_journal(journal)
                if journal.path is not None:
                    journal.path.unlink(missing_ok=True)
                count += 1
        await self.sweep_work()
        return count + len(await self.sweep())

    async def sweep_work(self) -> None:
        """Take over a dead server's test suites (ended) and extractions (started again)."""
        await end_dead_suites(self.suites, self._db)
        if self.restart_extraction is not None:
            await restart_dead_extractions(self.extractions, self._db, self.restart_extraction)

    async def _control(self, message: dict[str, Any]) -> None:
        """A control message for this process: a cancel to carry out, or an answer."""
        if message.get("op") == "cancel" and self.registry is not None:
            run_id = str(message["run_id"])
            reason = str(message.get("reason") or reasons.BY_USER)
            ids = await self.registry.cancel_where(lambda run: run.id == run_id, reason)
            answer = {"op": "cancelled", "req": message.get("req"), "found": bool(ids)}
            self.bus.send_control(str(message["reply_to"]), answer)
        elif message.get("op") == "cancelled":
            waiting = self._pending.get(str(message.get("req")))
            if waiting is not None and not waiting.done():
                waiting.set_result(bool(message.get("found")))

    def _bus_down(self, why: str) -> None:
        """Redis is gone: the runs here can no longer be seen or journaled elsewhere, so they
        end now as interrupted, their content stored from memory in the database."""
        if self.registry is not None and self._local:
            log.error("interrupting %d runs: %s", len(self._local), why)
            task = asyncio.get_running_loop().create_task(
                self.registry.interrupt_where(lambda _: True, BUS_LOST), name="bus-loss"
            )
            self._interrupting.add(task)
            task.add_done_callback(self._interrupting.discard)

    async def _lease(self, run_id: str) -> tuple[str | None, str | None]:
        """The process holding a run's lease and the run's user (None, None: no lease)."""
        lease = await self._get(self._key("lease", run_id))
        if lease is None:
            return None, None
        process, _, user = lease.partition(" ")
        return process, user

    async def _get(self, key: str) -> str | None:
        try:
            value = await self.redis.get(key)
        except RedisError as error:
            raise unavailable(error) from None
        return value.decode() if isinstance(value, bytes) else value


def _line(raw: bytes | str) -> bytes:
    data = raw.encode() if isinstance(raw, str) else raw
    return data + b"\n"
