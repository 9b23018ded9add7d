"""The relay: callers identified by a token each, their calls capped, answered by a ChatModel.

A `RelaySession` is one caller's access (a test run's program, later an API token's budget):
the model that answers, the recorder its calls go through, and its caps on calls and tokens.
`Relay.complete` turns one OpenAI request body into a `chat.completion` (a dict) or a stream
of SSE chunks (bytes); transports only carry them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from vibeforge.llm import (
    ChatModel,
    Finished,
    ProviderError,
    Usage,
    UsageReport,
)
from vibeforge.llm.tokens import estimate_prompt_tokens
from vibeforge.llm.types import StreamEvent
from vibeforge.relay.encode import DONE, ChunkEncoder, completion_body
from vibeforge.relay.recorder import CallRecorder
from vibeforge.relay.translate import RelayError, Translated, translate
from vibeforge.runs.calls import CallRecord

Answer = dict[str, Any] | AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class RelayCaps:
    """How much one caller may use: calls, and prompt plus completion tokens."""

    max_calls: int = 20
    max_tokens: int = 200_000
    # Cap each answer's max_tokens at what is left, so the provider stops there. Off for a
    # replay, whose answers cost nothing and must be asked exactly as recorded.
    clamp: bool = True


@dataclass
class RelaySession:
    """One caller's access to one model."""

    model: ChatModel
    model_name: str  # the name answers carry
    recorder: CallRecorder
    caps: RelayCaps = field(default_factory=RelayCaps)
    calls: int = 0
    tokens: int = 0
    refused: int = 0  # requests refused by a cap

    def admit(self, translated: Translated) -> Translated:
        """Count a call against the caps, or RelayError 429; the answer's length is capped
        at the tokens left, so the provider itself stops there."""
        caps = self.caps
        if self.calls >= caps.max_calls:
            self.refused += 1
            raise RelayError(
                429,
                f"this run may make {caps.max_calls} LLM calls and made them all",
                kind="insufficient_quota",
                code="call_cap_reached",
            )
        left = caps.max_tokens - self.tokens - estimate_prompt_tokens(translated.request)
        if left <= 0:
            self.refused += 1
            raise RelayError(
                429,
                f"this run may use {caps.max_tokens} tokens; the request would exceed them",
                kind="insufficient_quota",
                code="token_cap_reached",
            )
        self.calls += 1
        params = translated.request.params
        clamps = caps.clamp and "max_tokens" in self.model.capabilities.parameters
        if clamps and (params.max_tokens is None or params.max_tokens > left):
            capped = params.model_copy(update={"max_tokens": left})
            translated = replace(translated, request=replace(translated.request, params=capped))
        return translated

    def spend(self, usage: Usage | None) -> None:
        """Count what a finished call used."""
        if usage is not None:
            self.tokens += usage.total_tokens


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Relay:
    """Sessions by token, and the one way requests are answered."""

    def __init__(self) -> None:
        self._sessions: dict[str, RelaySession] = {}

    def open(self, session: RelaySession) -> str:
        """A new token for `session` (kept only as its digest)."""
        token = "vfr_" + secrets.token_urlsafe(32)
        self._sessions[_digest(token)] = session
        return token

    def close(self, token: str) -> None:
        """Revoke a token: requests with it are refused from now on."""
        self._sessions.pop(_digest(token), None)

    def session_for(self, authorization: str | None) -> RelaySession:
        """The session of an `Authorization: Bearer TOKEN` header, or RelayError 401."""
        scheme, _, token = (authorization or "").partition(" ")
        session = self._sessions.get(_digest(token.strip())) if scheme.lower() == "bearer" else None
        if session is None:
            raise RelayError(401, "invalid or expired API key", code="invalid_api_key")
        return session

    async def complete(self, session: RelaySession, body: Any) -> Answer:
        """Answer one request body: a chat.completion dict, or SSE chunks when it streams."""
        purpose = session.recorder.scope.role
        asked = translate(body, session.model.capabilities, purpose)
        translated = session.admit(asked)
        events = session.recorder.stream(
            session.model, translated.request, iteration=session.calls, asked=asked.request
        )
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not translated.stream:
            return await _whole(session, events, completion_id, created)
        first = await _first(events)
        encoder = ChunkEncoder(completion_id, session.model_name, created)
        return _chunks(session, events, first, encoder, translated.include_usage)


def provider_refusal(error: ProviderError) -> RelayError:
    """A provider's failure (after vibeforge's retries) as the relay's 502; a refusal that
    is the caller's own (a budget's 429) keeps its status, as OpenAI's insufficient_quota."""
    if error.status == 429:
        return RelayError(429, error.detail, kind="insufficient_quota", code=error.code)
    return RelayError(502, error.detail, kind="api_error", code=error.code)


async def _first(events: AsyncIterator[StreamEvent]) -> StreamEvent | None:
    """The first event, so a failure before the answer starts is an HTTP error, not a
    stream that breaks."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None
    except ProviderError as error:
        await events.aclose()  # type: ignore[attr-defined]
        raise provider_refusal(error) from None


async def _whole(
    session: RelaySession, events: AsyncIterator[StreamEvent], completion_id: str, created: int
) -> dict[str, Any]:
    answer = CallRecord(role="", iteration=0, model="")  # gathers text, tools, usage
    try:
        async with aclosing(events):  # type: ignore[type-var]
            async for event in events:
                answer.feed(event)
    except ProviderError as error:
        raise provider_refusal(error) from None
    session.spend(answer.usage)
    return completion_body(
        completion_id,
        session.model_name,
        created,
        text=answer.content,
        thinking="".join(answer.thinking),
        tool_calls=answer.tool_calls,
        stop_reason=answer.stop_reason,
        usage=answer.usage,
    )


async def _chunks(
    session: RelaySession,
    events: AsyncIterator[StreamEvent],
    first: StreamEvent | None,
    encoder: ChunkEncoder,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    usage: Usage | None = None
    stop_reason: str | None = None

    def take(event: StreamEvent) -> bytes | None:
        nonlocal usage, stop_reason
        if isinstance(event, UsageReport):
            usage = event.usage
        elif isinstance(event, Finished):
            stop_reason = event.stop_reason
        return encoder.event(event)

    async with aclosing(events):  # type: ignore[type-var]
        yield encoder.start()
        try:
            if first is not None and (chunk := take(first)) is not None:
                yield chunk
            async for event in events:
                if (chunk := take(event)) is not None:
                    yield chunk
        except ProviderError as error:
            yield encoder.error(502, error.detail, error.code)
            return
        finally:
            session.spend(usage)
        yield encoder.finish(stop_reason)
        if include_usage:
            yield encoder.usage(usage)
        yield DONE
