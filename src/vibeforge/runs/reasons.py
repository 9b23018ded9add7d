"""Why a run ended without an answer: the texts stored with cancelled and interrupted messages
and sent in `cancelled` and `interrupted` events, written once."""

from __future__ import annotations

BY_USER = "cancelled by the user"
PROJECT_DELETED = "the project was deleted"
SESSION_CLEARED = "the session was cleared"
SERVER_STOPPED = "the server stopped during this run"
SERVER_DIED = "the server stopped unexpectedly (it was killed or crashed) during this run"
JOURNAL_LOST = "the server stopped unexpectedly during this run and its journal was lost"


def superseded_by(message_id: str, run_id: str) -> str:
    """A run cancelled because a newer message started another in its session."""
    return f"superseded by message {message_id} (run {run_id})"
