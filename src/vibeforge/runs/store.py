"""Where runs are kept: their rows opened and finished, the interrupted ones recovered, and
the status read model behind `GET /runs/{id}`.

The registry decides when; this module decides what is written. A run's rows (the user's
message, the streaming answer, the run) are inserted in one transaction with the read of the
history the agent will see; its outcome (the final message, the run, its LLM calls and the
session's last `seq`) is committed in one transaction too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update

from vibeforge.db.chat_tables import ChatMessage, ChatSession, LLMCall, Run
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import NotFound
from vibeforge.runs import reasons
from vibeforge.runs.journal import RecoveredRun, leftover_journals
from vibeforge.sessions.service import SessionService
from vibeforge.statuses import MessageStatus, RunStatus
from vibeforge.traces import ensure_root_span


class RunStatusOut(BaseModel):
    """A run's status, stages and timings."""

    id: str
    session_id: str
    status: str
    model: str | None
    stages: list[dict[str, Any]]
    trace_id: str | None
    message_id: str
    user_message_id: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    error_code: str | None
    reason: str | None = None  # why it was cancelled or interrupted


@dataclass(frozen=True, slots=True)
class ClosedRun:
    """A run that start-up found cut off, and how it was closed."""

    run_id: str
    status: MessageStatus
    reason: str


@dataclass(frozen=True, slots=True)
class OpenedRun:
    """The ids of a run's new rows, and the conversation its agent sees."""

    run_id: str
    trace_id: str
    user_message_id: str
    assistant_message_id: str
    history: list[ChatMessage]
    started_at: datetime


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """What a run's end writes."""

    run_id: str
    session_id: str
    assistant_message_id: str
    status: MessageStatus
    content: str
    thinking: str
    diff: str | None
    token_usage: dict[str, Any]
    error: str | None
    error_code: str | None
    stages: list[dict[str, Any]]
    calls: list[LLMCall]
    last_seq: int
    reason: str | None = None  # why a cancelled or interrupted run stopped


