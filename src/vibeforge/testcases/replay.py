"""A ChatModel answering from a recorded run: request by request, in order, at no cost.

Each request must equal the recorded one (messages, tools, parameters); the first that does
not, or one past the end of the recording, is a `ReplayDiverged` naming the call and what
differs, and the replay remembers it so the run can say why it is an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from vibeforge.llm import (
    PARAMETER_NAMES,
    Capabilities,
    ChatRequest,
    Finished,
    ProviderError,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from vibeforge.llm.types import StreamEvent
from vibeforge.relay.recorder import request_record

CAPABILITIES = Capabilities(
    streaming=True, tools=True, thinking=True, images=True, parameters=PARAMETER_NAMES
)


class ReplayDiverged(ProviderError):
    """The replayed run asked for something the recorded run never asked."""

    code = "replay_diverged"
    status = 409


def first_difference(recorded: Any, asked: Any, where: str = "") -> str | None:
    """Where two JSON values first differ, as a path, or None when they are equal."""
    if type(recorded) is not type(asked):
        return where or "the request"
    if isinstance(recorded, dict):
        for key in sorted(set(recorded) | set(asked)):
            if key not in recorded or key not in asked:
                return f"{where}.{key}".lstrip(".")
            found = first_difference(recorded[key], asked[key], f"{where}.{key}")
            if found:
                return found.lstrip(".")
        return None
    if isinstance(recorded, list):
        if len(recorded) != len(asked):
            return f"{where} (recorded {len(recorded)} items, asked {len(asked)})".lstrip(".")
        for index, (old, new) in enumerate(zip(recorded, asked, strict=True)):
            found = first_difference(old, new, f"{where}[{index}]")
            if found:
                return found
        return None
    return None if recorded == asked else (where.lstrip(".") or "the request")


class ReplayModel:
    """Answers the calls of one recorded run, in the order they were made."""

    capabilities = CAPABILITIES

    def __init__(self, exchanges: Sequence[dict[str, Any]], what: str = "the recorded run") -> None:
        self.exchanges = list(exchanges)
        self.what = what
        self.position = 0
        self.divergence: str | None = None

    def _diverged(self, detail: str) -> ReplayDiverged:
        if self.divergence is None:
            self.divergence = detail
        return ReplayDiverged("replay", detail)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The recorded answer to this request, or ReplayDiverged."""
        number = self.position + 1
        if self.position >= len(self.exchanges):
            raise self._diverged(
                f"call {number} was never made by {self.what} ({len(self.exchanges)} calls)"
            )
        exchange = self.exchanges[self.position]
        differs = first_difference(exchange["request"], request_record(request))
        if differs is not None:
            raise self._diverged(f"call {number} differs from {self.what}'s at {differs}")
        self.position += 1
        reply = exchange["reply"]
        if reply.get("thinking"):
            yield ThinkingDelta(reply["thinking"])
        if reply.get("text"):
            yield TextDelta(reply["text"])
        for index, call in enumerate(reply.get("tool_calls") or ()):
            yield ToolCallDelta(index, call["id"], call["name"], call["arguments"])
        recorded = dict(reply.get("usage") or {})
        recorded.update(cost_usd=0.0, cost_source=None)
        yield UsageReport(Usage(**recorded))
        yield Finished(reply.get("stop_reason") or "stop", {"replayed": True, "call": number})
