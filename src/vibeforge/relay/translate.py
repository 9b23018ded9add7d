"""OpenAI `chat.completions` request bodies as ChatRequests, checked against the model's
capabilities; what the relay refuses is a RelayError in OpenAI's own error shape."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vibeforge.errors import VibeforgeError
from vibeforge.llm import (
    PARAMETER_NAMES,
    Capabilities,
    ChatRequest,
    InvalidParameter,
    Message,
    validate_params,
)
from vibeforge.llm.types import ImagePart, Part, TextPart, ToolCall, ToolSpec

# Sampling and output parameters, passed on (validated against the model's capabilities).
PARAMS = tuple(sorted(PARAMETER_NAMES - {"extra"}))
# Accepted and ignored: they change nothing about one answer.
IGNORED = frozenset({"parallel_tool_calls", "metadata", "store", "service_tier"})
KNOWN = frozenset(
    {"model", "messages", "stream", "stream_options", "tools", "tool_choice", "n"}
    | {"max_completion_tokens", *PARAMS}
    | IGNORED
)
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)
MAX_MESSAGES = 2000


class RelayError(VibeforgeError):
    """A request the relay refuses, answered in OpenAI's error shape with `status`."""

    code = "relay_error"

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.error_code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        """`{"error": {message, type, param, code}}`, as OpenAI answers."""
        return {
            "error": {
                "message": self.detail,
                "type": self.kind,
                "param": self.param,
                "code": self.error_code,
            }
        }


def _refuse(message: str, param: str | None = None) -> RelayError:
    return RelayError(400, message, param=param, code="invalid_request")


@dataclass(frozen=True, slots=True)
class Translated:
    """A request as the relay will send it, and how the caller wants the answer."""

    request: ChatRequest
    stream: bool
    include_usage: bool
    model: str  # the name the caller asked for (answers name the model that answered)


def translate(body: Any, capabilities: Capabilities, purpose: str) -> Translated:
    """The ChatRequest an OpenAI request body asks for, or RelayError (400) naming the field."""
    if not isinstance(body, dict):
        raise _refuse("the request body must be a JSON object")
    unknown = sorted(set(body) - KNOWN)
    if unknown:
        raise _refuse(f"unsupported parameter: {unknown[0]}", unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _refuse("model must be a non-empty string", "model")
    if body.get("n", 1) != 1:
        raise _refuse("only n=1 is supported", "n")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _refuse("stream must be a boolean", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _refuse("stream_options must be an object", "stream_options")
    messages = _messages(body.get("messages"), capabilities)
    tools = _tools(body.get("tools"), capabilities)
    choice = body.get("tool_choice")
    if choice == "none":
        tools = ()
    elif choice not in (None, "auto"):
        raise _refuse("tool_choice may be 'auto' or 'none' here", "tool_choice")
    values = {name: body[name] for name in PARAMS if body.get(name) is not None}
    if body.get("max_completion_tokens") is not None:
        values["max_tokens"] = body["max_completion_tokens"]
    try:
        params = validate_params(capabilities, values)
    except InvalidParameter as error:
        raise _refuse(error.detail, error.parameter) from None
    request = ChatRequest(messages=messages, params=params, tools=tools, purpose=purpose)
    return Translated(request, stream, bool(options.get("include_usage")), model)


def _messages(raw: Any, capabilities: Capabilities) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise _refuse("messages must be a non-empty array", "messages")
    if len(raw) > MAX_MESSAGES:
        raise _refuse(f"at most {MAX_MESSAGES} messages", "messages")
    return tuple(_message(item, index, capabilities) for index, item in enumerate(raw))


def _message(item: Any, index: int, capabilities: Capabilities) -> Message:
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        raise _refuse(f"{where} must be an object", where)
    role = item.get("role")
    if role == "tool":
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise _refuse(f"{where}.tool_call_id is required", f"{where}.tool_call_id")
        text = _text_only(item.get("content"), where)
        return Message(role="tool", content=text, tool_call_id=call_id)
    if role not in ROLES:
        raise _refuse(f"{where}.role {role!r} is not supported", f"{where}.role")
    content = _content(item.get("content"), where, capabilities)
    calls: tuple[ToolCall, ...] = ()
    if role == "assistant" and item.get("tool_calls"):
        calls = _tool_calls(item["tool_calls"], where)
    return Message(role=ROLES[role], content=content, tool_calls=calls)  # type: ignore[arg-type]


def _text_only(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" for part in content
    ):
        return "".join(str(part.get("text", "")) for part in content)
    raise _refuse(f"{where}.content must be text", f"{where}.content")


def _content(content: Any, where: str, capabilities: Capabilities) -> str | tuple[Part, ...]:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise _refuse(f"{where}.content must be a string or an array", f"{where}.content")
    parts: list[Part] = []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(part["text"]))
        elif kind == "image_url":
            if not capabilities.images:
                raise _refuse("this model does not accept images", at)
            parts.append(_image(part.get("image_url"), at))
        else:
            raise _refuse(f"{at} must be a text or image_url part", at)
    return tuple(parts)


def _image(value: Any, at: str) -> ImagePart:
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url:
        raise _refuse(f"{at}.image_url.url is required", at)
    found = DATA_URL.fullmatch(url)
    if found:
        return ImagePart(data=found["data"], media_type=found["type"])
    return ImagePart(url=url)


def _tool_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        raise _refuse(f"{where}.tool_calls must be an array", f"{where}.tool_calls")
    calls = []
    for number, call in enumerate(raw):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _refuse(f"{where}.tool_calls[{number}] needs a function name", where)
        arguments = function.get("arguments") or "{}"
        call_id = call.get("id") or f"call_{number}"
        if not isinstance(arguments, str) or not isinstance(call_id, str):
            raise _refuse(f"{where}.tool_calls[{number}] is malformed", where)
        calls.append(ToolCall(id=call_id, name=function["name"], arguments=arguments))
    return tuple(calls)


def _tools(raw: Any, capabilities: Capabilities) -> tuple[ToolSpec, ...]:
    if not raw:
        return ()
    if not capabilities.tools:
        raise _refuse("this model does not accept tools", "tools")
    if not isinstance(raw, list):
        raise _refuse("tools must be an array", "tools")
    tools = []
    for number, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type", "function") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
        ):
            raise _refuse(f"tools[{number}] must be a function with a name", f"tools[{number}]")
        parameters = function.get("parameters") or {"type": "object"}
        if not isinstance(parameters, dict):
            raise _refuse(f"tools[{number}].function.parameters must be an object", "tools")
        description = function.get("description") or ""
        tools.append(ToolSpec(function["name"], str(description), parameters))
    return tuple(tools)
