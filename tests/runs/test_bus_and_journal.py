"""The event plumbing on its own: bounded queues, numbering, replay, the journal."""

import asyncio
import gc
import os
from pathlib import Path

import pytest

from vibeforge.runs.bus import InProcessBus, Subscription, project_topic, session_topic
from vibeforge.runs.events import Event
from vibeforge.runs.journal import RunJournal, leftover_journals, read_journal
from vibeforge.runs.protocol import Chunk
from vibeforge.runs.streams import REPLAY_EVENTS, SessionStream, Streams


def test_a_consumer_that_falls_behind_is_cut_off() -> None:
    bus = InProcessBus()
    streams = Streams(bus)
    stream = streams.get("p", "s", 0)
    slow = bus.subscribe(maxsize=3)
    bus.follow(slow, session_topic("s"))
    for index in range(10):
        streams.emit(stream, Chunk(str(index)))
    assert slow.closed and slow.overflowed
    received = []
    while (event := slow.get_nowait()) is not None:
        received.append(event)
    assert len(received) <= 3, "never buffered beyond its bound"


async def test_each_follower_gets_an_event_once() -> None:
    bus = InProcessBus()
    streams = Streams(bus)
    both = bus.subscribe()
    bus.follow(both, session_topic("s"))
    bus.follow(both, project_topic("p"))
    other = bus.subscribe()
    bus.follow(other, session_topic("elsewhere"))
    streams.emit(streams.get("p", "s", 0), Chunk("x"))
    assert (await asyncio.wait_for(both.get(), 1)).data["content"] == "x"
    assert both.get_nowait() is None
    assert other.get_nowait() is None
    bus.unsubscribe(both)
    streams.emit(streams.get("p", "s", 0), Chunk("y"))
    assert both.get_nowait() is None


def test_the_backlog_counts_what_subscribers_have_not_taken_yet() -> None:
    bus = InProcessBus()
    streams = Streams(bus)
    both = bus.subscribe()
    bus.follow(both, session_topic("s"))
    bus.follow(both, project_topic("p"))  # counted once, as it is delivered once
    other = bus.subscribe()
    bus.follow(other, project_topic("p"))
    assert bus.backlog() == 0
    streams.emit(streams.get("p", "s", 0), Chunk("x"))
    streams.emit(streams.get("p", "s", 0), Chunk("y"))
    assert bus.backlog() == 4
    assert both.get_nowait() is not None
    assert bus.backlog() == 3
    bus.unsubscribe(other)  # a client gone is not waited for
    assert bus.backlog() == 1


def test_numbering_continues_from_the_stored_sequence() -> None:
    streams = Streams(InProcessBus())
    stream = streams.get("p", "s", 41)
    assert streams.emit(stream, Chunk("a")).seq == 42
    assert streams.get("p", "s", 10) is stream, "a stale stored value never rewinds"
    assert streams.get("p", "s", 100).last_seq == 100


def test_replay_returns_what_is_held_and_none_for_a_gap() -> None:
    stream = SessionStream("p", "s", last_seq=5)
    for _ in range(REPLAY_EVENTS + 10):
        stream.next_event(Chunk())
    assert stream.replay(stream.last_seq) == []
    recent = stream.replay(stream.last_seq - 3)
    assert [event.seq for event in recent or []] == [
        stream.last_seq - 2,
        stream.last_seq - 1,
        stream.last_seq,
    ]
    assert stream.replay(5) is None, "events before the buffer: the caller sends a snapshot"


def test_a_replayed_event_is_the_one_sent_and_the_buffer_is_left_to_refcounting() -> None:
    stream = SessionStream("p", "s", last_seq=0)
    sent = [stream.next_event(Chunk(f"piece {i} ✓"), run_id="r1") for i in range(5)]
    assert stream.replay(0) == sent
    gc.collect()
    # 200 streams' buffers of Event objects made every full collection a 40-100 ms stall.
    assert not any(gc.is_tracked(held) for held in stream._recent)


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    streams = Streams(InProcessBus())
    stream = streams.get("p", "s", 0)
    journal = RunJournal(tmp_path, "run-1")
    for piece in ["Hel", "lo ", "wörld"]:
        streams.emit(stream, Chunk(piece), journal=journal)
    journal.close()
    with journal.path.open("ab") as handle:
        handle.write(b'{"type": "chunk", "seq": 4, "data": {"content": "LOST')  # died mid-write
    recovered = read_journal(journal.path)
    assert recovered.content == "Hello wörld"
    assert recovered.last_seq == 3
    assert recovered.session_id == "s"
    assert [r.run_id for r in leftover_journals(tmp_path)] == ["run-1"]
    RunJournal(tmp_path, "run-1").discard()
    assert leftover_journals(tmp_path) == []


def journaled_session(
    tmp_path: Path,
) -> tuple[Streams, SessionStream, Subscription, RunJournal]:
    """A session stream, a follower of it and a run journal."""
    bus = InProcessBus()
    streams = Streams(bus)
    follower = bus.subscribe()
    bus.follow(follower, session_topic("s"))
    return streams, streams.get("p", "s", 0), follower, RunJournal(tmp_path, "run-1")


async def test_events_of_one_iteration_are_journaled_in_one_write_then_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    streams, stream, follower, journal = journaled_session(tmp_path)
    writes: list[bytes] = []
    real_write = os.write

    def counted(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counted)
    seen_on_disk: list[int] = []
    original_offer = follower.offer

    def offer(event: Event) -> None:
        # What a client could be sent must be in the journal by then.
        seen_on_disk.append(journal.path.read_bytes().count(b"\n"))
        original_offer(event)

    monkeypatch.setattr(follower, "offer", offer)
    for piece in ("a", "b", "c"):
        streams.emit(stream, Chunk(piece), journal=journal)
    assert follower.get_nowait() is None, "published at the end of the iteration"
    received = [await asyncio.wait_for(follower.get(), 1) for _ in range(3)]
    assert [event.data["content"] for event in received] == ["a", "b", "c"]
    assert len(writes) == 1 and writes[0].count(b"\n") == 3, "one write(2) for the three"
    assert seen_on_disk == [3, 3, 3]
    journal.discard()


async def test_a_subscriber_reading_the_stream_sees_only_published_events(
    tmp_path: Path,
) -> None:
    streams, stream, follower, journal = journaled_session(tmp_path)
    streams.emit(stream, Chunk("x"), journal=journal)
    # A subscriber reading the stream now (its last_seq, a replay) gets the event published
    # and journaled first: never numbered-but-unsent, which it would then skip.
    peeked = streams.peek("s")
    assert peeked is stream and stream.last_seq == 1
    assert follower.get_nowait() is not None
    assert read_journal(journal.path).content == "x"
    streams.emit(stream, Chunk("y"), journal=journal)
    assert [event.seq for event in stream.replay(0) or []] == [1, 2]
    assert follower.get_nowait() is not None
    journal.discard()


async def test_a_journal_that_cannot_be_written_publishes_nothing_more(
    tmp_path: Path,
) -> None:
    streams, stream, follower, journal = journaled_session(tmp_path)
    assert journal._fd is not None
    os.close(journal._fd)
    journal._fd = os.open(os.devnull, os.O_RDONLY)  # writes now fail (EBADF)
    streams.emit(stream, Chunk("lost"), journal=journal)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert follower.get_nowait() is None, "not journaled, so not published"
    with pytest.raises(OSError):
        streams.emit(stream, Chunk("next"), journal=journal)
    journal.discard()
