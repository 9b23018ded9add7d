"""Conversation state: the variables modules set in a session (`ctx.set_var`) and the outputs
of its last answer's post-response modules; both are variables of the next turn. Cleared by
`DELETE /sessions/{id}/memories`, and with the session's history when it is reset."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.prompt_tables import SessionState
from vibeforge.db.tables import User
from vibeforge.db.types import utcnow
from vibeforge.errors import InvalidInput
from vibeforge.sessions.service import SessionService

MAX_STATE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class StateView:
    """A session's state as its owner reads it."""

    session: ChatSession
    variables: dict[str, Any]
    outputs: dict[str, Any]
    updated_at: datetime | None


def with_changes(variables: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The variables after a module's `set_var` calls (None forgets); InvalidInput if they
    would take the state over its size cap."""
    merged = dict(variables)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    check_size(merged)
    return merged


def check_size(values: Mapping[str, Any]) -> None:
    """InvalidInput when `values` is over the state's size cap."""
    size = len(json.dumps(values, ensure_ascii=False).encode("utf-8"))
    if size > MAX_STATE_BYTES:
        raise InvalidInput(f"the session's state would be {size} bytes; at most {MAX_STATE_BYTES}")


class StateService:
    """Per-session module state, scoped to the session's owner."""

    def __init__(self, db: Database, sessions: SessionService) -> None:
        self._db = db
        self._sessions = sessions

    async def view(self, owner: User, session_id: str) -> StateView:
        """A session's state (empty if no module wrote any)."""
        session = await self._sessions.get(owner, session_id)
        async with self._db.transaction() as db:
            row = await db.get(SessionState, session_id)
        if row is None:
            return StateView(session, {}, {}, None)
        return StateView(session, dict(row.variables), dict(row.outputs), row.updated_at)

    async def clear(self, owner: User, session_id: str) -> None:
        """Forget everything modules remembered in a session."""
        await self._sessions.get(owner, session_id)
        async with self._db.transaction() as db:
            await db.execute(delete(SessionState).where(SessionState.session_id == session_id))


async def load_state(db: AsyncSession, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A session's variables and last outputs, inside `db`'s transaction."""
    row = await db.get(SessionState, session_id)
    return (dict(row.variables), dict(row.outputs)) if row else ({}, {})


async def save_state(
    db: AsyncSession,
    session_id: str,
    *,
    variables: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
) -> None:
    """Write a session's variables and/or outputs (what is None stays), inside `db`'s
    transaction."""
    row = await db.get(SessionState, session_id)
    if row is None:
        row = SessionState(session_id=session_id, variables={}, outputs={})
        db.add(row)
    if variables is not None:
        row.variables = dict(variables)
    if outputs is not None:
        row.outputs = dict(outputs)
    row.updated_at = utcnow()
