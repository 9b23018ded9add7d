"""Adapter for the chat-completions wire API: OpenAI, OpenRouter, vLLM, LM Studio, Ollama /v1.

The request goes out through `openai_http.ChatCompletions` (no SDK: see there why); the SSE
body is read as bytes and parsed here, so every provider field survives into the raw response
(e.g. OpenRouter's `usage.cost`) and split UTF-8 is never cut.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from vibeforge.llm._wire import iter_sse, parse_json
from vibeforge.llm.adapter import ProviderAdapter, purpose_headers
from vibeforge.llm.errors import (
    HTTPX2_ERRORS,
    ProviderError,
    ProviderProtocolError,
    http_error,
)
from vibeforge.llm.openai_http import ChatCompletions
from vibeforge.llm.params import PARAMETER_NAMES, Params
from vibeforge.llm.types import (
    Capabilities,
    ChatRequest,
    Finished,
    Message,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolSpec,
    Usage,
    UsageReport,
)
from vibeforge.llm.usage import with_cost

CAPABILITIES = Capabilities(
    streaming=True, tools=True, thinking=True, images=True, parameters=PARAMETER_NAMES
)

# OpenRouter ranks and attributes apps by these two headers.
OPENROUTER_HEADERS = {
    "HTTP-Referer": "https://github.com/vibeforge/vibeforge",
    "X-Title": "vibeforge",
}

_SIMPLE_PARAMS = (
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "response_format",
    "reasoning_effort",
)
_THINKING_FIELDS = ("reasoning_content", "reasoning")  # vLLM/DeepSeek, OpenRouter/Ollama


class OpenAICompatModel(ProviderAdapter[Any]):
    """A ChatModel speaking /chat/completions with streaming and usage always on."""

    sdk = None
    default_capabilities = CAPABILITIES

    def _build(self, _sdk: Any) -> ChatCompletions:
        self.errors = HTTPX2_ERRORS
        headers = dict(OPENROUTER_HEADERS) if self.spec.provider == "openrouter" else {}
        headers.update(self.spec.extra_headers)
        return ChatCompletions(self.spec, headers)

    def request_body(self, request: ChatRequest, params: Params) -> dict[str, Any]:
        """The JSON body of the request: `params.extra` (and OpenRouter's usage switch) go in
        as they are, under the fields vibeforge sets."""
        body: dict[str, Any] = {
            "model": request.model or self.spec.model,
            "messages": [_message(message) for message in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for name in _SIMPLE_PARAMS:
            value = getattr(params, name)
            if value is not None:
                body[name] = value
        if params.max_tokens is not None:
            # OpenAI's newer models refuse max_tokens; compatible servers only know max_tokens.
            key = "max_completion_tokens" if self.spec.provider == "openai" else "max_tokens"
            body[key] = params.max_tokens
        if request.tools:
            body["tools"] = [_tool(tool) for tool in request.tools]
        extra = dict(params.extra)
        if self.spec.provider == "openrouter":
            extra.setdefault("usage", {"include": True})  # ask for usage.cost
        return {**body, **extra}

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one chat completion; the HTTP response is held in `async with`."""
        params = self.params_for(request)
        body = self.request_body(request, params)
        endpoint = await self.client()
        provider = self.spec.provider
        assembler = ChunkAssembler()
        try:
            response = await endpoint.open(body, purpose_headers(request))
            try:
                async for _event, data in iter_sse(response.aiter_bytes()):
                    if data == b"[DONE]":
                        assembler.done = True
                        break
                    try:
                        chunk = parse_json(data)
                    except ValueError:
                        raise ProviderProtocolError(
                            provider, f"unparseable chunk {data[:80]!r}"
                        ) from None
                    if "error" in chunk:
                        raise _stream_error(provider, chunk["error"])
                    for event in assembler.add(chunk):
                        yield event
            finally:
                await response.aclose()
        except ProviderError:
            raise
        except Exception as error:
            raise self.errors.map(provider, error) from error
        if not assembler.done and assembler.finish_reason is None:
            raise ProviderProtocolError(provider, "the stream ended before the answer finished")
        if assembler.usage is not None:
            yield UsageReport(with_cost(usage_from_openai(assembler.usage), self.spec.prices))
        yield Finished(assembler.finish_reason or "stop", assembler.raw())


class ChunkAssembler:
    """Turns chat.completion.chunk dicts into events and one chat.completion dict."""

    def __init__(self) -> None:
        self.top: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.tool_calls: dict[int, dict[int, dict[str, Any]]] = {}
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.done = False
        self.texts: dict[tuple[int, str], list[str]] = {}  # text fields of each choice's delta

    def add(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """Take one chunk; return the events it carries (for choice 0)."""
        events: list[StreamEvent] = []
        for key, value in chunk.items():
            if key == "usage":
                if value:
                    self.usage = value
            elif key not in ("choices", "object"):
                self.top[key] = value
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            assembled = self.choices.setdefault(
                index,
                {"index": index, "message": {"role": "assistant", "content": None}},
            )
            for key, value in choice.items():
                if key == "delta":
                    self._delta(index, value or {}, assembled["message"], events)
                elif key == "finish_reason":
                    if value:
                        assembled[key] = value
                        if index == 0:
                            self.finish_reason = "tool_calls" if value == "function_call" else value
                    else:
                        assembled.setdefault(key, None)
                elif key != "index":
                    assembled[key] = value
        return events

    def _delta(
        self, index: int, delta: dict[str, Any], message: dict[str, Any], events: list[StreamEvent]
    ) -> None:
        for key, value in delta.items():
            if value is None:
                continue
            if key == "tool_calls":
                for call in value:
                    self._tool_call(index, call, events)
            elif key == "role":
                message["role"] = value
            elif isinstance(value, str):
                # Joined in raw(): appending to a string per chunk copies the whole answer
                # each time (quadratic in its length).
                self.texts.setdefault((index, key), []).append(value)
                if index == 0 and value:
                    if key == "content":
                        events.append(TextDelta(value))
                    elif key in _THINKING_FIELDS:
                        events.append(ThinkingDelta(value))
            elif isinstance(value, list):
                message.setdefault(key, []).extend(value)
            else:
                message[key] = value

    def _tool_call(self, index: int, call: dict[str, Any], events: list[StreamEvent]) -> None:
        position = call.get("index", 0)
        calls = self.tool_calls.setdefault(index, {})
        assembled = calls.setdefault(
            position, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        function = call.get("function") or {}
        if call.get("id"):
            assembled["id"] = call["id"]
        if call.get("type"):
            assembled["type"] = call["type"]
        name = function.get("name") or None
        if name:
            assembled["function"]["name"] += name
        arguments = function.get("arguments") or ""
        assembled["function"]["arguments"] += arguments
        if index == 0:
            events.append(ToolCallDelta(position, call.get("id"), name, arguments))

    def raw(self) -> dict[str, Any]:
        """The chunks as one non-streamed chat.completion, unknown fields kept."""
        choices = []
        for (index, key), pieces in self.texts.items():
            message = self.choices[index]["message"]
            message[key] = (message.get(key) or "") + "".join(pieces)
        self.texts = {}
        for index, choice in sorted(self.choices.items()):
            if index in self.tool_calls:
                calls = self.tool_calls[index]
                choice["message"]["tool_calls"] = [calls[i] for i in sorted(calls)]
            choices.append(choice)
        raw = {**self.top, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            raw["usage"] = self.usage
        return raw


def usage_from_openai(usage: dict[str, Any]) -> Usage:
    """Usage from an OpenAI-shaped usage object, with OpenRouter's `cost` if present."""
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cost = usage.get("cost")
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.text}
    content: Any = message.content
    if not isinstance(content, str):
        content = [
            {"type": "image_url", "image_url": {"url": part.data_url()}}
            if hasattr(part, "data_url")
            else {"type": "text", "text": part.text}
            for part in content
        ]
    result: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        result["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    return result


def _tool(tool: ToolSpec) -> dict[str, Any]:
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": function}


def _stream_error(provider: str, error: Any) -> ProviderError:
    """An error object sent inside an SSE stream (OpenRouter does this mid-stream)."""
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and code >= 400:
        return http_error(provider, code, json.dumps(error), message)
    return ProviderProtocolError(provider, f"error in stream: {message}")
