"""The one layer every provider adapter's stream passes through before anyone else sees it.

It makes what a provider says safe and truthful, whatever the wire API:
- **secrets**: the connection's key (and other credentials) are redacted from every delta,
  the raw response and every error (message, body, raw), in every form `redact.py` knows;
- **empty answers**: a stream that finishes without a single text, thinking or tool-call
  delta raises `ProviderEmptyResponse` (retryable: nothing reached the caller);
- **usage**: counts the provider did not report (or reported as 0) are estimated
  (`tokens.py`) and marked `source="estimated"`, so a call never records 0 tokens; a call
  that fails after output arrived carries its estimated usage on the error.
The factory puts it between the adapter and the retry layer, so retries and everything that
records them see only redacted errors.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from vibeforge.errors import VibeforgeError
from vibeforge.llm.errors import ProviderEmptyResponse, ProviderError, ProviderProtocolError
from vibeforge.llm.redact import Redactor, StreamRedactor, secrets_of
from vibeforge.llm.spec import ModelSpec
from vibeforge.llm.tokens import completed_usage
from vibeforge.llm.types import (
    Capabilities,
    ChatModel,
    ChatRequest,
    Finished,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from vibeforge.llm.usage import with_cost

log = logging.getLogger("vibeforge.llm")


@dataclass
class _Seen:
    """What one stream has produced so far (redacted), for estimates and the empty check."""

    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    deltas: int = 0

    def output(self) -> str:
        return "".join(self.text) + "".join(self.arguments)


class GuardedChatModel:
    """Wraps an adapter: redacts secrets, refuses empty answers, completes usage."""

    def __init__(self, inner: ChatModel, spec: ModelSpec) -> None:
        self.inner = inner
        self.spec = spec
        self.capabilities: Capabilities = inner.capabilities
        self.redactor = Redactor(secrets_of(spec))

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The adapter's events, made safe; see the module docstring."""
        seen = _Seen()
        text = StreamRedactor(self.redactor)
        thinking = StreamRedactor(self.redactor)
        arguments: dict[int, StreamRedactor] = {}
        usage: Usage | None = None
        try:
            async with aclosing(self.inner.stream(request)) as events:
                async for event in events:
                    if isinstance(event, TextDelta | ThinkingDelta):
                        is_text = isinstance(event, TextDelta)
                        seen.deltas += bool(event.text)
                        safe = (text if is_text else thinking).feed(event.text)
                        if safe:
                            (seen.text if is_text else seen.thinking).append(safe)
                            yield event if safe == event.text else type(event)(safe)
                    elif isinstance(event, ToolCallDelta):
                        seen.deltas += 1
                        yield self._tool_delta(event, arguments, seen)
                    elif isinstance(event, UsageReport):
                        usage = event.usage
                    elif isinstance(event, Finished):
                        for delta in self._flush(text, thinking, arguments, seen):
                            yield delta
                        raw = self.redactor.redact_value(event.raw)
                        if seen.deltas == 0:
                            raise self._empty(event.stop_reason, raw, usage, request)
                        yield UsageReport(self._usage(usage, request, seen))
                        yield Finished(event.stop_reason, raw)
                    else:
                        yield event
        except ProviderError as error:
            if seen.deltas and error.usage is None:
                # The provider was answering, so it bills what it sent: estimate it.
                error.usage = self._usage(None, request, seen)
            raise self._redacted(error) from None
        except VibeforgeError:
            raise  # our own (e.g. a refused parameter): it quotes nothing the provider said
        except Exception as error:
            # An adapter that trips over a provider's answer: its message and traceback may
            # quote that answer, so both are redacted before they are logged or raised.
            log.warning(
                "adapter %s failed: %s",
                self.spec.label,
                self.redactor.redact("".join(traceback.format_exception(error))),
            )
            detail = self.redactor.redact(f"{type(error).__name__}: {error}")
            raise ProviderProtocolError(self.spec.provider, detail) from None

    def _tool_delta(
        self, event: ToolCallDelta, arguments: dict[int, StreamRedactor], seen: _Seen
    ) -> ToolCallDelta:
        redactor = arguments.setdefault(event.index, StreamRedactor(self.redactor))
        safe = redactor.feed(event.arguments)
        seen.arguments.append(safe)
        return ToolCallDelta(
            event.index,
            self.redactor.redact(event.id) if event.id else event.id,
            self.redactor.redact(event.name) if event.name else event.name,
            safe,
        )

    def _flush(
        self,
        text: StreamRedactor,
        thinking: StreamRedactor,
        arguments: dict[int, StreamRedactor],
        seen: _Seen,
    ) -> list[StreamEvent]:
        """The held-back ends of every channel, now that the stream is complete."""
        flushed: list[StreamEvent] = []
        if rest := thinking.flush():
            seen.thinking.append(rest)
            flushed.append(ThinkingDelta(rest))
        if rest := text.flush():
            seen.text.append(rest)
            flushed.append(TextDelta(rest))
        for index, redactor in arguments.items():
            if rest := redactor.flush():
                seen.arguments.append(rest)
                flushed.append(ToolCallDelta(index, arguments=rest))
        return flushed

    def _usage(self, reported: Usage | None, request: ChatRequest, seen: _Seen) -> Usage:
        return self._complete(reported, request, seen.output(), "".join(seen.thinking))

    def _complete(
        self, reported: Usage | None, request: ChatRequest, output: str, thinking: str
    ) -> Usage:
        usage = completed_usage(reported, request, output, thinking)
        if usage is reported or usage.cost_source == "provider":
            return usage
        # Counts changed: a cost from our prices is recomputed from them.
        return with_cost(replace(usage, cost_usd=None, cost_source=None), self.spec.prices)

    def _empty(
        self, stop_reason: str, raw: dict[str, Any], usage: Usage | None, request: ChatRequest
    ) -> ProviderEmptyResponse:
        error = ProviderEmptyResponse(self.spec.provider, stop_reason)
        error.raw = raw
        # The provider processed (and bills) the prompt even though it answered nothing.
        error.usage = self._complete(usage, request, "", "")
        return error

    def _redacted(self, error: ProviderError) -> ProviderError:
        """The error with every provider-supplied text in it redacted (in place)."""
        redact = self.redactor.redact
        error.detail = redact(error.detail)
        error.args = tuple(redact(a) if isinstance(a, str) else a for a in error.args)
        body = getattr(error, "body", None)
        if isinstance(body, str):
            error.body = redact(body)  # type: ignore[attr-defined]
        if error.raw is not None:
            error.raw = self.redactor.redact_value(error.raw)
        return error
