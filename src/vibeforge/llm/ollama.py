"""Adapter for Ollama's native /api/chat: NDJSON over httpx, with thinking and eval counts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from vibeforge.llm._wire import iter_lines
from vibeforge.llm.adapter import ProviderAdapter, purpose_headers
from vibeforge.llm.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderProtocolError,
    ProviderTimeout,
    status_error,
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
        {
            "temperature",
            "top_p",
            "max_tokens",
            "stop",
            "seed",
            "presence_penalty",
            "frequency_penalty",
            "response_format",
            "reasoning_effort",
            "extra",
        }
    ),
)

# vibeforge name -> Ollama `options` name
_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "num_predict",
    "stop": "stop",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


class OllamaModel(ProviderAdapter[httpx.AsyncClient]):
    """A ChatModel speaking Ollama's own streaming chat API."""

    sdk = None
    default_capabilities = CAPABILITIES

    def _build(self, sdk: object) -> httpx.AsyncClient:
        # A key is for an Ollama behind an authenticating proxy, or ollama.com's own API.
        headers = {"Authorization": f"Bearer {self.spec.api_key}"} if self.spec.api_key else {}
        headers.update(self.spec.extra_headers)
        # The timeout bounds each wait for bytes, not the whole answer.
        return httpx.AsyncClient(
            base_url=(self.spec.resolved_base_url() or "").rstrip("/"),
            timeout=httpx.Timeout(self.spec.timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            verify=shared_ssl_context(),
        )

    def request_body(self, request: ChatRequest, params: Params) -> dict[str, Any]:
        """The JSON body for POST /api/chat."""
        body: dict[str, Any] = {
            "model": request.model or self.spec.model,
            "messages": [_message(message) for message in request.messages],
            "stream": True,
        }
        options = {
            ollama_name: getattr(params, name)
            for name, ollama_name in _OPTIONS.items()
            if getattr(params, name) is not None
        }
        if params.response_format is not None:
            kind = params.response_format.get("type")
            if kind == "json_schema":
                body["format"] = (params.response_format.get("json_schema") or {}).get("schema")
            elif kind == "json_object":
                body["format"] = "json"
        if params.reasoning_effort is not None:
            # Ollama takes a boolean, or a level for models that have levels (gpt-oss).
            effort = params.reasoning_effort
            body["think"] = effort if effort in ("low", "medium", "high") else effort != "none"
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        extra = dict(params.extra)
        options.update(extra.pop("options", {}))
        body.update(extra)
        if options:
            body["options"] = options
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one /api/chat answer; the response is held in `async with`."""
        params = self.params_for(request)
        body = self.request_body(request, params)
        raw: dict[str, Any] = {}
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        tool_calls: list[dict[str, Any]] = []
        provider = self.spec.provider
        try:
            client = await self.client()
            async with client.stream(
                "POST", "/api/chat", json=body, headers=purpose_headers(request)
            ) as response:
                if response.status_code >= 400:
                    raise await status_error(provider, response)
                async for line in iter_lines(response.aiter_bytes()):
                    if not line.strip():
                        continue
                    try:
                        chunk = json.loads(line)
                    except ValueError:
                        raise ProviderProtocolError(
                            provider, f"unparseable line {line[:80]!r}"
                        ) from None
                    if "error" in chunk:
                        raise ProviderProtocolError(provider, f"error in stream: {chunk['error']}")
                    for event in _take(chunk, raw, message, tool_calls):
                        yield event
        except ProviderError:
            raise
        except httpx.TimeoutException as error:
            raise ProviderTimeout(
                provider, f"no answer in time ({type(error).__name__})"
            ) from error
        except (httpx.TransportError, OSError) as error:
            raise ProviderConnectionError(
                provider, f"connection failed or dropped: {error}"
            ) from error
        if not raw.get("done"):
            raise ProviderProtocolError(provider, "the stream ended before the answer finished")
        if tool_calls:
            message["tool_calls"] = tool_calls
        raw["message"] = message
        usage = Usage(
            prompt_tokens=int(raw.get("prompt_eval_count") or 0),
            completion_tokens=int(raw.get("eval_count") or 0),
        )
        yield UsageReport(with_cost(usage, self.spec.prices))
        reason = raw.get("done_reason") or "stop"
        yield Finished("tool_calls" if tool_calls and reason == "stop" else reason, raw)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client.built is not None:
            await self._client.built.aclose()


def _take(
    chunk: dict[str, Any],
    raw: dict[str, Any],
    message: dict[str, Any],
    tool_calls: list[dict[str, Any]],
) -> list[StreamEvent]:
    """Fold one NDJSON object into the assembled answer and return its events."""
    events: list[StreamEvent] = []
    for key, value in chunk.items():
        if key != "message":
            raw[key] = value
    for key, value in (chunk.get("message") or {}).items():
        if key == "tool_calls":
            for call in value or ():
                function = call.get("function") or {}
                index = len(tool_calls)
                call_id = call.get("id") or f"call_{index}"
                arguments = json.dumps(function.get("arguments") or {})
                tool_calls.append(call)
                events.append(ToolCallDelta(index, call_id, function.get("name"), arguments))
        elif isinstance(value, str) and key != "role":
            message[key] = (message.get(key) or "") + value
            if value and key == "content":
                events.append(TextDelta(value))
            elif value and key == "thinking":
                events.append(ThinkingDelta(value))
        else:
            message[key] = value
    return events


def _message(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = {"role": message.role, "content": message.text}
    images = [image.data for image in message.images if image.data]
    if images:
        result["images"] = images  # Ollama takes base64 only, no URLs
    if message.tool_calls:
        result["tool_calls"] = [
            {"function": {"name": call.name, "arguments": json.loads(call.arguments or "{}")}}
            for call in message.tool_calls
        ]
    if message.role == "tool" and message.tool_call_id:
        result["tool_call_id"] = message.tool_call_id
    return result