class RunStore:
    """Run rows: opened, finished, recovered and read, scoped to their owner."""

    def __init__(self, db: Database, sessions: SessionService) -> None:
        self._db = db
        self._sessions = sessions

    async def open(
        self,
        session: ChatSession,
        prompt: str,
        model_label: str,
        *,
        run_id: str | None = None,
        assistant_message_id: str | None = None,
    ) -> OpenedRun:
        """Insert the user's message, the streaming answer and the run (with the given ids,
        when the caller needed them first); read the history. One transaction: each costs a
        pool checkout, a commit and a reset, every one a round trip to the database thread."""
        run_id, user_id = run_id or new_id(), new_id()
        assistant_id = assistant_message_id or new_id()
        trace_id = uuid.uuid4().hex
        now = utcnow()
        async with self._db.transaction() as db:
            history = await self._sessions.history(session.id, db_session=db)
            position = await self._sessions.next_position(db, session.id)
            db.add_all(
                [
                    ChatMessage(
                        id=user_id,
                        session_id=session.id,
                        run_id=run_id,
                        position=position,
                        role="user",
                        content=prompt,
                        status=MessageStatus.SUCCESS,
                        created_at=now,
                    ),
                    ChatMessage(
                        id=assistant_id,
                        session_id=session.id,
                        run_id=run_id,
                        position=position + 1,
                        role="assistant",
                        status=MessageStatus.STREAMING,
                        model=model_label,
                        trace_id=trace_id,
                        created_at=now,
                    ),
                    Run(
                        id=run_id,
                        session_id=session.id,
                        user_message_id=user_id,
                        assistant_message_id=assistant_id,
                        status=RunStatus.RUNNING,
                        model=model_label,
                        stages=[],
                        trace_id=trace_id,
                        started_at=now,
                    ),
                ]
            )
        return OpenedRun(run_id, trace_id, user_id, assistant_id, history, now)

    async def finish(self, run: FinishedRun) -> None:
        """Commit a run's outcome. Plain UPDATEs rather than load-then-modify: the rows' old
        values are not needed."""
        async with self._db.transaction() as db:
            await db.execute(
                update(ChatMessage)
                .where(ChatMessage.id == run.assistant_message_id)
                .values(
                    content=storable(run.content),
                    thinking=storable(run.thinking),
                    status=run.status,
                    diff=run.diff,
                    token_usage=run.token_usage,
                    error=storable(run.error) if run.error else None,
                    error_code=run.error_code,
                    reason=run.reason,
                )
            )
            await db.execute(
                update(Run)
                .where(Run.id == run.run_id)
                .values(
                    status=RunStatus.of_message(run.status),
                    stages=jsonable_stages(run.stages),
                    error=run.error,
                    error_code=run.error_code,
                    reason=run.reason,
                    finished_at=utcnow(),
                )
            )
            db.add_all(run.calls)
            await db.execute(
                update(ChatSession)
                .where(ChatSession.id == run.session_id, ChatSession.last_seq < run.last_seq)
                .values(last_seq=run.last_seq)
            )

    async def status(self, owner: User, run_id: str) -> RunStatusOut:
        """A stored run of the owner."""
        async with self._db.transaction() as db:
            row = await db.scalar(
                select(Run)
                .join(ChatSession, ChatSession.id == Run.session_id)
                .where(Run.id == run_id, ChatSession.owner_id == owner.id)
            )
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        return RunStatusOut(
            id=row.id,
            session_id=row.session_id,
            status=row.status,
            model=row.model,
            stages=row.stages,
            trace_id=row.trace_id,
            message_id=row.assistant_message_id,
            user_message_id=row.user_message_id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            error=row.error,
            error_code=row.error_code,
            reason=row.reason,
        )

    async def recover(self, journal_dir: Path) -> list[ClosedRun]:
        """At start-up: runs that never finished become interrupted (or cancelled) messages
        holding every chunk their journal recorded, each saying why."""
        recovered = []
        for journal in leftover_journals(journal_dir):
            recovered.append(await self.close_from_journal(journal))
            if journal.path is not None:
                journal.path.unlink(missing_ok=True)
        async with self._db.transaction() as db:
            orphans = list(await db.scalars(select(Run.id).where(Run.status == RunStatus.RUNNING)))
        for run_id in orphans:
            await self.close(
                run_id, MessageStatus.INTERRUPTED, "", "", 0, reason=reasons.JOURNAL_LOST
            )
            recovered.append(ClosedRun(run_id, MessageStatus.INTERRUPTED, reasons.JOURNAL_LOST))
        return recovered

    async def close_from_journal(
        self, journal: RecoveredRun, last_seq: int | None = None
    ) -> ClosedRun:
        """End a run its process could not finish with what its journal holds; the journal
        tells how it was stopping: a cancel, a shutdown, or nothing (the process died).
        `last_seq`: the session's sequence number after the closing, if beyond the journal."""
        status, reason = MessageStatus.INTERRUPTED, reasons.SERVER_DIED
        for event in journal.events:
            if event.type == "cancelled":
                status = MessageStatus.CANCELLED
                reason = str(event.data.get("reason") or reasons.BY_USER)
            elif event.type == "interrupted":
                reason = str(event.data.get("reason") or reasons.SERVER_STOPPED)
        seq = max(journal.last_seq, last_seq or 0)
        await self.close(
            journal.run_id, status, journal.content, journal.thinking, seq, reason=reason
        )
        return ClosedRun(journal.run_id, status, reason)

    async def close(
        self,
        run_id: str,
        status: MessageStatus,
        content: str,
        thinking: str,
        last_seq: int,
        *,
        reason: str | None = None,
    ) -> None:
        """End a run that its process could not finish, keeping what its journal held."""
        interrupted = status == MessageStatus.INTERRUPTED
        async with self._db.transaction() as db:
            row = await db.get(Run, run_id)
            if row is None:
                return
            row.status = RunStatus.of_message(status)
            row.finished_at = utcnow()
            row.error = "the server stopped during this run" if interrupted else None
            row.error_code = "interrupted" if interrupted else None
            row.reason = reason
            message = await db.get(ChatMessage, row.assistant_message_id)
            if message is not None:
                message.content = storable(content)
                message.thinking = storable(thinking)
                message.status = status
                message.reason = reason
            await ensure_root_span(db, row)
            await db.execute(
                update(ChatSession)
                .where(ChatSession.id == row.session_id, ChatSession.last_seq < last_seq)
                .values(last_seq=last_seq)
            )


def storable(text: str | None) -> str:
    """Text as every database can store it: NUL (which PostgreSQL refuses) becomes U+FFFD."""
    return (text or "").replace("\x00", "\ufffd")


def jsonable_stages(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's stage records with their times as ISO 8601 text."""
    return [
        {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in stage.items()
        }
        for stage in stages
    ]
