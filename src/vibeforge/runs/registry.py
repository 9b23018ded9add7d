"""The run registry: every run of this process as a task; starting, cancelling, waiting.

What a run writes is `runs.store`'s business; what it does is its agent's. The registry owns
the tasks: one active run per session (a new message cancels the old run first), cancellation
that returns once the partial answer is stored, and a shutdown that interrupts every run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import User
from vibeforge.db.types import new_id
from vibeforge.errors import Conflict, VibeforgeError
from vibeforge.llm import merge_params, validate_params
from vibeforge.llm.transport import close_streams_of
from vibeforge.modelconfigs.service import ModelConfigService
from vibeforge.runs import reasons
from vibeforge.runs.context import Agent, AgentResult, RunContext
from vibeforge.runs.coordination import Coordinator, SingleProcess
from vibeforge.runs.hooks import AfterWrites, PostResponse, RunHooks, RunSetup
from vibeforge.runs.protocol import (
    Cancelled,
    Chat,
    ChatSessionStart,
    Done,
    Interrupted,
    PostResponseComplete,
    RunFailed,
)
from vibeforge.runs.store import FinishedAfter, FinishedRun, RunStatusOut, RunStore, storable
from vibeforge.runs.streams import Streams
from vibeforge.sessions.service import SessionService
from vibeforge.statuses import MessageStatus, RunStatus

log = logging.getLogger("vibeforge.runs")

# Checks a message before its run opens (e.g. that the attachments it names are ready);
# raises a VibeforgeError to refuse it.
Admission = Callable[[User, ChatSession, Chat], Awaitable[None]]
CANCEL_WAIT_S = 5.0
UNEXPECTED = "the run failed unexpectedly"


@dataclass
class ActiveRun:
    """A run this process is executing."""

    ctx: RunContext
    outcome: asyncio.Future[Done]
    task: asyncio.Task[None] | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: bool = False
    cancel_reason: str | None = None  # why it was cancelled (see runs.reasons)
    shutting_down: bool = False  # interrupted rather than cancelled, for interrupt_reason
    interrupt_reason: str = reasons.SERVER_STOPPED
    error_status: int | None = None  # HTTP status of the error the run failed on, if any
    superseded_run_id: str | None = None  # the run its start cancelled
    started: float = field(default_factory=time.perf_counter)

    @property
    def id(self) -> str:
        """The run id."""
        return self.ctx.run_id


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What a cancel request found: the run's status, and whether it stopped it."""

    run_id: str
    status: str
    cancelled: bool


