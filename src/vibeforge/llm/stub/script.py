"""What the stub answers: a Script per request, chosen from a queue, rules, or the default."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScriptedToolCall:
    """A tool call the stub makes; arguments is JSON text."""

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass(frozen=True)
class Script:
    """One scripted response. Every field is optional; the defaults echo the prompt.

    Delays are seconds. "Chunks" count the content pieces (thinking, text, tool-call pieces)
    on the wire, not HTTP chunks.
    """

    chunks: tuple[str, ...] | None = None  # text pieces; None: echo the last user message
    thinking: tuple[str, ...] = ()  # reasoning pieces sent before the text
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    stop_reason: str | None = None  # stop | length | tool_calls; None: derived
    usage: dict[str, Any] | None = None  # prompt_tokens, completion_tokens, cached_tokens,
    # cache_write_tokens (Anthropic), reasoning_tokens, cost (provider-reported, as
    # OpenRouter's usage.cost)
    chunk_delay: float = 0.0  # before every chunk but the first
    first_byte_delay: float = 0.0  # before the status line
    status: int | None = None  # answer this HTTP error status instead
    error_message: str = "scripted error"
    retry_after: float | None = None  # Retry-After header on an error
    echo_key: bool = False  # error texts repeat the API key received, in many forms
    error_after: int | None = None  # send an in-stream error object after this many chunks
    bare: bool = False  # stream only the protocol's end marker (no role, content or usage)
    send_usage: bool = True  # False: report no usage at all
    disconnect_after: int | None = None  # drop the connection after this many chunks
    malformed_after: int | None = None  # send an unparseable line after this many chunks
    split_utf8: bool = False  # cut each chunk's bytes inside a multi-byte character
    extra_fields: dict[str, Any] = field(default_factory=dict)  # merged into every chunk object
    model: str | None = None  # rule: only requests for this model
    prompt_contains: str | None = None  # rule: only requests whose prompt contains this
    purpose: str | None = None  # rule: only requests for this purpose (X-Vibeforge-Purpose)
    times: int | None = None  # rule: how many requests it answers; None: all

    def matches(self, model: str, prompt: str, purpose: str | None = None) -> bool:
        """Whether this rule applies to a request."""
        if self.model is not None and self.model != model:
            return False
        if self.purpose is not None and self.purpose != purpose:
            return False
        return self.prompt_contains is None or self.prompt_contains in prompt

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Script:
        """A Script from its JSON form (as POSTed to /_stub/script)."""
        values = dict(data)
        for name in ("chunks", "thinking"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        values["tool_calls"] = tuple(
            ScriptedToolCall(**call) for call in values.get("tool_calls", ())
        )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown script fields: {sorted(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of this script."""
        return dataclasses.asdict(self)


@dataclass
class RecordedRequest:
    """One request the stub received, and what became of its connection."""

    index: int
    connection_id: int
    protocol: str  # openai | ollama | anthropic
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float  # time.monotonic(), comparable across processes on one machine
    purpose: str | None = None  # what the caller said the request is for
    first_byte_at: float | None = None
    completed_at: float | None = None  # the whole response was written
    client_disconnected_at: float | None = None  # the client hung up before completion
    chunks_sent: int = 0
    chunk_sent_at: list[float] = field(default_factory=list)  # monotonic, one per chunk

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of this record."""
        return dataclasses.asdict(self)


class ScriptBook:
    """The queue, the rules and the default, in that order of precedence."""

    def __init__(self) -> None:
        self.queue: list[Script] = []
        self.rules: list[Script] = []
        self.default = Script()

    def choose(self, model: str, prompt: str, purpose: str | None = None) -> Script:
        """The script for a request; queued scripts are used once, in order."""
        for index, script in enumerate(self.queue):
            if script.matches(model, prompt, purpose):
                return self.queue.pop(index)
        for index, rule in enumerate(self.rules):
            if rule.matches(model, prompt, purpose):
                if rule.times is not None:
                    remaining = rule.times - 1
                    if remaining <= 0:
                        self.rules.pop(index)
                    else:
                        self.rules[index] = dataclasses.replace(rule, times=remaining)
                return rule
        return self.default

    def clear(self) -> None:
        """Forget every queued script and rule."""
        self.queue.clear()
        self.rules.clear()
        self.default = Script()
