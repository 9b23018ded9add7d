"""An in-process, scripted ChatModel for tests of the code that calls models.

`ScriptedModel` answers each request from a queue of replies, or by calling a function with
the request (as pydantic-ai's `FunctionModel` does), and records every request it was sent.
A reply is text (streamed in word-sized pieces), a list of stream events (sent as they are),
or an exception (raised before any event). With `by_purpose`, replies are chosen by what the
request is for (`ChatRequest.purpose`: coder, fixer, evaluator, ...), never by its wording.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence

from vibeforge.llm.types import (
    Capabilities,
    ChatRequest,
    Finished,
    StreamEvent,
    TextDelta,
    Usage,
    UsageReport,
)

Reply = str | Sequence[StreamEvent] | BaseException
Responder = Callable[[ChatRequest], Reply | Awaitable[Reply]]
CAPABILITIES = Capabilities(streaming=True, tools=True, thinking=True, images=True)
_PIECES = re.compile(r"\s*\S+|\s+")


class ScriptExhausted(AssertionError):
    """The model was asked more often than the test scripted."""


class ScriptedModel:
    """A ChatModel whose answers a test decides."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        respond: Responder | None = None,
        capabilities: Capabilities = CAPABILITIES,
        chunk_delay: float = 0.0,
    ) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.respond = respond
        self.capabilities = capabilities
        self.chunk_delay = chunk_delay
        self.requests: list[ChatRequest] = []

    def purposes(self) -> list[str | None]:
        """What each request so far was for, in order."""
        return [request.purpose for request in self.requests]

    async def _reply(self, request: ChatRequest) -> Reply:
        if self.replies:
            return self.replies.popleft()
        if self.respond is None:
            raise ScriptExhausted(f"no reply scripted for request {len(self.requests)}")
        reply = self.respond(request)
        return await reply if inspect.isawaitable(reply) else reply

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The scripted reply as stream events, ending with UsageReport and Finished."""
        self.requests.append(request)
        reply = await self._reply(request)
        if isinstance(reply, BaseException):
            raise reply
        if not isinstance(reply, str):
            for event in reply:
                yield event
            return
        for number, piece in enumerate(_PIECES.findall(reply)):
            if number and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield TextDelta(piece)
        prompt = sum(_tokens(message.text) for message in request.messages)
        yield UsageReport(Usage(prompt_tokens=prompt, completion_tokens=_tokens(reply)))
        yield Finished("stop", {"scripted": True, "content": reply})


def by_purpose(replies: Mapping[str, Reply | Responder], default: Reply | None = None) -> Responder:
    """A responder answering each request by its purpose (a fixed reply or a function)."""

    def respond(request: ChatRequest) -> Reply | Awaitable[Reply]:
        found = replies.get(request.purpose or "")
        if found is None:
            if default is None:
                raise ScriptExhausted(f"no reply for purpose {request.purpose!r}")
            return default
        if callable(found):
            return found(request)
        return found

    return respond


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
