"""What an agent sees while it runs: the model, the history, and the ways to report progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from vibeforge.db.chat_tables import ChatMessage, ChatSession, LLMCall
from vibeforge.db.tables import User
from vibeforge.db.types import utcnow
from vibeforge.llm import (
    AttemptFailed,
    ChatRequest,
    Params,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from vibeforge.modelconfigs.service import ResolvedModel
from vibeforge.runs.calls import CallRecord, attempt_usage, call_row
from vibeforge.runs.coordination import Journal
from vibeforge.runs.protocol import Chunk, ServerEvent, StageUpdate, TokenUsage
from vibeforge.runs.streams import SessionStream, Streams
from vibeforge.statuses import CallStatus, MessageStatus, StageStatus


@dataclass
class AgentResult:
    """How a run ended, as the agent reports it."""

    status: MessageStatus = MessageStatus.SUCCESS  # success | needs_input | error
    content: str | None = None  # None: the streamed text
    diff: str | None = None
    error: str | None = None
    error_code: str | None = None  # what kind of error: a VibeforgeError's code
    error_status: int | None = None  # HTTP status of the error the run failed on, if it did
    proposal_id: str | None = None  # the coding pipeline's proposal, if it made one
    proposal_status: str | None = None
    version_id: str | None = None  # the version the proposal was committed as
    counters: dict[str, int] | None = None  # how hard the pipeline had to work


class Agent(Protocol):
    """What a run executes: the plain chat of a session, or the coding pipeline."""

    async def __call__(self, ctx: RunContext) -> AgentResult:
        """Do the run's work, reporting through ctx; raise CancelledError when cancelled."""
        ...


