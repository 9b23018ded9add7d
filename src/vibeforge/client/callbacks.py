"""The callbacks a run calls, for GUI code that prefers them to iterating its events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Callback = Callable[..., Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Callbacks:
    """What GUI code may be called with: each gets the run and the event (or the error)."""

    on_partial: Callback | None = None  # (run, Chunk)
    on_done: Callback | None = None  # (run, Done), also for a cancelled or interrupted run
    on_error: Callback | None = None  # (run, RunFailed | Exception)
    on_status: Callback | None = None  # (run, ChatSessionStart | StageUpdate | Cancelled | ...)

    def over(self, defaults: Callbacks) -> Callbacks:
        """These callbacks, with `defaults` where none is set."""
        return Callbacks(
            self.on_partial or defaults.on_partial,
            self.on_done or defaults.on_done,
            self.on_error or defaults.on_error,
            self.on_status or defaults.on_status,
        )
