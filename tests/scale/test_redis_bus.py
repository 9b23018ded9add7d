"""The Redis event bus against a real Redis: fan-out to every process, a seq used once in the
cluster, bounded replay from Redis, the journal written first, and an outage said out loud."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from tests.scale.redis_server import RedisServer
from tests.stubs import until
from vibeforge.runs.bus import Subscription, project_topic, session_topic
from vibeforge.runs.events import Event
from vibeforge.scale.bus import BusUnavailable, RedisBus


def event(seq: int, session: str = "s1", project: str = "p1", type: str = "chunk") -> Event:
    """A session event as a run would publish it."""
    data = {"run_id": "r1", "content": f"piece {seq}"}
    return Event.make(type, data, project_id=project, session_id=session, seq=seq)


async def drain(subscription: Subscription, count: int, within: float = 5) -> list[Event]:
    """The next `count` events of a subscription."""
    got = []
    for _ in range(count):
        item = await asyncio.wait_for(subscription.get(), within)
        assert item is not None
        got.append(item)
    return got


async def open_bus(url: str, prefix: str, name: str, **options: int) -> RedisBus:
    """A started bus, as one server process would have it."""
    bus = RedisBus(aioredis.from_url(url), prefix, name, **options)
    await bus.start()
    return bus


@pytest.fixture
async def buses(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two buses on one Redis: two processes of one deployment."""
    a = await open_bus(redis_url, redis_prefix, "a")
    b = await open_bus(redis_url, redis_prefix, "b")
    yield a, b
    await a.close()
    await b.close()


async def test_the_backlog_counts_events_until_their_subscribers_take_them(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = buses
    on_b = b.subscribe()
    b.follow(on_b, session_topic("s1"))
    for seq in range(1, 4):
        a.publish(event(seq))
    assert a.backlog() >= 3  # on its way to Redis
    await until(lambda: on_b.pending() == 3)
    assert b.backlog() == 3
    await drain(on_b, 3)
    assert b.backlog() == 0


async def test_events_reach_every_process_once_and_in_order(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = buses
    on_a, on_b, both = a.subscribe(), b.subscribe(), b.subscribe()
    a.follow(on_a, session_topic("s1"))
    b.follow(on_b, session_topic("s1"))
    b.follow(both, session_topic("s1"))
    b.follow(both, project_topic("p1"))
    for seq in range(1, 51):
        a.publish(event(seq))
    for subscription in (on_a, on_b, both):
        assert [e.seq for e in await drain(subscription, 50)] == list(range(1, 51))
        assert subscription.get_nowait() is None  # a follower of session and project: once
    project_only = b.subscribe()
    b.follow(project_only, project_topic("p1"))
    notice = Event.make(
        "code_changed", {"files": ["a.py"]}, project_id="p1", session_id=None, seq=0
    )
    a.publish(notice)
    assert (await drain(project_only, 1))[0].wire == notice.wire


async def test_a_seq_is_used_once_in_the_cluster(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    watcher = b.subscribe()
    b.follow(watcher, session_topic("s1"))
    a.publish(event(1))
    assert [(e.seq, e.type) for e in await drain(watcher, 1)] == [(1, "chunk")]
    b.publish(event(1, type="stage_update"))  # a second writer reusing seq 1: refused
    await until(lambda: b.refused_seqs == 1)
    a.publish(event(2))
    assert [(e.seq, e.type) for e in await drain(watcher, 1)] == [(2, "chunk")]
    assert watcher.get_nowait() is None


async def test_replay_is_served_by_any_process_and_bounded(
    redis_url: str, redis_prefix: str
) -> None:
    a = await open_bus(redis_url, redis_prefix, "a", replay_events=100)
    b = await open_bus(redis_url, redis_prefix, "b", replay_events=100)
    try:
        watcher = b.subscribe()
        b.follow(watcher, session_topic("s1"))
        for seq in range(1, 31):
            a.publish(event(seq))
        await drain(watcher, 30)
        replayed = await b.replay("s1", 12)
        assert replayed is not None
        assert [e.seq for e in replayed] == list(range(13, 31))
        assert [e.wire for e in replayed] == [event(seq).wire for seq in range(13, 31)]
        assert await b.replay("s1", 30) == []
        assert await b.last_seq("s1") == 30
        for seq in range(31, 1001):
            a.publish(event(seq))
        await drain(watcher, 970)
        # The oldest are gone from Redis: no partial replay (the client gets a snapshot).
        assert await b.replay("s1", 0) is None
        recent = await b.replay("s1", 990)
        assert recent is not None
        assert [e.seq for e in recent] == list(range(991, 1001))
        assert await b.redis.xlen(b.events_key("s1")) < 300
    finally:
        await a.close()
        await b.close()


async def test_the_journal_holds_an_event_before_anyone_sees_it(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = buses
    watcher = b.subscribe()
    b.follow(watcher, session_topic("s1"))
    for seq in range(1, 21):
        a.journal("r1", event(seq))
        a.publish(event(seq))
    for seen in await drain(watcher, 20):
        journaled = await b.redis.lrange(b.journal_key("r1"), 0, -1)
        assert len(journaled) >= seen.seq
    a.delete(a.journal_key("r1"))
    await until(lambda: a.state()["queued"] == 0)
    await asyncio.sleep(0.05)
    assert await b.redis.exists(b.journal_key("r1")) == 0


async def test_an_outage_is_reported_and_subscribers_are_cut_off(redis_prefix: str) -> None:
    server = RedisServer().start()
    downs: list[str] = []
    bus = await open_bus(server.url, redis_prefix, "a")
    bus.on_down = downs.append
    try:
        watcher = bus.subscribe()
        bus.follow(watcher, session_topic("s1"))
        bus.publish(event(1))
        await drain(watcher, 1)
        assert bus.state()["status"] == "ok"
        server.stop()
        await until(lambda: not bus.healthy, within=10)
        assert watcher.overflowed and watcher.closed  # its client must reconnect and replay
        assert downs and bus.state()["status"] == "unavailable"
        assert "connection" in (bus.state()["error"] or "")
        with pytest.raises(BusUnavailable):
            await bus.replay("s1", 0)
        server.start()
        await until(lambda: bus.healthy, within=10)
        again = bus.subscribe()
        bus.follow(again, session_topic("s1"))
        bus.publish(event(1, session="s2"))
        bus.publish(event(2))
        assert [e.seq for e in await drain(again, 1)] == [2]
    finally:
        await bus.close()
        server.close()
