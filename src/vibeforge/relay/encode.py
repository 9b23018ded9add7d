"""A ChatModel's answer in OpenAI's wire shapes: `chat.completion` JSON, or SSE chunks."""

from __future__ import annotations

import json
from typing import Any

from vibeforge.llm import TextDelta, ThinkingDelta, ToolCall, ToolCallDelta, Usage
from vibeforge.llm.types import StreamEvent

DONE = b"data: [DONE]\n\n"
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter"})


def finish_reason(stop_reason: str | None) -> str:
    """OpenAI's finish_reason for a normalised stop reason."""
    return stop_reason if stop_reason in FINISH_REASONS else "stop"


def openai_usage(usage: Usage | None) -> dict[str, Any] | None:
    """A usage object as OpenAI reports it (with `cost` when it is known)."""
    if usage is None:
        return None
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
    if usage.cost_usd is not None:
        body["cost"] = usage.cost_usd
    return body


def sse(data: dict[str, Any]) -> bytes:
    """One server-sent event carrying a JSON object."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


class ChunkEncoder:
    """Turns stream events into `chat.completion.chunk` events of one completion."""

    def __init__(self, completion_id: str, model: str, created: int) -> None:
        self.head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse({**self.head, "choices": [choice]})

    def start(self) -> bytes:
        """The first chunk: the assistant's role."""
        return self._chunk({"role": "assistant", "content": ""})

    def event(self, event: StreamEvent) -> bytes | None:
        """The chunk of a text, reasoning or tool-call delta; None for other events."""
        if isinstance(event, TextDelta):
            return self._chunk({"content": event.text})
        if isinstance(event, ThinkingDelta):
            return self._chunk({"reasoning_content": event.text})
        if isinstance(event, ToolCallDelta):
            call: dict[str, Any] = {
                "index": event.index,
                "function": {"arguments": event.arguments},
            }
            if event.id:
                call["id"] = event.id
                call["type"] = "function"
            if event.name:
                call["function"]["name"] = event.name
            return self._chunk({"tool_calls": [call]})
        return None

    def finish(self, stop_reason: str | None) -> bytes:
        """The last choice chunk, with the finish reason."""
        return self._chunk({}, finish_reason(stop_reason))

    def usage(self, usage: Usage | None) -> bytes:
        """The usage chunk (`choices` empty), sent when the caller asked with include_usage."""
        return sse({**self.head, "choices": [], "usage": openai_usage(usage)})

    def error(self, status: int, message: str, code: str | None) -> bytes:
        """An error inside the stream (the SDK raises it as an APIError)."""
        return sse({"error": {"message": message, "type": "api_error", "code": code or status}})


def completion_body(
    completion_id: str,
    model: str,
    created: int,
    *,
    text: str,
    thinking: str,
    tool_calls: tuple[ToolCall, ...],
    stop_reason: str | None,
    usage: Usage | None,
) -> dict[str, Any]:
    """A whole `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if thinking:
        message["reasoning_content"] = thinking
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in tool_calls
        ]
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(stop_reason)}],
    }
    usage_body = openai_usage(usage)
    if usage_body is not None:
        body["usage"] = usage_body
    return body
