"""A ChatModel under budgets: before the call its worst case is reserved (or it is refused,
before the provider hears of it); during the stream its running cost is counted per chunk and
the stream is cut, closing the provider's, when it would pass what was reserved; afterwards
the reservation settles to what the call used, however it ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace

from vibeforge.budgets.amounts import DEFAULT_MAX_OUTPUT, Amount, actual, to_nano, worst_case
from vibeforge.budgets.ledger import BudgetExceeded, BudgetLedger, CallScope, Reservation
from vibeforge.llm import (
    ChatModel,
    ChatRequest,
    ProviderError,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from vibeforge.llm.tokens import completed_usage, estimate_prompt_tokens, estimate_tokens
from vibeforge.llm.types import StreamEvent
from vibeforge.llm.usage import PER_MILLION, Prices, with_cost


class _Meter:
    """The running cost of one call's stream, against its reservation."""

    def __init__(self, request: ChatRequest, prices: Prices | None, held: Reservation) -> None:
        self.request = request
        self.prices = prices
        self.prompt = estimate_prompt_tokens(request)
        self.tokens_allowed = held.allowance("tokens")
        self.nano_allowed = held.allowance("usd")
        self.output: list[str] = []
        self.thinking: list[str] = []
        self.output_tokens = 0
        self.usage: Usage | None = None

    def take(self, event: StreamEvent) -> None:
        """Count one event; BudgetExceeded (the event not counted: it is not passed on) when
        it would take the call past its reservation."""
        if isinstance(event, UsageReport):
            self.usage = event.usage
            return
        if isinstance(event, (TextDelta, ThinkingDelta)):
            text = event.text
        elif isinstance(event, ToolCallDelta):
            text = event.arguments or ""
        else:
            return
        output_tokens = self.output_tokens + estimate_tokens(text)
        tokens = self.prompt + output_tokens
        if self.tokens_allowed is not None and tokens > self.tokens_allowed:
            raise BudgetExceeded(
                f"stopped at {tokens} tokens: the call reserved {self.tokens_allowed}"
            )
        if self.nano_allowed is not None and self.prices is not None:
            dollars = (
                self.prompt * self.prices.most_per_input
                + output_tokens * self.prices.most_per_output
            ) / PER_MILLION
            if to_nano(dollars) > self.nano_allowed:
                raise BudgetExceeded(
                    f"stopped at ${dollars:.6f}: the call reserved"
                    f" ${self.nano_allowed / 1e9:.6f} of its budget"
                )
        self.output_tokens = output_tokens
        (self.thinking if isinstance(event, ThinkingDelta) else self.output).append(text)

    def used(self) -> Amount:
        """What the call used: the provider's usage, else what was counted."""
        usage = completed_usage(
            self.usage, self.request, "".join(self.output), "".join(self.thinking)
        )
        if usage is not self.usage and usage.cost_source != "provider":
            usage = with_cost(replace(usage, cost_usd=None, cost_source=None), self.prices)
        return actual(usage)


class BudgetedModel:
    """`inner` with the budgets of `scope` enforced on every call."""

    def __init__(
        self, inner: ChatModel, ledger: BudgetLedger, scope: CallScope, prices: Prices | None
    ) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.ledger = ledger
        self.scope = scope
        self.prices = prices

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The inner model's events, within the budgets."""
        budgets = await self.ledger.applicable(self.scope)
        if not budgets:
            async with aclosing(self.inner.stream(request)) as events:
                async for event in events:
                    yield event
            return
        if request.params.max_tokens is None and "max_tokens" in self.capabilities.parameters:
            # The worst case reserved is what the provider is then told to stop at.
            limited = request.params.model_copy(update={"max_tokens": DEFAULT_MAX_OUTPUT})
            request = replace(request, params=limited)
        reservation = await self.ledger.reserve(budgets, worst_case(request, self.prices))
        meter = _Meter(request, self.prices, reservation)
        try:
            async with aclosing(self.inner.stream(request)) as events:
                async for event in events:
                    meter.take(event)
                    yield event
        except ProviderError as failure:
            if failure.usage is not None and meter.usage is None:
                meter.usage = failure.usage
            raise
        finally:
            # Its own task: a call being cancelled still settles (the shield only spares it).
            settling = self.ledger.settle_soon(reservation, meter.used(), self.scope.project_id)
            await asyncio.shield(settling)