class RunRegistry:
    """Every run of this process; one active run per session."""

    def __init__(
        self,
        store: RunStore,
        streams: Streams,
        models: ModelConfigService,
        sessions: SessionService,
        journal_dir: Path,
        agent_for: Callable[[RunContext], Agent],
        hooks: RunHooks | None = None,
        admit: Admission | None = None,
        coordinator: Coordinator | None = None,
    ) -> None:
        self.store = store
        self._streams = streams
        self._models = models
        self._sessions = sessions
        self._journal_dir = journal_dir
        self._agent_for = agent_for
        self._hooks = hooks  # a persona's setup, and post-response work
        self._admit = admit
        # Alone, or one of several processes (vibeforge.scale): who else may own a run.
        self.coordinator: Coordinator = coordinator or SingleProcess()
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
        self, owner: User, command: Chat, *, session: ChatSession | None = None
    ) -> ActiveRun:
        """Start a run for a user message; a run already active in the session is cancelled
        (its `cancelled` names this run as the reason), or refused with Conflict when the
        command says `if_idle`. `session`: the session as the caller just fetched it for
        `owner`, saving a lookup."""
        if session is None or session.id != command.session_id or session.owner_id != owner.id:
            session = await self._sessions.get(owner, command.session_id)
        if self._admit is not None:
            await self._admit(owner, session, command)
        setup = RunSetup()
        if self._hooks is not None:
            setup = await self._hooks.setup(owner, command, session)
        model = await self._models.resolve(
            owner,
            command.model or setup.model,
            session.model_config_id,
            project_id=session.project_id,
        )
        checked = validate_params(model.chat.capabilities, command.params)
        defaults = model.spec.default_params
        if setup.params:
            defaults = merge_params(
                defaults, validate_params(model.chat.capabilities, setup.params)
            )
        merged = merge_params(defaults, checked)
        coordinator = self.coordinator
        coordinator.check_ready()
        async with self._lock(session.id), coordinator.session_lock(session.id):
            previous = self._by_session.get(session.id)
            elsewhere = None if previous else await coordinator.running_elsewhere(session.id)
            run_id, message_id = new_id(), new_id()
            if (previous or elsewhere) and command.if_idle:
                raise Conflict(
                    f"run {previous.id if previous else elsewhere} is active in this session; "
                    "cancel it, wait for it, or send the message without if_idle to supersede it"
                )
            if previous is not None:
                await self._cancel(previous, reasons.superseded_by(message_id, run_id))
            elif elsewhere is not None:
                reason = reasons.superseded_by(message_id, run_id)
                await coordinator.cancel_elsewhere(elsewhere, reason)
            await coordinator.claim(run_id, session.id, owner.id)
            try:
                floor = await coordinator.seq_floor(session.id, session.last_seq)
                opened = await self.store.open(
                    session,
                    command.prompt,
                    model.label,
                    run_id=run_id,
                    assistant_message_id=message_id,
                )
            except BaseException:
                coordinator.release(run_id, session.id)
                raise
            ctx = RunContext(
                run_id=opened.run_id,
                trace_id=opened.trace_id,
                owner=owner,
                session=session,
                prompt=command.prompt,
                params=merged,
                model=model,
                user_message_id=opened.user_message_id,
                assistant_message_id=opened.assistant_message_id,
                history=opened.history,
                streams=self._streams,
                stream=self._streams.get(session.project_id, session.id, floor),
                journal=coordinator.journal(self._journal_dir, opened.run_id),
                started_at=opened.started_at,
                mode=command.mode or "code",
                persona_id=setup.persona_id,
                attachment_ids=(
                    tuple(command.attachments) if command.attachments is not None else None
                ),
                wait_for_attachments=command.wait_for_attachments,
            )
            run = ActiveRun(ctx, asyncio.get_running_loop().create_future())
            run.superseded_run_id = previous.id if previous is not None else elsewhere
            self._by_id[run.id] = run
            self._by_session[session.id] = run
            run.task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
            run.task.add_done_callback(lambda _: self._settle(run))
        log.info(
            "run %s started (session %s, project %s, model %s, user %s)",
            run.id,
            session.id,
            session.project_id,
            model.label,
            owner.id,
            extra={"run_id": run.id, "session_id": session.id, "project_id": session.project_id},
        )
        return run

    def _settle(self, run: ActiveRun) -> None:
        """Whatever happened, the run leaves the registry and its waiters wake."""
        self._by_id.pop(run.id, None)
        if self._by_session.get(run.ctx.session.id) is run:
            del self._by_session[run.ctx.session.id]
        self.coordinator.release(run.id, run.ctx.session.id)
        if not run.outcome.done():  # cut off before its outcome was stored
            interrupted = AgentResult(status=MessageStatus.INTERRUPTED)
            run.outcome.set_result(_done(run, interrupted, "".join(run.ctx.content)))
        run.cancelled.set()

    async def _execute(self, run: ActiveRun) -> None:
        ctx = run.ctx
        ctx.emit(
            ChatSessionStart(
                ctx.assistant_message_id,
                ctx.user_message_id,
                ctx.model.label,
                ctx.trace_id,
                run.superseded_run_id,
            )
        )
        after: PostResponse | None = None
        try:
            result = await self._agent_for(ctx)(ctx)
            after = await self._after(ctx, result)
        except asyncio.CancelledError:
            event: Interrupted | Cancelled
            if run.shutting_down:
                status, event = (
                    MessageStatus.INTERRUPTED,
                    Interrupted(ctx.assistant_message_id, run.interrupt_reason),
                )
            else:
                reason = run.cancel_reason or reasons.BY_USER
                status, event = MessageStatus.CANCELLED, Cancelled(ctx.assistant_message_id, reason)
            ctx.emit(event)
            run.cancelled.set()
            try:
                await self._finish(run, AgentResult(status=status), reason=event.reason)
            finally:
                await ctx.settle()  # the trace, stored meanwhile
            raise
        except VibeforgeError as error:
            ctx.emit(RunFailed(error.code, error.detail))
            result = AgentResult(
                status=MessageStatus.ERROR,
                error=error.detail,
                error_code=error.code,
                error_status=error.status,
            )
        except Exception:
            log.exception("run %s failed", run.id)
            ctx.emit(RunFailed("internal_error", UNEXPECTED))
            result = AgentResult(
                status=MessageStatus.ERROR,
                error=UNEXPECTED,
                error_code="internal_error",
                error_status=500,
            )
        await self._finish(run, result, after)

    async def _after(self, ctx: RunContext, result: AgentResult) -> PostResponse | None:
        """The post-response work of a run that answered (its failure to plan it is logged,
        never held against the answer)."""
        if self._hooks is None or result.status not in (
            MessageStatus.SUCCESS,
            MessageStatus.NEEDS_INPUT,
        ):
            return None
        try:
            return await self._hooks.post_response(ctx)
        except Exception:
            log.exception("planning the post-response work of run %s failed", ctx.run_id)
            return None

    async def _finish(
        self,
        run: ActiveRun,
        result: AgentResult,
        after: PostResponse | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        """Commit the run's outcome, then drop its journal; `done` is numbered before the
        commit so the stored sequence covers it, and published after it. With post-response
        work, that runs next and `post_response_complete` waits for it. `reason`: why a
        cancelled or interrupted run stopped."""
        ctx = run.ctx
        content = result.content if result.content is not None else "".join(ctx.content)
        # A model may emit NUL; PostgreSQL cannot store it in text, and nothing may be lost.
        content = storable(content)
        done = _done(run, result, content)
        run.error_status = result.error_status
        finals = []
        if result.status not in (MessageStatus.CANCELLED, MessageStatus.INTERRUPTED):
            finals.append(ctx.stream.next_event(done, run.id))
            if after is None:
                finals.append(ctx.stream.next_event(PostResponseComplete(run.id), run.id))
        await self.store.finish(
            FinishedRun(
                run_id=run.id,
                session_id=ctx.session.id,
                assistant_message_id=ctx.assistant_message_id,
                status=result.status,
                content=content,
                thinking="".join(ctx.thinking),
                diff=result.diff,
                token_usage=done.token_usage,
                error=result.error,
                error_code=result.error_code,
                stages=ctx.stages,
                calls=ctx.calls,
                last_seq=ctx.stream.last_seq,
                reason=reason,
            )
        )
        if after is not None and finals:
            self._streams.bus.publish(finals[0])
            await self._post_response(run, done, after)
            return
        ctx.journal.discard()
        log.info(
            "run %s ended: %s%s (%.0f ms)",
            run.id,
            result.status,
            f" ({reason})" if reason else "",
            (time.perf_counter() - run.started) * 1000,
            extra={"run_id": run.id, "status": str(result.status), "error_code": result.error_code},
        )
        if not run.outcome.done():
            run.outcome.set_result(done)
        self._streams.flush()  # whatever the run emitted goes out before its outcome
        for event in finals:
            self._streams.bus.publish(event)

    async def _post_response(self, run: ActiveRun, done: Done, after: PostResponse) -> None:
        """After `done`: the post-response work, its events journaled like the run's (the
        journal stays until its end is stored), then `post_response_complete`, or `cancelled`
        if the run is cancelled meanwhile (the answer stays as it was stored). A waiting
        REST caller gets the outcome once this is over, so its next message sees the state."""
        ctx = run.ctx
        stored_calls = len(ctx.calls)
        writes: AfterWrites | None = None
        cut_short = False
        try:
            writes = await after(ctx)
        except asyncio.CancelledError:
            cut_short = True
            if run.shutting_down:
                ctx.emit(Interrupted(ctx.assistant_message_id, reasons.SERVER_STOPPED))
            else:
                reason = run.cancel_reason or reasons.BY_USER
                ctx.emit(Cancelled(ctx.assistant_message_id, reason))
            raise
        except Exception:
            log.exception("the post-response work of run %s failed", run.id)
            ctx.emit(RunFailed("internal_error", UNEXPECTED))
        finally:
            last = None
            if not cut_short:
                last = ctx.stream.next_event(PostResponseComplete(run.id), run.id)
            await self.store.finish_after(
                FinishedAfter(
                    run_id=run.id,
                    session_id=ctx.session.id,
                    stages=ctx.stages,
                    calls=ctx.calls[stored_calls:],
                    last_seq=ctx.stream.last_seq,
                    writes=writes,
                )
            )
            ctx.journal.discard()
            if not run.outcome.done():
                run.outcome.set_result(done)
            if cut_short:
                run.cancelled.set()
            if last is not None:
                self._streams.bus.publish(last)

    async def cancel(self, owner: User, run_id: str) -> CancelOutcome:
        """Cancel a run; returns once its upstream stream is closed, `cancelled` is out (sockets
        see it at once) and its partial answer is stored, so a read right after sees it."""
        run = self._by_id.get(run_id)
        if run is None or run.ctx.owner.id != owner.id:
            # Another process's run of this user: cancelled there (the lease names the user).
            if run is None and await self.coordinator.cancel_elsewhere(
                run_id, reasons.BY_USER, owner.id
            ):
                return CancelOutcome(run_id, RunStatus.CANCELLED, True)
            stored = await self.store.status(owner, run_id)
            return CancelOutcome(run_id, stored.status, False)
        await self._cancel(run, reasons.BY_USER)
        if run.task is not None:
            await asyncio.wait([run.task], timeout=CANCEL_WAIT_S)
        return CancelOutcome(run_id, RunStatus.CANCELLED, True)

    async def cancel_where(self, match: Callable[[ActiveRun], bool], reason: str) -> list[str]:
        """Cancel every run `match` selects, for `reason`; returns once each has stored its
        partial answer (or the wait timed out). The ids of the runs it cancelled."""
        runs = [run for run in list(self._by_id.values()) if match(run)]
        await asyncio.gather(*(self._cancel(run, reason) for run in runs), return_exceptions=True)
        tasks = [run.task for run in runs if run.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)
        return [run.id for run in runs]

    async def cancel_project(self, project_id: str, reason: str) -> list[str]:
        """Cancel every run in a project's sessions (before the project goes away)."""
        return await self.cancel_where(lambda run: run.ctx.project_id == project_id, reason)

    async def cancel_session(self, session_id: str, reason: str) -> list[str]:
        """Cancel the run active in a session, if any."""
        return await self.cancel_where(lambda run: run.ctx.session.id == session_id, reason)

    async def _cancel(self, run: ActiveRun, reason: str) -> None:
        if run.task is None or run.task.done():
            return
        if not run.cancel_requested:
            run.cancel_requested = True
            run.cancel_reason = reason
            log.info(
                "cancelling run %s: %s", run.id, reason, extra={"run_id": run.id, "reason": reason}
            )
            run.task.cancel()
            close_streams_of(run.task)  # the provider hears now, not at the task's next turn
        try:
            await asyncio.wait_for(run.cancelled.wait(), CANCEL_WAIT_S)
        except TimeoutError:
            log.warning("run %s did not acknowledge its cancellation in time", run.id)

    async def wait(self, run: ActiveRun) -> Done:
        """The run's outcome; the caller going away does not stop the run."""
        return await asyncio.shield(run.outcome)

    async def status(self, owner: User, run_id: str) -> RunStatusOut:
        """A run's status, stages and timings."""
        run = self._by_id.get(run_id)
        if run is None or run.ctx.owner.id != owner.id:
            return await self.store.status(owner, run_id)
        ctx = run.ctx
        return RunStatusOut(
            id=run.id,
            session_id=ctx.session.id,
            status=RunStatus.RUNNING,
            model=ctx.model.label,
            stages=[dict(stage) for stage in ctx.stages],
            trace_id=ctx.trace_id,
            message_id=ctx.assistant_message_id,
            user_message_id=ctx.user_message_id,
            started_at=ctx.started_at,
            finished_at=None,
            error=None,
            error_code=None,
        )

    async def recover(self) -> int:
        """At start-up, end the runs that a stop cut off (each logged); returns how many."""
        recovered = await self.store.recover(self._journal_dir)
        for run in recovered:
            log.warning(
                "recovered run %s as %s: %s",
                run.run_id,
                run.status,
                run.reason,
                extra={"run_id": run.run_id, "status": str(run.status)},
            )
        return len(recovered)

    def active_count(self) -> int:
        """How many runs this process is executing."""
        return len(self._by_id)

    async def shutdown(self) -> int:
        """Stop every run; their partial answers are kept as interrupted messages. Returns
        how many runs were interrupted."""
        return len(await self.interrupt_where(lambda _: True, reasons.SERVER_STOPPED))

    async def interrupt_where(self, match: Callable[[ActiveRun], bool], reason: str) -> list[str]:
        """Stop the runs `match` selects as interrupted (not cancelled: nobody asked), for
        `reason`, keeping their partial answers; the ids of those runs."""
        runs = [run for run in list(self._by_id.values()) if match(run)]
        for run in runs:
            run.shutting_down = True
            run.interrupt_reason = reason
        await asyncio.gather(*(self._cancel(run, reason) for run in runs), return_exceptions=True)
        tasks = [run.task for run in runs if run.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)
        return [run.id for run in runs]


def _done(run: ActiveRun, result: AgentResult, content: str) -> Done:
    """The outcome of a run as clients see it in `done` and the REST answer."""
    ctx = run.ctx
    return Done(
        run_id=run.id,
        message_id=ctx.assistant_message_id,
        status=result.status,
        content=content,
        diff=result.diff,
        trace_id=ctx.trace_id,
        token_usage=ctx.usage_total(),
        error=result.error,
        error_code=result.error_code,
        proposal_id=result.proposal_id,
        proposal_status=result.proposal_status,
        version_id=result.version_id,
        counters=result.counters,
        superseded_run_id=run.superseded_run_id,
    )