@dataclass
class RunContext:
    """One run in progress."""

    run_id: str
    trace_id: str
    owner: User
    session: ChatSession
    prompt: str
    params: Params
    model: ResolvedModel
    user_message_id: str
    assistant_message_id: str
    history: list[ChatMessage]
    streams: Streams
    stream: SessionStream
    journal: Journal
    started_at: datetime = field(default_factory=utcnow)
    stages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[LLMCall] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    mode: str = "code"  # "code": the coding pipeline; "chat": one plain answer
    persona_id: str | None = None  # the persona the run speaks as (message, session, project)
    attachment_ids: tuple[str, ...] | None = None  # None: every attachment of the session
    wait_for_attachments: bool = False  # wait for extractions instead of failing
    owed: list[asyncio.Task[None]] = field(default_factory=list)  # see `owe`

    @property
    def project_id(self) -> str:
        """The project the session belongs to."""
        return self.session.project_id

    def owe(self, work: Coroutine[Any, Any, None]) -> None:
        """Bookkeeping a cancelled run still owes (storing its trace), started now in a task
        of its own: `cancelled` goes out without waiting for a database write, and the run
        ends only once it is done (`settle`)."""
        self.owed.append(asyncio.get_running_loop().create_task(work))

    async def settle(self) -> None:
        """Wait for what `owe` started; a second cancellation does not stop it."""
        if self.owed:
            await asyncio.wait(self.owed)

    def emit(self, event: ServerEvent) -> None:
        """Journal and publish a session event tagged with this run."""
        self.streams.emit(self.stream, event, run_id=self.run_id, journal=self.journal)

    def chunk(self, content: str = "", thinking: str = "") -> None:
        """Stream a piece of the answer (kept if the run is cancelled or the server dies)."""
        if content:
            self.content.append(content)
        if thinking:
            self.thinking.append(thinking)
        self.emit(Chunk(content, thinking))

    @asynccontextmanager
    async def stage(self, name: str) -> AsyncIterator[dict[str, Any]]:
        """Announce and time a stage; its record lands in the run's `stages`. Setting the
        record's `error` ends the stage `failed` with that detail, without raising."""
        record: dict[str, Any] = {
            "name": name,
            "status": StageStatus.RUNNING,
            "started_at": utcnow(),
        }
        self.stages.append(record)
        started = time.perf_counter()
        self.emit(StageUpdate(name, StageStatus.RUNNING))
        status = StageStatus.FAILED
        try:
            yield record
            status = StageStatus.FAILED if record.get("error") else StageStatus.FINISHED
        except asyncio.CancelledError:
            status = StageStatus.CANCELLED
            raise
        finally:
            record["status"] = status
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            self.emit(StageUpdate(name, status, record["duration_ms"], record.get("error")))

    def usage_total(self) -> dict[str, Any]:
        """The sum of every LLM call of the run so far."""
        total: dict[str, Any] = {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cached_tokens": 0,
            "reasoning_tokens": 0,
            "total_tokens": 0,
            "cost_usd": None,
            "calls": len(self.calls),
        }
        for call in self.calls:
            total["prompt_tokens"] += call.prompt_tokens
            total["completion_tokens"] += call.completion_tokens
            total["cached_tokens"] += call.cached_tokens
            total["reasoning_tokens"] += call.reasoning_tokens
            if call.cost_usd is not None:
                total["cost_usd"] = (total["cost_usd"] or 0.0) + call.cost_usd
        total["total_tokens"] = total["prompt_tokens"] + total["completion_tokens"]
        return total

    async def stream_model(
        self, request: ChatRequest, *, role: str = "chat", iteration: int = 0, publish: bool = True
    ) -> CallRecord:
        """Stream one call, relaying its text as chunks when `publish`; return its record.

        Every attempt becomes an LLMCall, however it ends: a retried one as `error` (with
        what the provider reported for it), the last as `success`, `error` or `cancelled`.
        """
        if request.purpose is None:
            request = replace(request, purpose=role)
        record = CallRecord(role=role, iteration=iteration, model=self.model.label)
        try:
            async with aclosing(self.model.chat.stream(request)) as events:
                async for event in events:
                    if isinstance(event, AttemptFailed):
                        self._store_call(
                            record, request, CallStatus.ERROR, event.error, event.elapsed
                        )
                        record = record.next_attempt(event)
                        continue
                    record.feed(event)
                    if not publish:
                        continue
                    if isinstance(event, TextDelta):
                        self.chunk(content=event.text)
                    elif isinstance(event, ThinkingDelta):
                        self.chunk(thinking=event.text)
        except Exception as failure:
            if not getattr(failure, "unsent", False):
                self._store_call(record, request, CallStatus.ERROR, failure)
            raise
        except BaseException:
            # Cancelled while waiting to retry: that attempt never reached the provider.
            if time.perf_counter() >= record.started:
                self._store_call(record, request, CallStatus.CANCELLED)
            raise
        self._store_call(record, request, CallStatus.SUCCESS)
        return record

    def _store_call(
        self,
        record: CallRecord,
        request: ChatRequest,
        status: str,
        failure: BaseException | None = None,
        elapsed: float | None = None,
    ) -> None:
        """Append the attempt's LLMCall and announce its usage."""
        usage = attempt_usage(record, request, self.model.spec.prices, failure)
        self.calls.append(
            call_row(
                record,
                request,
                status,
                usage=usage,
                failure=failure,
                elapsed=elapsed,
                prices=self.model.spec.prices,
                owner_id=self.owner.id,
                project_id=self.project_id,
                session_id=self.session.id,
                run_id=self.run_id,
                message_id=self.assistant_message_id,
            )
        )
        if usage is not None:
            self.emit(
                TokenUsage(
                    message_id=self.assistant_message_id,
                    role=record.role,
                    iteration=record.iteration,
                    model=record.model,
                    usage=_usage_dict(usage),
                    total=self.usage_total(),
                    timestamp=utcnow().isoformat(),
                    attempt=record.attempt,
                    status=status,
                )
            )


def _usage_dict(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": usage.cost_usd,
        "cost_source": usage.cost_source,
        "source": usage.source,
    }
