"""How the stub renders a Script in each wire protocol: OpenAI, Ollama and Anthropic."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from vibeforge.llm.stub.script import Script


def dumps(value: Any) -> bytes:
    """Compact JSON, non-ASCII kept as UTF-8 so split-character tests mean something."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Frame:
    """Bytes to write; `chunk` frames count for delays, disconnects and malformed lines."""

    data: bytes
    chunk: bool = False


def prompt_text(body: dict[str, Any]) -> str:
    """All message text of a request body, in any of the three protocols."""
    texts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts.extend(str(block.get("text", "")) for block in system if isinstance(block, dict))
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "\n".join(texts)


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return prompt_text({"messages": [message]})
    return ""


def text_chunks(script: Script, body: dict[str, Any]) -> tuple[str, ...]:
    """The script's text pieces, or the echo of the last user message word by word."""
    if script.chunks is not None:
        return script.chunks
    words = f"Echo: {_last_user_text(body)}".split(" ")
    return tuple(word if i == 0 else " " + word for i, word in enumerate(words))


def usage_numbers(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    """Usage to report: the script's, else estimates (a token per chunk, 4 prompt chars)."""
    pieces = len(text_chunks(script, body)) + len(script.thinking) + 2 * len(script.tool_calls)
    numbers: dict[str, Any] = {
        "prompt_tokens": max(1, len(prompt_text(body)) // 4),
        "completion_tokens": max(1, pieces),
        "cached_tokens": 0,
        "reasoning_tokens": len(script.thinking),
    }
    numbers.update(script.usage or {})
    return numbers


def stop_reason(script: Script) -> str:
    """The neutral stop reason: the script's, else tool_calls or stop."""
    return script.stop_reason or ("tool_calls" if script.tool_calls else "stop")


def _halves(text: str) -> tuple[str, str]:
    middle = len(text) // 2
    return text[:middle], text[middle:]


def _call_id(script: Script, index: int) -> str:
    call = script.tool_calls[index]
    return call.id or f"call_stub_{index}"


def credential(headers: dict[str, str]) -> str:
    """The API key a request carried: a bearer token, Anthropic's x-api-key, or basic auth."""
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        with_user = base64.b64decode(value + "==").decode("utf-8", "replace")
        return with_user.partition(":")[2]
    return value


def key_echo(key: str) -> str:
    """The key the way careless providers and proxies repeat it: whole, quoted, URL-encoded,
    masked (first 8 and last 4, as OpenAI does), cut to a prefix, in a basic-auth header."""
    basic = base64.b64encode(f"user:{key}".encode()).decode()
    return (
        f"Incorrect API key provided: {key}. Sent '{key}' (\"{key}\"), "
        f"as {quote(key, safe='')} in the URL, masked {key[:8]}{'*' * 20}{key[-4:]}, "
        f"prefix {key[:12]}..., header Authorization: Basic {basic}"
    )


def error_body(protocol: str, status: int, message: str, key: str | None = None) -> bytes:
    """An error body shaped as each provider shapes it; `key` is echoed into it if given."""
    if key is not None:
        message = f"{message}: {key_echo(key)}"
    if protocol == "anthropic":
        kind = {401: "authentication_error", 429: "rate_limit_error", 400: "invalid_request_error"}
        error = {"type": kind.get(status, "api_error"), "message": message}
        if key is not None:
            error["key"] = key
        return dumps({"type": "error", "error": error})
    if protocol == "ollama":
        return dumps({"error": message, **({"key": key} if key is not None else {})})
    error = {"message": message, "type": "stub_error", "code": status}
    if key is not None:
        error["param"] = key
    return dumps({"error": error})


def stream_error(protocol: str, message: str, key: str | None = None) -> bytes:
    """An error sent inside a stream that had started (as OpenRouter and Anthropic do)."""
    if key is not None:
        message = f"{message}: {key_echo(key)}"
    if protocol == "anthropic":
        return _sse("error", {"error": {"type": "overloaded_error", "message": message}})
    if protocol == "ollama":
        return dumps({"error": message}) + b"\n"
    error = {"message": message, "type": "server_error", "code": 502}
    return b"data: " + dumps({"error": error}) + b"\n\n"


def bare_stream(protocol: str, body: dict[str, Any]) -> list[Frame]:
    """Nothing but the protocol's end marker: an empty answer at its barest."""
    if protocol == "anthropic":
        return [Frame(_sse("message_stop", {}))]
    if protocol == "ollama":
        final = {"model": body.get("model", "stub"), "created_at": "2025-01-01T00:00:00Z"}
        return [Frame(dumps({**final, "done": True}) + b"\n")]
    return [Frame(b"data: [DONE]\n\n")]


# --- OpenAI chat completions ---------------------------------------------------------------


def openai_stream(script: Script, body: dict[str, Any]) -> list[Frame]:
    """SSE chunks of a streamed chat.completion, with a usage chunk if the client asked."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "system_fingerprint": "fp_stub",
        **script.extra_fields,
    }

    def event(choice_delta: dict[str, Any], finish: str | None = None, **more: Any) -> bytes:
        choice = {"index": 0, "delta": choice_delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + dumps({**base, "choices": [choice], **more}) + b"\n\n"

    frames = [Frame(event({"role": "assistant", "content": ""}))]
    frames += [Frame(event({"reasoning_content": piece}), True) for piece in script.thinking]
    frames += [Frame(event({"content": piece}), True) for piece in text_chunks(script, body)]
    for index, call in enumerate(script.tool_calls):
        start = {"index": index, "id": _call_id(script, index), "type": "function"}
        start["function"] = {"name": call.name, "arguments": ""}
        frames.append(Frame(event({"tool_calls": [start]}), True))
        for half in _halves(call.arguments):
            piece = {"index": index, "function": {"arguments": half}}
            frames.append(Frame(event({"tool_calls": [piece]}), True))
    frames.append(Frame(event({}, stop_reason(script))))
    if (body.get("stream_options") or {}).get("include_usage") and script.send_usage:
        usage_chunk = {**base, "choices": [], "usage": openai_usage(script, body)}
        frames.append(Frame(b"data: " + dumps(usage_chunk) + b"\n\n"))
    frames.append(Frame(b"data: [DONE]\n\n"))
    return frames


def openai_usage(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's usage object; `cost` only when scripted, as OpenRouter sends it."""
    numbers = usage_numbers(script, body)
    usage: dict[str, Any] = {
        "prompt_tokens": numbers["prompt_tokens"],
        "completion_tokens": numbers["completion_tokens"],
        "total_tokens": numbers["prompt_tokens"] + numbers["completion_tokens"],
        "prompt_tokens_details": {"cached_tokens": numbers["cached_tokens"]},
        "completion_tokens_details": {"reasoning_tokens": numbers["reasoning_tokens"]},
    }
    if "cost" in numbers:
        usage["cost"] = numbers["cost"]
    return usage


def openai_complete(script: Script, body: dict[str, Any]) -> bytes:
    """A non-streamed chat.completion."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text_chunks(script, body))}
    if script.thinking:
        message["reasoning_content"] = "".join(script.thinking)
    if script.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(script, index),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for index, call in enumerate(script.tool_calls)
        ]
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": stop_reason(script),
    }
    return dumps(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [choice],
            "usage": openai_usage(script, body),
            **script.extra_fields,
        }
    )


# --- Ollama /api/chat ----------------------------------------------------------------------


def _ollama_final(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    numbers = usage_numbers(script, body)
    reason = stop_reason(script)
    final = {"done": True, "done_reason": "stop" if reason == "tool_calls" else reason}
    if not script.send_usage:
        return final
    return {
        **final,
        "total_duration": 1_000_000,
        "load_duration": 1_000,
        "prompt_eval_count": numbers["prompt_tokens"],
        "prompt_eval_duration": 100_000,
        "eval_count": numbers["completion_tokens"],
        "eval_duration": 800_000,
    }


def _ollama_calls(script: Script) -> list[dict[str, Any]]:
    return [
        {"function": {"name": call.name, "arguments": json.loads(call.arguments or "{}")}}
        for call in script.tool_calls
    ]


def ollama_stream(script: Script, body: dict[str, Any]) -> list[Frame]:
    """NDJSON lines of a streamed /api/chat answer."""
    base = {"model": body.get("model", "stub"), "created_at": "2025-01-01T00:00:00Z"}
    base.update(script.extra_fields)

    def line(message: dict[str, Any], **more: Any) -> bytes:
        full = {"role": "assistant", "content": "", **message}
        return dumps({**base, "message": full, "done": False, **more}) + b"\n"

    frames = [Frame(line({"thinking": piece}), True) for piece in script.thinking]
    frames += [Frame(line({"content": piece}), True) for piece in text_chunks(script, body)]
    if script.tool_calls:
        frames.append(Frame(line({"tool_calls": _ollama_calls(script)}), True))
    final = {**base, "message": {"role": "assistant", "content": ""}}
    final.update(_ollama_final(script, body))
    frames.append(Frame(dumps(final) + b"\n"))
    return frames


def ollama_complete(script: Script, body: dict[str, Any]) -> bytes:
    """A non-streamed /api/chat answer."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text_chunks(script, body))}
    if script.thinking:
        message["thinking"] = "".join(script.thinking)
    if script.tool_calls:
        message["tool_calls"] = _ollama_calls(script)
    answer = {"model": body.get("model", "stub"), "created_at": "2025-01-01T00:00:00Z"}
    answer.update({"message": message, **_ollama_final(script, body), **script.extra_fields})
    return dumps(answer)


# --- Anthropic /v1/messages ----------------------------------------------------------------

_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _anthropic_usage(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    if not script.send_usage:
        return {}
    numbers = usage_numbers(script, body)
    written = int(numbers.get("cache_write_tokens") or 0)
    # Anthropic's input_tokens leaves out the tokens read from and written to its cache.
    return {
        "input_tokens": numbers["prompt_tokens"] - numbers["cached_tokens"] - written,
        "cache_read_input_tokens": numbers["cached_tokens"],
        "cache_creation_input_tokens": written,
        "output_tokens": numbers["completion_tokens"],
    }


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + dumps({"type": kind, **data}) + b"\n\n"


def anthropic_stream(script: Script, body: dict[str, Any]) -> list[Frame]:
    """SSE events of a streamed message."""
    usage = _anthropic_usage(script, body)
    message = {
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "stub"),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1} if usage else {},
        **script.extra_fields,
    }
    frames = [Frame(_sse("message_start", {"message": message})), Frame(_sse("ping", {}))]
    index = 0

    def block(start: dict[str, Any], deltas: list[dict[str, Any]], extra: list[dict[str, Any]]):
        nonlocal index
        frames.append(Frame(_sse("content_block_start", {"index": index, "content_block": start})))
        for delta in deltas:
            frames.append(
                Frame(_sse("content_block_delta", {"index": index, "delta": delta}), True)
            )
        for delta in extra:
            frames.append(Frame(_sse("content_block_delta", {"index": index, "delta": delta})))
        frames.append(Frame(_sse("content_block_stop", {"index": index})))
        index += 1

    if script.thinking:
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in script.thinking]
        signature = [{"type": "signature_delta", "signature": "c3R1Yi1zaWduYXR1cmU="}]
        block({"type": "thinking", "thinking": "", "signature": ""}, deltas, signature)
    pieces = text_chunks(script, body)
    if pieces:
        block(
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": piece} for piece in pieces],
            [],
        )
    for number, call in enumerate(script.tool_calls):
        start = {"type": "tool_use", "id": _call_id(script, number), "name": call.name, "input": {}}
        halves = _halves(call.arguments)
        block(start, [{"type": "input_json_delta", "partial_json": half} for half in halves], [])
    reason = _ANTHROPIC_STOP.get(stop_reason(script), stop_reason(script))
    delta = {"delta": {"stop_reason": reason, "stop_sequence": None}}
    frames.append(Frame(_sse("message_delta", {**delta, "usage": usage})))
    frames.append(Frame(_sse("message_stop", {})))
    return frames


def anthropic_complete(script: Script, body: dict[str, Any]) -> bytes:
    """A non-streamed message."""
    content: list[dict[str, Any]] = []
    if script.thinking:
        thinking = "".join(script.thinking)
        content.append({"type": "thinking", "thinking": thinking, "signature": "c3R1Yg=="})
    content.append({"type": "text", "text": "".join(text_chunks(script, body))})
    for number, call in enumerate(script.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": _call_id(script, number),
                "name": call.name,
                "input": json.loads(call.arguments or "{}"),
            }
        )
    return dumps(
        {
            "id": f"msg_{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "stub"),
            "content": content,
            "stop_reason": _ANTHROPIC_STOP.get(stop_reason(script), stop_reason(script)),
            "stop_sequence": None,
            "usage": _anthropic_usage(script, body),
            **script.extra_fields,
        }
    )


MALFORMED = {
    "openai": b'data: {"choices": [{"delta": {"content": "unterminated\n\n',
    "anthropic": b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta\n\n',
    "ollama": b'{"message": {"content": "unterminated\n',
}
"""The unparseable line each protocol sends for `malformed_after`."""
