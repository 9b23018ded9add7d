"""The run registry: starts runs as tasks, cancels them, persists their outcome, recovers."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.agent_tables import Span
from vibeforge.db.chat_tables import ChatMessage, ChatSession, Run
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import InvalidInput, NotFound, VibeforgeError
from vibeforge.llm import merge_params, validate_params
from vibeforge.modelconfigs.service import ModelConfigService
from vibeforge.runs.context import Agent, AgentResult, RunContext
from vibeforge.runs.journal import RunJournal, leftover_journals
from vibeforge.runs.streams import Streams
from vibeforge.sessions.service import SessionService

log = logging.getLogger("vibeforge.runs")

MAX_PROMPT_CHARS = 200_000
RUN_MODES = ("code", "chat")
CANCEL_WAIT_S = 5.0
_RUN_STATUS = {
    "success": "succeeded",
    "needs_input": "needs_input",
    "error": "failed",
    "cancelled": "cancelled",
    "interrupted": "interrupted",
}


@dataclass
class ActiveRun:
    """A run this process is executing."""

    ctx: RunContext
    outcome: asyncio.Future[dict[str, Any]]
    task: asyncio.Task[None] | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: bool = False
    shutting_down: bool = False
    error_status: int | None = None  # HTTP status of the error the run failed on, if any

    @property
    def id(self) -> str:
        """The run id."""
        return self.ctx.run_id


class RunRegistry:
    """Every run of this process; one active run per session."""

    def __init__(
        self,
        db: Database,
        streams: Streams,
        models: ModelConfigService,
        sessions: SessionService,
        journal_dir: Path,
        agent_for: Callable[[RunContext], Agent],
    ) -> None:
        self._db = db
        self._streams = streams
        self._models = models
        self._sessions = sessions
        self._journal_dir = journal_dir
        self._agent_for = agent_for
        self.services: Any = None
        self._by_id: dict[str, ActiveRun] = {}
        self._by_session: dict[str, ActiveRun] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    def active(self, run_id: str) -> ActiveRun | None:
        """The run if this process is executing it."""
        return self._by_id.get(run_id)

    def active_in_session(self, session_id: str) -> ActiveRun | None:
        """The session's active run, if any."""
        return self._by_session.get(session_id)

    async def start(
        self,
        owner: User,
        session_id: str,
        prompt: str,
        model_ref: str | None = None,
        params: dict[str, Any] | None = None,
        mode: str | None = None,
        *,
        session: ChatSession | None = None,
    ) -> ActiveRun:
        """Start a run for a user message; a run already active in the session is cancelled.
        `session`: the session as the caller just fetched it for `owner`, saving a lookup."""
        if mode not in (None, *RUN_MODES):
            raise InvalidInput(f"mode must be one of {', '.join(RUN_MODES)}")
        if not prompt.strip():
            raise InvalidInput("prompt must not be blank")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInput(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
        if session is None or session.id != session_id or session.owner_id != owner.id:
            session = await self._sessions.get(owner, session_id)
        model = await self._models.resolve(owner, model_ref, session.model_config_id)
        checked = validate_params(model.chat.capabilities, params)
        merged = merge_params(model.spec.default_params, checked)
        async with self._lock(session.id):
            previous = self._by_session.get(session.id)
            if previous is not None:
                await self._cancel(previous)
            run_id, user_id, assistant_id = new_id(), new_id(), new_id()
            trace_id = uuid.uuid4().hex
            now = utcnow()
            # One transaction for the history and the new rows: each session costs a pool
            # checkout, a commit and a reset, every one a round trip to the database thread.
            async with self._db.session() as db:
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
                            status="success",
                            created_at=now,
                        ),
                        ChatMessage(
                            id=assistant_id,
                            session_id=session.id,
                            run_id=run_id,
                            position=position + 1,
                            role="assistant",
                            status="streaming",
                            model=model.label,
                            trace_id=trace_id,
                            created_at=now,
                        ),
                        Run(
                            id=run_id,
                            session_id=session.id,
                            user_message_id=user_id,
                            assistant_message_id=assistant_id,
                            status="running",
                            model=model.label,
                            stages=[],
                            trace_id=trace_id,
                            started_at=now,
                        ),
                    ]
                )
            ctx = RunContext(
                run_id=run_id,
                trace_id=trace_id,
                owner=owner,
                session=session,
                prompt=prompt,
                params=merged,
                model=model,
                user_message_id=user_id,
                assistant_message_id=assistant_id,
                history=history,
                streams=self._streams,
                stream=self._streams.get(session.project_id, session.id, session.last_seq),
                journal=RunJournal(self._journal_dir, run_id),
                services=self.services,
                mode=mode or "code",
            )
            run = ActiveRun(ctx, asyncio.get_running_loop().create_future())
            self._by_id[run_id] = run
            self._by_session[session.id] = run
            run.task = asyncio.create_task(self._execute(run), name=f"run-{run_id}")
            run.task.add_done_callback(lambda _: self._settle(run))
        return run

    def _settle(self, run: ActiveRun) -> None:
        """Whatever happened, the run leaves the registry and its waiters wake."""
        self._by_id.pop(run.id, None)
        if self._by_session.get(run.ctx.session.id) is run:
            del self._by_session[run.ctx.session.id]
        if not run.outcome.done():
            run.outcome.set_result({"run_id": run.id, "status": "interrupted"})
        run.cancelled.set()

    async def _execute(self, run: ActiveRun) -> None:
        ctx = run.ctx
        ctx.emit(
            "chat_session_start",
            {
                "message_id": ctx.assistant_message_id,
                "user_message_id": ctx.user_message_id,
                "model": ctx.model.label,
                "trace_id": ctx.trace_id,
            },
        )
        try:
            result = await self._agent_for(ctx)(ctx)
        except asyncio.CancelledError:
            status = "interrupted" if run.shutting_down else "cancelled"
            ctx.emit(status, {"message_id": ctx.assistant_message_id})
            run.cancelled.set()
            await self._finish(run, AgentResult(status=status))
            raise
        except VibeforgeError as error:
            ctx.emit("error", {"code": error.code, "detail": error.detail})
            result = AgentResult(
                status="error", error=error.detail, error_code=error.code, error_status=error.status
            )
        except Exception:
            log.exception("run %s failed", run.id)
            ctx.emit("error", {"code": "internal_error", "detail": "the run failed unexpectedly"})
            result = AgentResult(
                status="error",
                error="the run failed unexpectedly",
                error_code="internal_error",
                error_status=500,
            )
        await self._finish(run, result)

    async def _finish(self, run: ActiveRun, result: AgentResult) -> None:
        """Commit the final message, run and LLM calls in one transaction, then drop the
        journal; `done` is numbered before the commit so the stored sequence covers it."""
        ctx = run.ctx
        content = result.content if result.content is not None else "".join(ctx.content)
        # A model may emit NUL; PostgreSQL cannot store it in text, and nothing may be lost.
        content = _storable(content)
        usage = ctx.usage_total()
        outcome = {
            "run_id": run.id,
            "message_id": ctx.assistant_message_id,
            "status": result.status,
            "content": content,
            "diff": result.diff,
            "trace_id": ctx.trace_id,
            "token_usage": usage,
            "error": result.error,
            "error_code": result.error_code,
            **result.extra,
        }
        run.error_status = result.error_status
        finals = []
        if result.status not in ("cancelled", "interrupted"):
            finals.append(ctx.stream.next_event("done", outcome))
            finals.append(ctx.stream.next_event("post_response_complete", {"run_id": run.id}))
        # Plain UPDATEs rather than load-then-modify: the rows' old values are not needed.
        async with self._db.session() as db:
            await db.execute(
                update(ChatMessage)
                .where(ChatMessage.id == ctx.assistant_message_id)
                .values(
                    content=content,
                    thinking=_storable("".join(ctx.thinking)),
                    status=result.status,
                    diff=result.diff,
                    token_usage=usage,
                    error=_storable(result.error) if result.error else None,
                    error_code=result.error_code,
                )
            )
            await db.execute(
                update(Run)
                .where(Run.id == run.id)
                .values(
                    status=_RUN_STATUS.get(result.status, result.status),
                    stages=_jsonable_stages(ctx.stages),
                    error=result.error,
                    error_code=result.error_code,
                    finished_at=utcnow(),
                )
            )
            db.add_all(ctx.calls)
            await db.execute(
                update(ChatSession)
                .where(ChatSession.id == ctx.session.id, ChatSession.last_seq < ctx.stream.last_seq)
                .values(last_seq=ctx.stream.last_seq)
            )
        ctx.journal.discard()
        if not run.outcome.done():
            run.outcome.set_result(outcome)
        for event in finals:
            self._streams.bus.publish(event)

    async def cancel(self, owner: User, run_id: str) -> dict[str, Any]:
        """Cancel a run; returns once its upstream stream is closed, `cancelled` is out (sockets
        see it at once) and its partial answer is stored, so a read right after sees it."""
        run = self._by_id.get(run_id)
        if run is None or run.ctx.owner.id != owner.id:
            stored = await self.status(owner, run_id)
            return {"run_id": run_id, "status": stored["status"], "cancelled": False}
        await self._cancel(run)
        if run.task is not None:
            await asyncio.wait([run.task], timeout=CANCEL_WAIT_S)
        return {"run_id": run_id, "status": "cancelled", "cancelled": True}

    async def _cancel(self, run: ActiveRun) -> None:
        if run.task is None or run.task.done():
            return
        if not run.cancel_requested:
            run.cancel_requested = True
            run.task.cancel()
        try:
            await asyncio.wait_for(run.cancelled.wait(), CANCEL_WAIT_S)
        except TimeoutError:
            log.warning("run %s did not acknowledge its cancellation in time", run.id)

    async def wait(self, run: ActiveRun) -> dict[str, Any]:
        """The run's outcome; the caller going away does not stop the run."""
        return await asyncio.shield(run.outcome)

    async def status(self, owner: User, run_id: str) -> dict[str, Any]:
        """A run's status, stages and timings."""
        run = self._by_id.get(run_id)
        if run is not None and run.ctx.owner.id == owner.id:
            ctx = run.ctx
            return {
                "id": run.id,
                "session_id": ctx.session.id,
                "status": "running",
                "model": ctx.model.label,
                "stages": _jsonable_stages(ctx.stages),
                "trace_id": ctx.trace_id,
                "message_id": ctx.assistant_message_id,
                "user_message_id": ctx.user_message_id,
                "started_at": ctx.started_at.isoformat(),
                "finished_at": None,
                "error": None,
                "error_code": None,
            }
        async with self._db.session() as db:
            row = await db.scalar(
                select(Run)
                .join(ChatSession, ChatSession.id == Run.session_id)
                .where(Run.id == run_id, ChatSession.owner_id == owner.id)
            )
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        return {
            "id": row.id,
            "session_id": row.session_id,
            "status": row.status,
            "model": row.model,
            "stages": row.stages,
            "trace_id": row.trace_id,
            "message_id": row.assistant_message_id,
            "user_message_id": row.user_message_id,
            "started_at": row.started_at.isoformat(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "error": row.error,
            "error_code": row.error_code,
        }

    async def recover(self) -> int:
        """At start-up: runs that never finished become interrupted (or cancelled) messages
        holding every chunk their journal recorded. Returns how many were recovered."""
        recovered = 0
        for journal in leftover_journals(self._journal_dir):
            status = (
                "cancelled" if any(e.type == "cancelled" for e in journal.events) else "interrupted"
            )
            await self._close_run(
                journal.run_id, status, journal.content, journal.thinking, journal.last_seq
            )
            journal.path.unlink(missing_ok=True)
            recovered += 1
        async with self._db.session() as db:
            orphans = list(await db.scalars(select(Run.id).where(Run.status == "running")))
        for run_id in orphans:
            await self._close_run(run_id, "interrupted", "", "", 0)
            recovered += 1
        return recovered

    async def _close_run(
        self, run_id: str, status: str, content: str, thinking: str, last_seq: int
    ) -> None:
        async with self._db.session() as db:
            row = await db.get(Run, run_id)
            if row is None:
                return
            row.status = status
            row.finished_at = utcnow()
            row.error = "the server stopped during this run" if status == "interrupted" else None
            row.error_code = "interrupted" if status == "interrupted" else None
            message = await db.get(ChatMessage, row.assistant_message_id)
            if message is not None:
                message.content = _storable(content)
                message.thinking = _storable(thinking)
                message.status = status
            await _ensure_trace(db, row)
            await db.execute(
                update(ChatSession)
                .where(ChatSession.id == row.session_id, ChatSession.last_seq < last_seq)
                .values(last_seq=last_seq)
            )

    async def shutdown(self) -> None:
        """Stop every run; their partial answers are kept as interrupted messages."""
        runs = list(self._by_id.values())
        for run in runs:
            run.shutting_down = True
        await asyncio.gather(*(self._cancel(run) for run in runs), return_exceptions=True)
        tasks = [run.task for run in runs if run.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)


async def _ensure_trace(db: AsyncSession, row: Run) -> None:
    """A run cut off before its agent stored the trace (the process died) still has one: its
    root span, with how the run ended, so its trace id never answers 404."""
    if not row.trace_id:
        return
    stored = await db.scalar(select(Span.id).where(Span.trace_id == row.trace_id).limit(1))
    session = await db.get(ChatSession, row.session_id)
    if stored is not None or session is None:
        return
    ended = row.finished_at or utcnow()
    db.add(
        Span(
            id=secrets.token_hex(8),
            trace_id=row.trace_id,
            parent_id=None,
            owner_id=session.owner_id,
            run_id=row.id,
            name="run",
            kind="run",
            started_at=row.started_at,
            duration_ms=round((ended - row.started_at).total_seconds() * 1000, 3),
            attributes={"run_id": row.id, "status": row.status, "recovered": True},
            status=row.status,
        )
    )


def _storable(text: str | None) -> str:
    """Text as every database can store it: NUL (which PostgreSQL refuses) becomes U+FFFD."""
    return (text or "").replace("\x00", "\ufffd")


def _jsonable_stages(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in s.items()
        }
        for s in stages
    ]
