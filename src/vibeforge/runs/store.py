"""Where runs are kept: their rows opened and finished, the interrupted ones recovered, and
the status read model behind `GET /runs/{id}`.

The registry decides when; this module decides what is written. A run's rows (the user's
message, the streaming answer, the run) are inserted in one transaction with the read of the
history the agent will see; its outcome (the final message, the run, its LLM calls and the
session's last `seq`) is committed in one transaction too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.batching import WriteBatches
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


@dataclass(frozen=True, slots=True)
class FinishedAfter:
    """What the end of a run's post-response work writes (its answer is already stored)."""

    run_id: str
    session_id: str
    stages: list[dict[str, Any]]
    calls: list[LLMCall]  # made after the answer was stored
    last_seq: int
    writes: Callable[[AsyncSession], Awaitable[None]] | None = None  # the work's own rows


@dataclass(frozen=True, slots=True)
class _Opening:
    """A run waiting for its rows to be written."""

    session: ChatSession
    prompt: str
    model_label: str
    run_id: str | None = None  # chosen by the caller (a superseded run's reason names it)
    assistant_message_id: str | None = None


def _run_rows(
    request: _Opening,
    run_id: str,
    user_id: str,
    assistant_id: str,
    trace_id: str,
    position: int,
    now: datetime,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows a run starts with: the user's message and the streaming answer, and the run
    (as values for bulk INSERTs: building ORM objects and flushing them costs several times
    the CPU, and a burst writes hundreds of rows at once)."""
    session_id = request.session.id
    message = {"session_id": session_id, "run_id": run_id, "created_at": now}
    messages = [
        {
            **message,
            "id": user_id,
            "position": position,
            "role": "user",
            "content": request.prompt,
            "status": MessageStatus.SUCCESS,
            "model": None,
            "trace_id": None,
        },
        {
            **message,
            "id": assistant_id,
            "position": position + 1,
            "role": "assistant",
            "content": "",
            "status": MessageStatus.STREAMING,
            "model": request.model_label,
            "trace_id": trace_id,
        },
    ]
    run = {
        "id": run_id,
        "session_id": session_id,
        "user_message_id": user_id,
        "assistant_message_id": assistant_id,
        "status": RunStatus.RUNNING,
        "model": request.model_label,
        "stages": [],
        "trace_id": trace_id,
        "started_at": now,
    }
    return messages, run


class RunStore:
    """Run rows: opened, finished, recovered and read, scoped to their owner."""

    def __init__(self, db: Database, sessions: SessionService) -> None:
        self._db = db
        self._sessions = sessions
        # A burst of run starts (or ends) is a few transactions, not one each: each costs
        # several round trips to the database thread, and each round trip waits behind
        # everything else the event loop has to do.
        self._opens: WriteBatches[_Opening, OpenedRun] = WriteBatches(
            self._write_opens, abandoned=self._abandoned
        )
        self._finishes: WriteBatches[FinishedRun, None] = WriteBatches(self._write_finishes)
        self._closing: set[asyncio.Task[None]] = set()

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
        when the caller needed them first); read the history. Opens made together are written
        together, in one transaction; a caller cancelled while waiting leaves no running run
        behind (its rows, if written, are closed as cancelled)."""
        opening = _Opening(session, prompt, model_label, run_id, assistant_message_id)
        return await self._opens.submit(opening)

    async def _write_opens(self, batch: list[_Opening]) -> list[OpenedRun]:
        """One transaction: the histories and positions of the batch's sessions read, every
        run's rows inserted."""
        now = utcnow()
        session_ids = [request.session.id for request in batch]
        opened: list[OpenedRun] = []
        async with self._db.transaction(writes=True) as db:
            histories = await self._sessions.histories(db, session_ids)
            positions = await self._sessions.next_positions(db, session_ids)
            messages: list[dict[str, Any]] = []
            runs: list[dict[str, Any]] = []
            for request in batch:
                session_id = request.session.id
                run_id, user_id = request.run_id or new_id(), new_id()
                assistant_id = request.assistant_message_id or new_id()
                trace_id = uuid.uuid4().hex
                position = positions[session_id]
                positions[session_id] = position + 2
                pair, run = _run_rows(
                    request, run_id, user_id, assistant_id, trace_id, position, now
                )
                messages += pair
                runs.append(run)
                history = histories[session_id]
                opened.append(OpenedRun(run_id, trace_id, user_id, assistant_id, history, now))
            # render_nulls: otherwise the ORM leaves out the keys whose value is None, the user
            # message's and the answer's key sets differ, and each row became an INSERT of
            # its own (200 round trips to the database thread for a burst of 100).
            await db.execute(insert(ChatMessage).execution_options(render_nulls=True), messages)
            await db.execute(insert(Run), runs)
        return opened

    def _abandoned(self, opened: OpenedRun) -> None:
        """The caller of `open` went away: a run it opened is closed, never left running."""
        closing = asyncio.get_running_loop().create_task(
            self.close(opened.run_id, MessageStatus.CANCELLED, "", "", 0, reason=reasons.BY_USER)
        )
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def finish(self, run: FinishedRun) -> None:
        """Commit a run's outcome (with the outcomes of runs ending at the same time)."""
        await self._finishes.submit(run)

    async def _write_finishes(self, batch: list[FinishedRun]) -> list[None]:
        """One transaction: bulk UPDATEs by primary key (the rows' old values are not
        needed), the LLM calls inserted, each session's last `seq` raised."""
        now = utcnow()
        async with self._db.transaction(writes=True) as db:
            await db.execute(
                update(ChatMessage),
                [
                    {
                        "id": run.assistant_message_id,
                        "content": storable(run.content),
                        "thinking": storable(run.thinking),
                        "status": run.status,
                        "diff": run.diff,
                        "token_usage": run.token_usage,
                        "error": storable(run.error) if run.error else None,
                        "error_code": run.error_code,
                        "reason": run.reason,
                    }
                    for run in batch
                ],
            )
            await db.execute(
                update(Run),
                [
                    {
                        "id": run.run_id,
                        "status": RunStatus.of_message(run.status, run.error_code),
                        "stages": jsonable_stages(run.stages),
                        "error": run.error,
                        "error_code": run.error_code,
                        "reason": run.reason,
                        "finished_at": now,
                    }
                    for run in batch
                ],
            )
            db.add_all([call for run in batch for call in run.calls])
            sessions = ChatSession.__table__
            await db.execute(
                sessions.update()
                .where(sessions.c.id == bindparam("b_id"), sessions.c.last_seq < bindparam("b_seq"))
                .values(last_seq=bindparam("b_seq")),
                [{"b_id": run.session_id, "b_seq": run.last_seq} for run in batch],
            )
        return [None] * len(batch)

    async def finish_after(self, after: FinishedAfter) -> None:
        """Commit the end of a run's post-response work: the run's stages, the calls made,
        the session's last `seq`, and the work's own rows, in one transaction."""
        async with self._db.transaction(writes=True) as db:
            await db.execute(
                update(Run)
                .where(Run.id == after.run_id)
                .values(stages=jsonable_stages(after.stages))
            )
            db.add_all(after.calls)
            await raise_last_seq(db, after.session_id, after.last_seq)
            if after.writes is not None:
                await after.writes(db)

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
        async with self._db.transaction(writes=True) as db:
            row = await db.get(Run, run_id)
            if row is None:
                return
            if row.status != RunStatus.RUNNING:
                # Its answer was stored; the stop cut off only its post-response work.
                await raise_last_seq(db, row.session_id, last_seq)
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
            await raise_last_seq(db, row.session_id, last_seq)


async def raise_last_seq(db: AsyncSession, session_id: str, last_seq: int) -> None:
    """Store a session's last event number, unless a higher one is stored already."""
    await db.execute(
        update(ChatSession)
        .where(ChatSession.id == session_id, ChatSession.last_seq < last_seq)
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
