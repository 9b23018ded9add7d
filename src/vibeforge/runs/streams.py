"""Per-session event streams: sequence numbers, the journal-first publish, and replay.

Events emitted during one loop iteration are journaled and published together at its end
(`Streams.flush`, scheduled with `call_soon`): each run's journal gets one `write(2)` for all
of them, and only then are they published, in the order they were emitted. Whatever reads a
stream's state for a subscriber (`peek`, `replay`) flushes first, so it never sees an event
that is numbered but not yet journaled and published.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vibeforge.runs.bus import EventBus
from vibeforge.runs.events import Event, wire_of
from vibeforge.runs.protocol import ServerEvent, event_data

if TYPE_CHECKING:
    from vibeforge.runs.coordination import Journal

REPLAY_EVENTS = 4096
log = logging.getLogger("vibeforge.runs")


class SessionStream:
    """The numbered events of one session; keeps the newest ones for replay."""

    def __init__(
        self,
        project_id: str,
        session_id: str,
        last_seq: int,
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.project_id = project_id
        self.session_id = session_id
        self.last_seq = last_seq
        # Events seen by this process; a reconnect asking for older ones gets a snapshot.
        self.first_replayable = last_seq + 1
        # As (seq, envelope) pairs, not Event objects: a tuple of an int and a str is left out
        # of the cyclic collector's passes, and 200 streams' buffers (20,000 Events and their
        # payloads) made each full pass a 40-100 ms stall of the loop. A replay (rare: a
        # reconnect) parses the envelopes back.
        self._recent: deque[tuple[int, str]] = deque(maxlen=REPLAY_EVENTS)
        self._settle = settle  # publishes what was emitted and not yet published

    def next_event(self, event: ServerEvent, run_id: str | None = None) -> Event:
        """Number and encode the session's next event (tagged with its run, if any)."""
        self.last_seq += 1
        # The envelope's data in one dict (what Event.make builds, without its copies).
        payload: dict[str, Any] = {"session_id": self.session_id, "project_id": self.project_id}
        if run_id is not None:
            payload["run_id"] = run_id
        payload.update(event_data(event))
        seq = self.last_seq
        wire = wire_of(event.type, seq, payload)
        numbered = Event(event.type, payload, self.project_id, self.session_id, seq, wire)
        if len(self._recent) == self._recent.maxlen:
            self.first_replayable = self._recent[0][0] + 1
        self._recent.append((seq, wire))
        return numbered

    def replay(self, after_seq: int) -> list[Event] | None:
        """Events after `after_seq`, or None when some of them are no longer held."""
        if self._settle is not None:
            self._settle()
        if after_seq >= self.last_seq:
            return []
        if after_seq + 1 < self.first_replayable:
            return None
        return [Event.from_wire(wire) for seq, wire in self._recent if seq > after_seq]


class Streams:
    """Every session stream of this process, and the one way to publish a session event."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._streams: dict[str, SessionStream] = {}
        self._pending: list[tuple[Event, Journal | None]] = []
        self._flush_scheduled = False

    def get(self, project_id: str, session_id: str, stored_last_seq: int) -> SessionStream:
        """The stream of a session, continuing from the stored sequence number if new."""
        stream = self._streams.get(session_id)
        if stream is None or stream.last_seq < stored_last_seq:
            self.flush()  # the old stream's events go out before it is replaced
            stream = SessionStream(project_id, session_id, stored_last_seq, self.flush)
            self._streams[session_id] = stream
        return stream

    def peek(self, session_id: str) -> SessionStream | None:
        """The stream of a session if this process has one (every event it numbered is
        published by the time this returns, so its `last_seq` is what followers were sent)."""
        self.flush()
        return self._streams.get(session_id)

    def emit(
        self,
        stream: SessionStream,
        event: ServerEvent,
        *,
        run_id: str | None = None,
        journal: Journal | None = None,
    ) -> Event:
        """Number an event, write it to the journal, then publish it: in that order, so a
        client never sees an event the journal does not hold. Within a running loop the
        write and the publish happen at the end of the iteration (see the module docstring);
        outside one, at once."""
        numbered = stream.next_event(event, run_id)
        if journal is not None:
            journal.append(numbered)
        self._pending.append((numbered, journal))
        if not self._flush_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return numbered
            self._flush_scheduled = True
            loop.call_soon(self.flush)
        return numbered

    def flush(self) -> None:
        """Write every journal that has events waiting (one write each), then publish the
        events in the order they were emitted. An event whose journal could not be written
        is not published; the run learns of it at its next emit."""
        self._flush_scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        failed: set[Journal] = set()
        for journal in dict.fromkeys(journal for _, journal in pending if journal is not None):
            try:
                journal.flush()
            except OSError:
                log.exception("journal %r could not be written", journal)
                failed.add(journal)
        publish = self.bus.publish
        for numbered, journal in pending:
            if journal is None or journal not in failed:
                publish(numbered)

    def emit_project(self, project_id: str, event: ServerEvent) -> Event:
        """A project-wide event outside any session (e.g. a file changed over REST)."""
        numbered = Event.make(
            event.type, event_data(event), project_id=project_id, session_id=None, seq=0
        )
        self.flush()  # after the session events emitted before it
        self.bus.publish(numbered)
        return numbered
