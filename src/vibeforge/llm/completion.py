"""Consume a stream into one Completion: for callers that want the whole answer at once."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from vibeforge.llm.errors import ProviderProtocolError
from vibeforge.llm.types import (
    ChatModel,
    ChatRequest,
    Finished,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished call: text, thinking, complete tool calls, usage, stop reason and raw response."""

    text: str
    thinking: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage | None
    stop_reason: str
    raw: dict[str, Any] = field(repr=False)


class ToolCallAssembler:
    """Joins ToolCallDelta fragments into complete ToolCalls, by index."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}

    def add(self, delta: ToolCallDelta) -> None:
        """Take one fragment."""
        call = self._calls.setdefault(delta.index, ["", "", ""])
        if delta.id:
            call[0] = delta.id
        if delta.name:
            call[1] = delta.name
        call[2] += delta.arguments

    def calls(self) -> tuple[ToolCall, ...]:
        """The calls seen so far, in index order."""
        return tuple(
            ToolCall(id=call_id or f"call_{index}", name=name, arguments=arguments or "{}")
            for index, (call_id, name, arguments) in sorted(self._calls.items())
        )


async def collect(model: ChatModel, request: ChatRequest) -> Completion:
    """Run a request to the end and return everything it produced."""
    text: list[str] = []
    thinking: list[str] = []
    tools = ToolCallAssembler()
    usage: Usage | None = None
    async with aclosing(model.stream(request)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ThinkingDelta):
                thinking.append(event.text)
            elif isinstance(event, ToolCallDelta):
                tools.add(event)
            elif isinstance(event, UsageReport):
                usage = event.usage
            elif isinstance(event, Finished):
                return Completion(
                    text="".join(text),
                    thinking="".join(thinking),
                    tool_calls=tools.calls(),
                    usage=usage,
                    stop_reason=event.stop_reason,
                    raw=event.raw,
                )
    raise ProviderProtocolError("model", "the stream ended without a Finished event")
