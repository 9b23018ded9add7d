"""Retries with exponential backoff and jitter, only before anything reached the caller."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from vibeforge.llm.errors import ProviderError, ProviderRateLimited
from vibeforge.llm.types import Capabilities, ChatModel, ChatRequest, StreamEvent


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
        """The inner model's events; once one was yielded, errors pass through untouched."""
        attempt = 0
        while True:
            started = False
            try:
                async with aclosing(self.inner.stream(request)) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except ProviderError as error:
                if started or not error.retryable or attempt >= self.policy.max_retries:
                    raise
                attempt += 1
                await asyncio.sleep(self.policy.delay(attempt, error))
