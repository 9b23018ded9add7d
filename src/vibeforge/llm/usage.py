"""Token usage and cost: the provider's own cost first, else the model config's prices, each
token priced in exactly one bucket."""

from __future__ import annotations

from dataclasses import dataclass, replace

from vibeforge.llm.types import Usage

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens (not per token, not per thousand), per bucket."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0
    cached_input_per_million: float | None = None  # cache reads; None: the input price
    cache_write_per_million: float | None = None  # tokens written to the cache; None: input
    reasoning_per_million: float | None = None  # None: the output price
    version_id: str | None = None  # the stored price version these are (charged calls say it)

    @property
    def reasoning(self) -> float:
        """The price of a reasoning token."""
        return (
            self.output_per_million
            if self.reasoning_per_million is None
            else (self.reasoning_per_million)
        )

    @property
    def most_per_output(self) -> float:
        """The dearest price an output token can have (visible or reasoning)."""
        return max(self.output_per_million, self.reasoning)

    @property
    def most_per_input(self) -> float:
        """The dearest price a prompt token can have (plain or written to the cache)."""
        write = self.cache_write_per_million
        return max(self.input_per_million, write if write is not None else 0.0)


@dataclass(frozen=True, slots=True)
class Buckets:
    """A call's tokens split so that no token is in two buckets."""

    uncached_input: int
    cache_read: int
    cache_write: int
    output: int  # visible completion tokens
    reasoning: int


def buckets(usage: Usage) -> Buckets:
    """The disjoint buckets of a usage whose prompt count includes cached and cache-written
    tokens and whose completion count includes reasoning tokens (how vibeforge normalises
    every provider's report)."""
    cache_read = min(max(usage.cached_tokens, 0), usage.prompt_tokens)
    cache_write = min(max(usage.cache_write_tokens, 0), usage.prompt_tokens - cache_read)
    reasoning = min(max(usage.reasoning_tokens, 0), usage.completion_tokens)
    return Buckets(
        uncached_input=usage.prompt_tokens - cache_read - cache_write,
        cache_read=cache_read,
        cache_write=cache_write,
        output=usage.completion_tokens - reasoning,
        reasoning=reasoning,
    )


def cost_usd(usage: Usage, prices: Prices | None) -> float | None:
    """The cost of a call from its token counts and per-million prices; None without prices."""
    if prices is None:
        return None
    split = buckets(usage)
    read = prices.cached_input_per_million
    write = prices.cache_write_per_million
    dollars = (
        split.uncached_input * prices.input_per_million
        + split.cache_read * (prices.input_per_million if read is None else read)
        + split.cache_write * (prices.input_per_million if write is None else write)
        + split.output * prices.output_per_million
        + split.reasoning * prices.reasoning
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
