"""Streaming a model while recording every provider attempt as an LLMCall row, with the
request and the answer kept in vibeforge's own terms so the call can be replayed later."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from vibeforge.db.chat_tables import LLMCall
from vibeforge.llm import AttemptFailed, ChatModel, ChatRequest, Message, Usage
from vibeforge.llm.types import StreamEvent, ToolCall
from vibeforge.llm.usage import Prices
from vibeforge.runs.calls import CallRecord, attempt_usage, call_row
from vibeforge.statuses import CallStatus


@dataclass(frozen=True, slots=True)
class CallScope:
    """Whose calls these are and what they are for: the ids every row carries."""

    owner_id: str
    role: str  # program, judge, ...
    model_label: str
    project_id: str | None = None
    run_id: str | None = None  # the test run (or other caller) the calls belong to
    prices: Prices | None = None


def request_record(request: ChatRequest) -> dict[str, Any]:
    """A request as JSON: what a replay compares the next request with."""
    return {
        "messages": [_message_record(message) for message in request.messages],
        "tools": [
            {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
            for tool in request.tools
        ],
        "params": request.params.model_dump(exclude_none=True, exclude_defaults=True),
    }


def _message_record(message: Message) -> dict[str, Any]:
    content: Any = message.content
    if not isinstance(content, str):
        content = [
            {"text": part.text} if hasattr(part, "text") else {"image": part.data_url()}
            for part in content
        ]
    record: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        record["tool_calls"] = [_call_record(call) for call in message.tool_calls]
    if message.tool_call_id:
        record["tool_call_id"] = message.tool_call_id
    return record


def _call_record(call: ToolCall) -> dict[str, str]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def usage_record(usage: Usage | None) -> dict[str, Any] | None:
    """Usage as JSON (the inverse of `Usage(**record)`)."""
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cost_usd": usage.cost_usd,
        "cost_source": usage.cost_source,
        "source": usage.source,
    }


def reply_record(record: CallRecord) -> dict[str, Any]:
    """A finished answer as JSON: what a replay streams back."""
    return {
        "text": record.content,
        "thinking": "".join(record.thinking),
        "tool_calls": [_call_record(call) for call in record.tool_calls],
        "stop_reason": record.stop_reason,
        "usage": usage_record(record.usage),
    }


@dataclass
class CallRecorder:
    """Streams calls for one scope; every attempt lands in `rows` (to be stored with the
    caller's own outcome), and `on_row` hears of each as it ends."""

    scope: CallScope
    on_row: Callable[[LLMCall], None] | None = None
    rows: list[LLMCall] = field(default_factory=list)

    async def stream(
        self,
        model: ChatModel,
        request: ChatRequest,
        *,
        iteration: int,
        asked: ChatRequest | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """The model's events (without AttemptFailed), each attempt recorded however it ends:
        a retried one as `error`, the last as `success`, `error` or `cancelled`. `asked` is
        the request as the caller made it, if the one sent differs (a capped max_tokens): a
        replay compares with what was asked."""
        scope = self.scope
        record = CallRecord(role=scope.role, iteration=iteration, model=scope.model_label)
        try:
            async with aclosing(model.stream(request)) as events:
                async for event in events:
                    if isinstance(event, AttemptFailed):
                        self._store(record, request, CallStatus.ERROR, event.error, event.elapsed)
                        record = record.next_attempt(event)
                        continue
                    record.feed(event)
                    yield event
        except Exception as failure:
            if not getattr(failure, "unsent", False):
                self._store(record, request, CallStatus.ERROR, failure)
            raise
        except BaseException:
            # Cancelled, or the consumer stopped reading (GeneratorExit): the provider may
            # have billed what it sent, unless the attempt was still waiting to start.
            if time.perf_counter() >= record.started:
                self._store(record, request, CallStatus.CANCELLED)
            raise
        row = self._store(record, request, CallStatus.SUCCESS)
        asked_record = request_record(asked or request)
        row.exchange = {"request": asked_record, "reply": reply_record(record)}

    def _store(
        self,
        record: CallRecord,
        request: ChatRequest,
        status: str,
        failure: BaseException | None = None,
        elapsed: float | None = None,
    ) -> LLMCall:
        scope = self.scope
        usage = attempt_usage(record, request, scope.prices, failure)
        row = call_row(
            record,
            request,
            status,
            usage=usage,
            failure=failure,
            elapsed=elapsed,
            prices=scope.prices,
            owner_id=scope.owner_id,
            project_id=scope.project_id,
            run_id=scope.run_id,
        )
        self.rows.append(row)
        if self.on_row is not None:
            self.on_row(row)
        return row
