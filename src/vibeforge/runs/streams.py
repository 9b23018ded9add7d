"""Per-session event streams: sequence numbers, the journal-first publish, and replay."""

from __future__ import annotations

from collections import deque

from vibeforge.runs.bus import EventBus
from vibeforge.runs.events import Event
from vibeforge.runs.journal import RunJournal
from vibeforge.runs.protocol import ServerEvent, event_data

REPLAY_EVENTS = 4096


class SessionStream:
    """The numbered events of one session; keeps the newest ones for replay."""

    def __init__(self, project_id: str, session_id: str, last_seq: int) -> None:
        self.project_id = project_id
        self.session_id = session_id
        self.last_seq = last_seq
        # Events seen by this process; a reconnect asking for older ones gets a snapshot.
        self.first_replayable = last_seq + 1
        self._recent: deque[Event] = deque(maxlen=REPLAY_EVENTS)

    def next_event(self, event: ServerEvent, run_id: str | None = None) -> Event:
        """Number and encode the session's next event (tagged with its run, if any)."""
        self.last_seq += 1
        data = event_data(event)
        if run_id is not None:
            data = {"run_id": run_id, **data}
        numbered = Event.make(
            event.type,
            data,
            project_id=self.project_id,
            session_id=self.session_id,
            seq=self.last_seq,
        )
        if len(self._recent) == self._recent.maxlen:
            self.first_replayable = self._recent[0].seq + 1
        self._recent.append(numbered)
        return numbered

    def replay(self, after_seq: int) -> list[Event] | None:
        """Events after `after_seq`, or None when some of them are no longer held."""
        if after_seq >= self.last_seq:
            return []
        if after_seq + 1 < self.first_replayable:
            return None
        return [event for event in self._recent if event.seq > after_seq]


class Streams:
    """Every session stream of this process, and the one way to publish a session event."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._streams: dict[str, SessionStream] = {}

    def get(self, project_id: str, session_id: str, stored_last_seq: int) -> SessionStream:
        """The stream of a session, continuing from the stored sequence number if new."""
        stream = self._streams.get(session_id)
        if stream is None or stream.last_seq < stored_last_seq:
            stream = SessionStream(project_id, session_id, stored_last_seq)
            self._streams[session_id] = stream
        return stream

    def peek(self, session_id: str) -> SessionStream | None:
        """The stream of a session if this process has one."""
        return self._streams.get(session_id)

    def emit(
        self,
        stream: SessionStream,
        event: ServerEvent,
        *,
        run_id: str | None = None,
        journal: RunJournal | None = None,
    ) -> Event:
        """Number an event, write it to the journal, then publish it: in that order, so a
        client never sees an event the journal does not hold."""
        numbered = stream.next_event(event, run_id)
        if journal is not None:
            journal.append(numbered)
        self.bus.publish(numbered)
        return numbered

    def emit_project(self, project_id: str, event: ServerEvent) -> Event:
        """A project-wide event outside any session (e.g. a file changed over REST)."""
        numbered = Event.make(
            event.type, event_data(event), project_id=project_id, session_id=None, seq=0
        )
        self.bus.publish(numbered)
        return numbered
