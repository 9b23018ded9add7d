"""The trace of one agent run: a root span around the agent, a span per stage and per LLM
call, stored however the run ends (success, error or cancellation). Every agent runs inside
`traced_run`, so every trace id a run hands out names a stored trace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from vibeforge.llm import ChatRequest
from vibeforge.runs.context import AgentResult, CallRecord, RunContext
from vibeforge.traces import SpanRecord, Tracer, TraceStore

log = logging.getLogger("vibeforge.agents")
AfterRun = Callable[[str], Awaitable[None]]


class RunTrace:
    """The spans of a run in progress, and the ways an agent adds to them."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.tracer = Tracer(ctx.trace_id, ctx.owner.id, ctx.run_id)
        self.status = "cancelled"  # until the agent reports, or an error says otherwise
        self.root: SpanRecord | None = None

    def finish(self, result: AgentResult, **attributes: Any) -> None:
        """Record how the agent ended, on the root span."""
        self.status = result.status
        if self.root is not None:
            self.root.attributes.update(status=result.status, **attributes)

    @asynccontextmanager
    async def stage(self, name: str, **attributes: Any) -> AsyncIterator[SpanRecord]:
        """A timed stage: announced with stage_update, recorded in the run, traced."""
        with self.tracer.span(name, "stage", **attributes) as span:
            async with self.ctx.stage(name) as record:
                record.update(attributes)
                yield span

    async def call(
        self, request: ChatRequest, role: str, iteration: int = 0, *, publish: bool = True
    ) -> CallRecord:
        """One provider request as an `llm.ROLE` span holding its LLMCall's figures (also when
        it fails or is cancelled); its text streams to the client when `publish`."""
        ctx = self.ctx
        before = len(ctx.calls)
        with self.tracer.span(
            f"llm.{role}", "llm", role=role, iteration=iteration, model=ctx.model.label
        ) as span:
            try:
                record = await ctx.stream_model(
                    request, role=role, iteration=iteration, publish=publish
                )
            finally:
                if len(ctx.calls) > before:
                    call = ctx.calls[-1]
                    span.attributes.update(
                        llm_call_id=call.id,
                        prompt_tokens=call.prompt_tokens,
                        completion_tokens=call.completion_tokens,
                        cost_usd=call.cost_usd,
                        latency_ms=call.latency_ms,
                    )
            span.attributes.update(
                stop_reason=record.stop_reason, tool_calls=len(record.tool_calls)
            )
        return record


@asynccontextmanager
async def traced_run(
    ctx: RunContext, agent: str, traces: TraceStore, after: AfterRun | None = None
) -> AsyncIterator[RunTrace]:
    """Run an agent inside the root span `run`; at the end, however it comes, store the trace
    and call `after` with the run's status (`cancelled` unless the agent finished or failed)."""
    trace = RunTrace(ctx)
    cancelled = False
    try:
        with trace.tracer.span(
            "run", "run", run_id=ctx.run_id, agent=agent, model=ctx.model.label
        ) as root:
            trace.root = root
            yield trace
    except asyncio.CancelledError:
        cancelled = True
        raise
    except Exception:
        trace.status = "error"
        raise
    finally:
        # Stored however the run ends, cancellation included: the trace explains it. A
        # cancelled run's `cancelled` does not wait for the write (under a cancel storm it
        # waited hundreds of milliseconds for its turn at the database); the run's end does.
        storing = _store(ctx, trace, traces, after)
        if cancelled:
            ctx.owe(storing)
        else:
            await storing


async def _store(
    ctx: RunContext, trace: RunTrace, traces: TraceStore, after: AfterRun | None
) -> None:
    try:
        await traces.save(trace.tracer)
        if after is not None:
            await after(trace.status)
    except Exception:  # losing the trace must not turn a good run into a failed one
        log.exception("storing the trace of run %s failed", ctx.run_id)
