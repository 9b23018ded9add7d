"""How the run registry coordinates with other server processes, and the one-process default.

Alone, a process owns every run: the file journal, its own locks, nothing to ask anyone. Scaled
out (`vibeforge.scale.cluster.Cluster`), a run is a lease in Redis, a session's active run may
live in another process, and a cancel travels there.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from vibeforge.runs.events import Event
from vibeforge.runs.journal import RunJournal


class Journal(Protocol):
    """Where a run's events are written before any client sees them."""

    def append(self, event: Event) -> None:
        """Record one event."""
        ...

    def flush(self) -> None:
        """Write what was appended since the last flush (the streams call it once per loop
        iteration, before publishing those events)."""
        ...

    def close(self) -> None:
        """Stop writing."""
        ...

    def discard(self) -> None:
        """Drop the journal: the run's outcome is committed."""
        ...


class Coordinator(Protocol):
    """What the registry asks before, while and after running a run."""

    def check_ready(self) -> None:
        """Raise Unavailable when new runs must be refused."""
        ...

    def session_lock(self, session_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while a session's active run changes, across every process."""
        ...

    async def running_elsewhere(self, session_id: str) -> str | None:
        """The id of the session's run if another live process owns it."""
        ...

    async def cancel_elsewhere(self, run_id: str, reason: str, user_id: str | None = None) -> bool:
        """Have the owning process cancel a run (if it is `user_id`'s, when given); True once
        it has stored the outcome."""
        ...

    async def seq_floor(self, session_id: str, stored: int) -> int:
        """The highest `seq` the session has used anywhere (at least `stored`)."""
        ...

    def journal(self, directory: Path, run_id: str) -> Journal:
        """A new run's journal."""
        ...

    async def claim(self, run_id: str, session_id: str, user_id: str) -> None:
        """Take the run's lease before its rows exist."""
        ...

    def release(self, run_id: str, session_id: str) -> None:
        """Give the lease up (the run's outcome is committed)."""
        ...


class SingleProcess:
    """The coordinator of a server that runs alone: everything is local."""

    def check_ready(self) -> None:
        """Always ready."""

    @contextlib.asynccontextmanager
    async def session_lock(self, session_id: str) -> AsyncIterator[None]:
        """Nothing to lock: the registry's own per-session lock suffices."""
        yield

    async def running_elsewhere(self, session_id: str) -> str | None:
        """There is no elsewhere."""
        return None

    async def cancel_elsewhere(self, run_id: str, reason: str, user_id: str | None = None) -> bool:
        """No other process to ask."""
        return False

    async def seq_floor(self, session_id: str, stored: int) -> int:
        """The stored sequence number (this process's streams hold any newer one)."""
        return stored

    def journal(self, directory: Path, run_id: str) -> Journal:
        """The file journal."""
        return RunJournal(directory, run_id)

    async def claim(self, run_id: str, session_id: str, user_id: str) -> None:
        """Nothing to claim."""

    def release(self, run_id: str, session_id: str) -> None:
        """Nothing to release."""


class WorkLease(Protocol):
    """Tells the other processes which background work this one is doing (scale-out: test
    suites, attachment extractions), so a survivor takes over a dead server's."""

    async def hold(self, work_id: str) -> None:
        """Take the work's lease before doing it (raises Unavailable when it cannot)."""
        ...

    def release(self, work_id: str) -> None:
        """Drop the lease once the work's outcome is stored."""
        ...
