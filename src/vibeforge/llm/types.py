"""Requests, messages, stream events and capabilities: the data every adapter speaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from vibeforge.llm.params import Params

if TYPE_CHECKING:
    from vibeforge.llm.errors import ProviderError

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text inside a message."""

    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image: either a URL or base64 data with its media type."""

    url: str | None = None
    data: str | None = None  # base64, without the data: prefix
    media_type: str = "image/png"

    def data_url(self) -> str:
        """The image as a URL, inlining the data when there is no URL."""
        return self.url or f"data:{self.media_type};base64,{self.data}"


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call the model asked for; arguments are the JSON text as sent."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str | tuple[Part, ...] = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role="tool": which call this answers

    @property
    def text(self) -> str:
        """The message's text parts joined, images left out."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The message's image parts."""
        if isinstance(self.content, str):
            return ()
        return tuple(part for part in self.content if isinstance(part, ImagePart))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call; parameters is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call: messages, optional model override, per-request parameters and tools, and
    what the call is for (`purpose`: coder, fixer, evaluator, chat, judge, ...), as data."""

    messages: tuple[Message, ...]
    model: str | None = None  # None: the model of the ModelSpec the adapter was built from
    params: Params = field(default_factory=Params)
    tools: tuple[ToolSpec, ...] = ()
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and the cost in US dollars; `source` says whether the provider reported
    the counts or vibeforge estimated them (it did not report them, or reported zeros)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # part of prompt_tokens served from the provider's cache
    cache_write_tokens: int = 0  # part of prompt_tokens written to the provider's cache
    reasoning_tokens: int = 0  # part of completion_tokens spent thinking
    cost_usd: float | None = None
    cost_source: Literal["provider", "prices"] | None = None
    source: Literal["provider", "estimated"] = "provider"

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's visible reasoning."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of tool call number `index`; id and name come with its first fragment."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Token usage of the whole call, sent once, before Finished."""

    usage: Usage


StopReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "other"]


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event: why the model stopped, and the provider's whole response as one dict."""

    stop_reason: str
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """An attempt failed before anything reached the caller, and will be tried again.

    Only the retry layer yields it: the caller can record the failed attempt (its error holds
    what the provider reported) and start counting the next one, `retry_in` seconds later.
    """

    attempt: int  # 1-based number of the attempt that failed
    error: ProviderError
    elapsed: float  # seconds the failed attempt took
    retry_in: float  # seconds until the next attempt starts


StreamEvent = TextDelta | ThinkingDelta | ToolCallDelta | UsageReport | Finished | AttemptFailed


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model can do, as data the API can check requests against."""

    streaming: bool = True
    tools: bool = False
    thinking: bool = False
    images: bool = False
    parameters: frozenset[str] = frozenset()


@runtime_checkable
class ChatModel(Protocol):
    """A model behind one streaming method."""

    capabilities: Capabilities

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield events ending with Finished; closing the iterator closes the HTTP stream."""
        ...
