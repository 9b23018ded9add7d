"""Token usage and cost: the provider's own cost first, else the model config's prices."""

from __future__ import annotations

from dataclasses import dataclass, replace

from vibeforge.llm.types import Usage

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens (not per token, not per thousand)."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0
    cached_input_per_million: float | None = None  # None: cached tokens cost the input price


def cost_usd(usage: Usage, prices: Prices | None) -> float | None:
    """The cost of a call from its token counts and per-million prices; None without prices."""
    if prices is None:
        return None
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cached_price = (
        prices.input_per_million
        if prices.cached_input_per_million is None
        else prices.cached_input_per_million
    )
    dollars = (
        (usage.prompt_tokens - cached) * prices.input_per_million
        + cached * cached_price
        + usage.completion_tokens * prices.output_per_million
    )
    return dollars / PER_MILLION


def with_cost(usage: Usage, prices: Prices | None) -> Usage:
    """Usage with its cost filled in: the provider's figure if it gave one, else our prices."""
    if usage.cost_usd is not None:
        return replace(usage, cost_source="provider")
    cost = cost_usd(usage, prices)
    if cost is None:
        return usage
    return replace(usage, cost_usd=cost, cost_source="prices")
