"""The Redis event bus: the in-process bus's interface, shared by every server process.

Every event goes to Redis first and reaches subscribers only once Redis has it: the
publisher's own subscribers when Redis answers the publish, the other processes' from the
channel. No process shows a client an event Redis does not hold. A session event is added to
the session's Redis stream under the entry id `SEQ-0`: Redis refuses an id that is not above
the stream's last one, so a `seq` is used once across the cluster (an event that would reuse
one is dropped and logged, never delivered). The stream keeps the newest `REPLAY_EVENTS`
events for a reconnecting client of any process; older ones come from the database (the
snapshot). A run's journal is a Redis list written before its events are published, so the
survivors of a dead owner can read it.

Keys (under the configured prefix P): `P:events:SESSION` (stream), `P:journal:RUN` (list);
channels `P:bus` (every event, to every process, as `PUBLISHER\nWIRE`) and `P:ctl:PROCESS`
(control messages). Publishing is synchronous for callers: events queue for one writer task
that sends them in order, pipelined. Redis unreachable: `healthy` turns false, subscribers are
cut off (they reconnect and replay once it is back) and `on_down` tells the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from vibeforge.errors import Unavailable
from vibeforge.runs.bus import DEFAULT_QUEUE_SIZE, InProcessBus, Subscription
from vibeforge.runs.events import Event

log = logging.getLogger("vibeforge.scale")

REPLAY_EVENTS = 4096
STREAM_TTL_MS = 24 * 3600 * 1000  # an idle session's stream goes; the database has the rest
JOURNAL_TTL_MS = 24 * 3600 * 1000
BATCH = 512
RETRY_S = 0.5
MAX_QUEUED = 100_000

# Add a session event to its stream and publish it, or neither when its seq was used.
PUBLISH_SESSION_EVENT = """
local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[1] .. '-0', 'e', ARGV[2])
if type(added) == 'table' and added.err then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

Op = tuple[str, Any, Any]


class BusUnavailable(Unavailable):
    """Scale-out cannot work without Redis: refused rather than run in one process alone."""

    code = "bus_unavailable"


def unavailable(error: Exception) -> BusUnavailable:
    """The error for a client when a Redis call failed; the details (hosts) go to the log."""
    log.warning("event bus: a Redis call failed: %s", error)
    return BusUnavailable("the event bus (Redis) is unavailable; try again once it is back")


