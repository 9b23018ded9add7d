"""Retries with exponential backoff and jitter, only before anything reached the caller.

Every failed attempt that is tried again is reported in the stream as an `AttemptFailed`
event, so the caller can record it (the provider was asked, and may have billed it) without
this layer knowing how calls are recorded.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from vibeforge.llm.errors import ProviderError, ProviderRateLimited
from vibeforge.llm.types import AttemptFailed, Capabilities, ChatModel, ChatRequest, StreamEvent


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to try again."""

    max_retries: int = 2
    base_delay: float = 0.5  # seconds before the first retry, doubled each time
    max_delay: float = 8.0
    max_retry_after: float = 30.0  # a provider's Retry-After beyond this is not waited for

    def delay(self, attempt: int, error: ProviderError) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # Jitter spreads many clients that failed together over time instead of in waves.
        return ceiling * random.uniform(0.5, 1.0)


class RetryingChatModel:
    """Wraps a ChatModel; a retryable error before the first event is tried again."""

    def __init__(self, inner: ChatModel, policy: RetryPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self.capabilities: Capabilities = inner.capabilities

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The inner model's events, with an AttemptFailed before each retry; once a delta was
        yielded, errors pass through untouched."""
        attempt = 0
        while True:
            started = False
            began = time.perf_counter()
            try:
                async with aclosing(self.inner.stream(request)) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except ProviderError as error:
                if started or not error.retryable or attempt >= self.policy.max_retries:
                    raise
                failure = error
            attempt += 1
            delay = self.policy.delay(attempt, failure)
            yield AttemptFailed(attempt, failure, time.perf_counter() - began, delay)
            await asyncio.sleep(delay)
