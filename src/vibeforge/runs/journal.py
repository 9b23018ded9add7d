"""The run journal: every event of a run, on disk before any client sees it.

One append-only file per run, written with a plain `write(2)` (one per loop iteration for
the events of that iteration): once the call returns, the lines are in the kernel and survive
the server process being killed. When the
run's final message has been committed the file is deleted; a file found at start-up belongs
to a run that never finished, and becomes an `interrupted` message holding every chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vibeforge.runs.events import Event


class RunJournal:
    """The open journal of one run. Events are appended to a buffer and written by `flush`:
    `Streams` flushes once per loop iteration, before it publishes any of them, so the
    chunks of a run that arrive together cost one `write(2)`."""

    def __init__(self, directory: Path, run_id: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{run_id}.jsonl"
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        self._lines: list[str] = []
        self.failure: OSError | None = None  # a write failed: nothing more may be published

    def __repr__(self) -> str:
        return f"RunJournal({str(self.path)!r})"

    def append(self, event: Event) -> None:
        """Add one event as a line to the next write; raises if an earlier write failed."""
        if self.failure is not None:
            raise self.failure
        if self._fd is not None:
            self._lines.append(event.wire)

    def flush(self) -> None:
        """Write the buffered lines at once; returns once the kernel has them."""
        if not self._lines or self._fd is None:
            return
        lines, self._lines = self._lines, []
        data = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            while data:  # a regular file takes it whole; a short write is finished off
                data = data[os.write(self._fd, data) :]
        except OSError as error:
            self.failure = error
            raise

    def close(self) -> None:
        """Write what is buffered and stop writing (the file stays until discard)."""
        if self._fd is not None:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = None

    def discard(self) -> None:
        """Close and delete: the run's outcome is committed elsewhere."""
        self.close()
        self.path.unlink(missing_ok=True)


@dataclass
class RecoveredRun:
    """What a leftover journal says about a run that never finished."""

    run_id: str
    path: Path | None = None  # None: not a file (a Redis journal)
    content: str = ""
    thinking: str = ""
    last_seq: int = 0
    session_id: str | None = None
    events: list[Event] = field(default_factory=list)


def read_journal(path: Path) -> RecoveredRun:
    """Parse a journal; a torn last line (the process died mid-write) is ignored."""
    with path.open("rb") as handle:
        return parse_journal(RecoveredRun(run_id=path.stem, path=path), handle)


def parse_journal(recovered: RecoveredRun, lines: Iterable[bytes]) -> RecoveredRun:
    """Fill `recovered` from journal lines; the first torn one (no newline) ends it."""
    content: list[str] = []
    thinking: list[str] = []
    for raw in lines:
        if not raw.endswith(b"\n"):
            break
        try:
            event = Event.from_wire(raw.decode("utf-8"))
        except (ValueError, KeyError, UnicodeDecodeError):
            continue
        recovered.events.append(event)
        recovered.last_seq = max(recovered.last_seq, event.seq)
        recovered.session_id = event.session_id or recovered.session_id
        if event.type == "chunk":
            content.append(str(event.data.get("content") or ""))
            thinking.append(str(event.data.get("thinking") or ""))
    recovered.content = "".join(content)
    recovered.thinking = "".join(thinking)
    return recovered


def leftover_journals(directory: Path) -> list[RecoveredRun]:
    """Every journal in `directory`, parsed."""
    if not directory.exists():
        return []
    return [read_journal(path) for path in sorted(directory.glob("*.jsonl"))]