class RedisBus:
    """Publishes through Redis; delivers what Redis publishes to this process's subscribers."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        process_id: str,
        *,
        replay_events: int = REPLAY_EVENTS,
    ) -> None:
        self.redis = redis
        self.replay_events = replay_events
        self.prefix = prefix
        self.process_id = process_id
        self.channel = f"{prefix}:bus"
        self.control_channel = f"{prefix}:ctl:{process_id}"
        self.healthy = False
        self.last_error: str | None = None
        self.published = 0
        self.refused_seqs = 0
        self.on_down: Callable[[str], None] | None = None
        self.on_control: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self._local = InProcessBus()
        self._subscriptions: set[Subscription] = set()
        # Bounded for an outage: what piles up while Redis is away was seen by nobody.
        self._ops: deque[Op] = deque(maxlen=MAX_QUEUED)
        self._reading = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits to be sent
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    def events_key(self, session_id: str) -> str:
        """The Redis stream of a session's recent events."""
        return f"{self.prefix}:events:{session_id}"

    def journal_key(self, run_id: str) -> str:
        """The Redis list journaling a run's events."""
        return f"{self.prefix}:journal:{run_id}"

    # -- the bus interface -------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Queue an event for Redis; subscribers get it when Redis publishes it."""
        self._push(("event", event, None))

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        """A new subscription following no topic yet."""
        subscription = self._local.subscribe(maxsize)
        self._subscriptions.add(subscription)
        return subscription

    def follow(self, subscription: Subscription, topic: str) -> None:
        """Add a topic; every process receives every event, so nothing to ask Redis."""
        self._local.follow(subscription, topic)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to a subscription."""
        self._subscriptions.discard(subscription)
        self._local.unsubscribe(subscription)

    def backlog(self) -> int:
        """Events waiting to go to Redis (or being sent), and those received but not taken."""
        sending = 0 if self._idle.is_set() else 1
        taken = sum(subscription.pending() for subscription in self._subscriptions)
        return len(self._ops) + sending + taken

    # -- what only the Redis bus has ---------------------------------------------------------

    def journal(self, run_id: str, event: Event) -> None:
        """Queue a journal line; it is written before any event queued after it."""
        self._push(("journal", run_id, event.wire))

    def delete(self, key: str) -> None:
        """Queue the deletion of a key (after everything queued before)."""
        self._push(("delete", key, None))

    def send_control(self, process_id: str, message: dict[str, Any]) -> None:
        """Queue a control message for a process (after every event queued before it)."""
        self._push(("control", f"{self.prefix}:ctl:{process_id}", json.dumps(message)))

    async def replay(self, session_id: str, after_seq: int) -> list[Event] | None:
        """The session's events after `after_seq` from Redis, or None when some of them are
        no longer held there."""
        try:
            key = self.events_key(session_id)
            entries = await self.redis.xrange(key, f"{after_seq + 1}-0", "+")
        except RedisError as error:
            raise unavailable(error) from None
        events = [Event.from_wire(_text(fields[b"e"])) for _, fields in entries]
        if events and events[0].seq != after_seq + 1:
            return None
        if not events and await self.last_seq(session_id) > after_seq:
            return None
        return events

    async def last_seq(self, session_id: str) -> int:
        """The highest seq Redis holds for the session (0 when none)."""
        try:
            newest = await self.redis.xrevrange(self.events_key(session_id), "+", "-", count=1)
        except RedisError as error:
            raise unavailable(error) from None
        return int(_text(newest[0][0]).split("-")[0]) if newest else 0

    def state(self) -> dict[str, Any]:
        """For /health."""
        return {
            "backend": "redis",
            "status": "ok" if self.healthy else "unavailable",
            "error": None if self.healthy else self.outage,
            "queued": len(self._ops),
            "published": self.published,
            "refused_seqs": self.refused_seqs,
        }

    # -- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and subscribe; returns once events can flow (or raises RedisError)."""
        await self.redis.ping()
        self._tasks = [
            asyncio.create_task(self._read(), name="redis-bus-reader"),
            asyncio.create_task(self._write(), name="redis-bus-writer"),
        ]
        await asyncio.wait_for(self._ready.wait(), 10)

    async def close(self) -> None:
        """Send what is queued (briefly), then stop."""
        if self.healthy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.redis.aclose()

    @property
    def outage(self) -> str | None:
        """What went wrong, without the error's details (they name hosts and ports: /health
        answers anyone; the log has them)."""
        return self.last_error.split(":")[0] if self.last_error else None

    def _stamped(self, event: Event) -> str:
        """The event as published on the channel: its publisher's id, a newline, its wire."""
        return f"{self.process_id}\n{event.wire}"

    def _push(self, op: Op) -> None:
        self._ops.append(op)
        self._idle.clear()
        self._wake.set()

    async def _write(self) -> None:
        while True:
            if not self._ops:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            batch = [self._ops.popleft() for _ in range(min(BATCH, len(self._ops)))]
            try:
                await self._send(batch)
                if not self.healthy and self._reading:
                    self._up()  # a failed write, then a good one, while still subscribed
            except (RedisError, OSError) as error:
                # What was not sent was seen by nobody; the runs it belongs to are being
                # interrupted (on_down) and keep their content in memory for the database.
                self._down(f"publishing failed: {error}")
                await asyncio.sleep(RETRY_S)

    async def _send(self, batch: list[Op]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        sent: list[Event | None] = []
        for kind, first, second in batch:
            if kind == "event":
                event: Event = first
                if event.session_id is not None and event.seq:
                    keys = [self.events_key(event.session_id)]
                    args = [event.seq, event.wire, self.replay_events, STREAM_TTL_MS, self.channel]
                    args.append(self._stamped(event))
                    # EVAL, not EVALSHA: no SCRIPT EXISTS round trip per batch, and nothing
                    # to reload after a Redis restart (Redis caches the compiled script).
                    pipe.eval(PUBLISH_SESSION_EVENT, len(keys), *keys, *args)
                else:
                    pipe.publish(self.channel, self._stamped(event))
                sent.append(event)
                continue
            if kind == "journal":
                pipe.rpush(self.journal_key(first), second)
                pipe.pexpire(self.journal_key(first), JOURNAL_TTL_MS)
                sent.extend((None, None))
            elif kind == "delete":
                pipe.delete(first)
                sent.append(None)
            else:
                pipe.publish(first, second)
                sent.append(None)
        results = await pipe.execute(raise_on_error=False)
        for event, result in zip(sent, results, strict=True):
            if isinstance(result, Exception):  # a command refused; the connection is fine
                log.error("event bus: Redis refused a command: %s", result)
                continue
            if event is None:
                continue
            self.published += 1
            if not (event.seq and event.session_id is not None and result == 0):
                # Accepted by Redis: this process's subscribers get it now, from the object
                # (the other processes from the channel; this one skips its own there).
                self._local.publish(event)
            else:
                self.refused_seqs += 1
                log.error(
                    "event %s of session %s refused: seq %d was already used in the cluster",
                    event.type,
                    event.session_id,
                    event.seq,
                )

    async def _read(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, self.control_channel)
                await self.redis.ping()  # the subscription is in place once this answers
                self._reading = True
                self._up()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._dispatch(message)
            except (RedisError, OSError) as error:
                self._reading = False
                self._down(f"connection lost: {error}")
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(RETRY_S)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        channel, data = _text(message["channel"]), _text(message["data"])
        if channel == self.channel:
            origin, _, wire = data.partition("\n")
            if origin != self.process_id:
                self._local.publish(Event.from_wire(wire))
        elif self.on_control is not None:
            # In its own task: a cancel waits for its run, and events must keep flowing.
            task = asyncio.create_task(self._control(data), name="redis-bus-control")
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _control(self, data: str) -> None:
        assert self.on_control is not None
        try:
            await self.on_control(json.loads(data))
        except Exception:
            log.exception("control message failed: %s", data[:200])

    def _up(self) -> None:
        if not self.healthy:
            log.info("event bus: connected to Redis")
        self.healthy = True
        self.last_error = None
        self._ready.set()

    def _down(self, why: str) -> None:
        self.last_error = why
        if not self.healthy:
            return
        self.healthy = False
        log.error("event bus: Redis unavailable (%s); new runs are refused", why)
        # Events published meanwhile never reach these clients: cut them off, so they
        # reconnect and replay (or get a snapshot) once Redis answers again.
        for subscription in list(self._subscriptions):
            subscription.cut_off()
        if self.on_down is not None:
            self.on_down(why)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
