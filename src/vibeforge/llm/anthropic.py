"""Adapter for Anthropic's Messages API on the official `anthropic` SDK, thinking blocks included.

The SDK (imported on first use, in a thread) makes the request; the SSE body is parsed here so
the raw `message` keeps every field Anthropic sends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from vibeforge.llm._wire import iter_sse
from vibeforge.llm.adapter import ProviderAdapter, purpose_headers
from vibeforge.llm.errors import (
    ErrorTable,
    ProviderAuthenticationError,
    ProviderError,
    ProviderProtocolError,
)
from vibeforge.llm.params import Params
from vibeforge.llm.tls import shared_ssl_context
from vibeforge.llm.types import (
    Capabilities,
    ChatRequest,
    Finished,
    Message,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from vibeforge.llm.usage import with_cost

CAPABILITIES = Capabilities(
    streaming=True,
    tools=True,
    thinking=True,
    images=True,
    parameters=frozenset(
        {"temperature", "top_p", "max_tokens", "stop", "user", "reasoning_effort", "extra"}
    ),
)

DEFAULT_MAX_TOKENS = 8192  # Anthropic requires max_tokens; this is the fallback
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768}
_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
_STOP_REASONS["tool_use"] = "tool_calls"


class AnthropicModel(ProviderAdapter[Any]):
    """A ChatModel speaking /v1/messages with streaming."""

    sdk = "anthropic"
    default_capabilities = CAPABILITIES

    def _build(self, anthropic: Any) -> Any:
        self.errors = ErrorTable.of_sdk(anthropic)
        try:
            return anthropic.AsyncAnthropic(
                api_key=self.spec.api_key,
                base_url=self.spec.base_url,
                timeout=self.spec.timeout,
                max_retries=0,  # vibeforge retries, and only before the first token
                default_headers=dict(self.spec.extra_headers),
                http_client=anthropic.DefaultAsyncHttpxClient(verify=shared_ssl_context()),
            )
        except anthropic.AnthropicError as error:
            raise ProviderAuthenticationError("anthropic", 401, "", str(error)) from None

    def request_kwargs(self, request: ChatRequest, params: Params) -> dict[str, Any]:
        """The keyword arguments for `messages.create`."""
        system = "\n\n".join(m.text for m in request.messages if m.role == "system")
        kwargs: dict[str, Any] = {
            "model": request.model or self.spec.model,
            "messages": [_message(m) for m in request.messages if m.role != "system"],
            "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
            "stream": True,
        }
        if system:
            kwargs["system"] = system
        if params.stop:
            kwargs["stop_sequences"] = params.stop
        if params.user:
            kwargs["metadata"] = {"user_id": params.user}
        if request.tools:
            kwargs["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        # The installed SDK's signature no longer lists sampling parameters; the API takes them.
        extra_body: dict[str, Any] = {}
        for name in ("temperature", "top_p"):
            if getattr(params, name) is not None:
                extra_body[name] = getattr(params, name)
        effort = params.reasoning_effort
        if effort is not None and effort != "none":
            budget = THINKING_BUDGETS[effort]
            kwargs["thinking"] = {"type": "enabled", "budget_tokens": budget}
            kwargs["max_tokens"] = max(kwargs["max_tokens"], budget + 1024)
        extra_body.update(params.extra)
        if extra_body:
            kwargs["extra_body"] = extra_body
        headers = purpose_headers(request)
        if headers:
            kwargs["extra_headers"] = headers
        return kwargs

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one message; the HTTP response is held in `async with`."""
        params = self.params_for(request)
        kwargs = self.request_kwargs(request, params)
        client = await self.client()
        assembler = EventAssembler()
        try:
            async with client.messages.with_streaming_response.create(**kwargs) as response:
                async for _name, data in iter_sse(response.iter_bytes()):
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise ProviderProtocolError(
                            "anthropic", f"unparseable event {data[:80]!r}"
                        ) from None
                    for item in assembler.add(event):
                        yield item
                    if assembler.stopped:
                        break
        except ProviderError:
            raise
        except Exception as error:
            raise self.errors.map("anthropic", error) from error
        if not assembler.stopped:
            raise ProviderProtocolError("anthropic", "the stream ended before message_stop")
        yield UsageReport(with_cost(assembler.usage(), self.spec.prices))
        raw = assembler.message
        yield Finished(_STOP_REASONS.get(str(raw.get("stop_reason")), "other"), raw)


class EventAssembler:
    """Turns Messages API stream events into vibeforge events and one `message` dict."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {"content": []}
        self.stopped = False
        self._json_parts: dict[int, list[str]] = {}
        self._tool_numbers: dict[int, int] = {}

    def add(self, event: dict[str, Any]) -> list[StreamEvent]:
        """Take one event; return what it means for the caller."""
        kind = event.get("type")
        if kind == "message_start":
            self.message = {**event.get("message", {}), "content": []}
        elif kind == "content_block_start":
            block = dict(event.get("content_block") or {})
            self.message["content"].append(block)
            if block.get("type") == "tool_use":
                number = self._tool_numbers[event["index"]] = len(self._tool_numbers)
                self._json_parts[event["index"]] = []
                return [ToolCallDelta(number, block.get("id"), block.get("name"), "")]
        elif kind == "content_block_delta":
            return self._delta(event["index"], event.get("delta") or {})
        elif kind == "content_block_stop":
            index = event["index"]
            if index in self._json_parts:
                text = "".join(self._json_parts.pop(index))
                self.message["content"][index]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            self.message.update(event.get("delta") or {})
            self.message["usage"] = {**self.message.get("usage", {}), **event.get("usage", {})}
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            error = event.get("error") or {}
            raise ProviderProtocolError("anthropic", f"error in stream: {error.get('message')}")
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        block = self.message["content"][index]
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
            return [TextDelta(delta["text"])]
        if kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
            return [ThinkingDelta(delta["thinking"])]
        if kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta["signature"]
        elif kind == "input_json_delta":
            self._json_parts[index].append(delta["partial_json"])
            number = self._tool_numbers[index]
            return [ToolCallDelta(number, None, None, delta["partial_json"])]
        return []

    def usage(self) -> Usage:
        """Usage in vibeforge's terms: prompt tokens include those read from the cache."""
        usage = self.message.get("usage") or {}
        cached = int(usage.get("cache_read_input_tokens") or 0)
        created = int(usage.get("cache_creation_input_tokens") or 0)
        return Usage(
            prompt_tokens=int(usage.get("input_tokens") or 0) + cached + created,
            completion_tokens=int(usage.get("output_tokens") or 0),
            cached_tokens=cached,
            cache_write_tokens=created,
        )


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        result = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.text,
        }
        return {"role": "user", "content": [result]}
    content: list[dict[str, Any]] = []
    if message.text:
        content.append({"type": "text", "text": message.text})
    for image in message.images:
        source = (
            {"type": "url", "url": image.url}
            if image.url
            else {"type": "base64", "media_type": image.media_type, "data": image.data}
        )
        content.append({"type": "image", "source": source})
    for call in message.tool_calls:
        arguments = json.loads(call.arguments or "{}")
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return {"role": message.role, "content": content}
