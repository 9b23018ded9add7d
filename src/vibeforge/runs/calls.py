"""One provider attempt as an LLMCall row: usage (estimated when the call was cut off), cost,
latency and the raw response, however the attempt ended. Runs and the relay both use it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import VibeforgeError
from vibeforge.llm import (
    AttemptFailed,
    ChatRequest,
    Finished,
    ProviderError,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from vibeforge.llm.completion import ToolCallAssembler
from vibeforge.llm.tokens import completed_usage
from vibeforge.llm.usage import Prices, with_cost


@dataclass
class CallRecord:
    """One LLM call being made: fed with stream events, turned into an LLMCall row."""

    role: str
    iteration: int
    model: str
    attempt: int = 1
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tools: ToolCallAssembler = field(default_factory=ToolCallAssembler)
    usage: Usage | None = None
    stop_reason: str | None = None
    raw: dict[str, Any] | None = None

    def feed(self, event: object) -> None:
        """Take one stream event."""
        if isinstance(event, (TextDelta, ThinkingDelta, ToolCallDelta)):
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            if isinstance(event, TextDelta):
                self.text.append(event.text)
            elif isinstance(event, ThinkingDelta):
                self.thinking.append(event.text)
            else:
                self.tools.add(event)
        elif isinstance(event, UsageReport):
            self.usage = event.usage
        elif isinstance(event, Finished):
            self.stop_reason = event.stop_reason
            self.raw = event.raw

    def next_attempt(self, failed: AttemptFailed) -> CallRecord:
        """The record of the attempt that follows a failed one, after its retry delay."""
        return CallRecord(
            role=self.role,
            iteration=self.iteration,
            model=self.model,
            attempt=failed.attempt + 1,
            started=time.perf_counter() + failed.retry_in,
        )

    @property
    def content(self) -> str:
        """The text so far."""
        return "".join(self.text)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The complete tool calls so far."""
        return self.tools.calls()


def error_code(failure: Exception) -> str:
    """The code a failure is told by: a domain error's own, else `internal_error`."""
    return failure.code if isinstance(failure, VibeforgeError) else "internal_error"


def attempt_usage(
    record: CallRecord,
    request: ChatRequest,
    prices: Prices | None,
    failure: BaseException | None = None,
) -> Usage | None:
    """What the attempt is known to have used: the provider's report, what a failed call
    reported, or an estimate for an answer cut off mid-way (the provider bills what it sent)."""
    usage = record.usage
    if usage is None and isinstance(failure, ProviderError):
        usage = failure.usage
    if usage is None and (record.text or record.thinking or record.tools.calls()):
        output = record.content + "".join(call.arguments for call in record.tool_calls)
        estimate = completed_usage(None, request, output, "".join(record.thinking))
        usage = with_cost(estimate, prices)
    return usage


def call_row(
    record: CallRecord,
    request: ChatRequest,
    status: str,
    *,
    usage: Usage | None,
    failure: BaseException | None = None,
    elapsed: float | None = None,
    prices: Prices | None = None,
    **ids: Any,
) -> LLMCall:
    """The LLMCall row of one attempt, with the price version its cost came from (if it came
    from `prices`); `ids` are its owner, project, session, run, message."""
    raw = record.raw
    if raw is None and isinstance(failure, ProviderError):
        raw = failure.raw
    if raw is None and (record.text or record.thinking):
        raw = {"partial": True, "content": record.content, "thinking": "".join(record.thinking)}
    latency = elapsed if elapsed is not None else time.perf_counter() - record.started
    counted = usage or Usage()
    return LLMCall(
        id=new_id(),
        model=record.model,
        role=record.role,
        iteration=record.iteration,
        attempt=record.attempt,
        status=status,
        prompt_tokens=counted.prompt_tokens,
        completion_tokens=counted.completion_tokens,
        cached_tokens=counted.cached_tokens,
        cache_write_tokens=counted.cache_write_tokens,
        reasoning_tokens=counted.reasoning_tokens,
        cost_usd=counted.cost_usd,
        cost_source=counted.cost_source,
        price_version_id=(
            prices.version_id if prices is not None and counted.cost_source == "prices" else None
        ),
        usage_source=usage.source if usage is not None else None,
        latency_ms=round(latency * 1000, 2),
        first_token_ms=(
            round((record.first_token_at - record.started) * 1000, 2)
            if record.first_token_at
            else None
        ),
        raw=raw,
        error=str(failure) if isinstance(failure, Exception) else None,
        error_code=error_code(failure) if isinstance(failure, Exception) else None,
        created_at=utcnow(),
        **ids,
    )
