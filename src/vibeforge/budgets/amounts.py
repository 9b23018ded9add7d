"""What a call costs in a budget's units: nanodollars (integers, so sums are exact and
atomic in SQL) and tokens; and a call's worst case before it is made."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vibeforge.llm import ChatRequest, Usage
from vibeforge.llm.tokens import estimate_prompt_tokens
from vibeforge.llm.usage import PER_MILLION, Prices

NANO = 1_000_000_000  # nanodollars per dollar
# The output a call without max_tokens is assumed to reach (and is limited to, when the
# model takes max_tokens): the worst case has to be finite to be reserved.
DEFAULT_MAX_OUTPUT = 4096


@dataclass(frozen=True, slots=True)
class Amount:
    """A cost in both units; `nanodollars` None when the model has no prices."""

    nanodollars: int | None
    tokens: int


def to_nano(dollars: float) -> int:
    """Dollars as whole nanodollars, rounded up (a budget never under-counts)."""
    return math.ceil(round(dollars * NANO, 3))


def worst_case(request: ChatRequest, prices: Prices | None) -> Amount:
    """The most a request can cost: its estimated prompt at the dearest input price and its
    max_tokens (or DEFAULT_MAX_OUTPUT) at the dearest output price."""
    prompt = estimate_prompt_tokens(request)
    output = request.params.max_tokens or DEFAULT_MAX_OUTPUT
    if prices is None:
        return Amount(None, prompt + output)
    dollars = (prompt * prices.most_per_input + output * prices.most_per_output) / PER_MILLION
    return Amount(to_nano(dollars), prompt + output)


def actual(usage: Usage | None) -> Amount:
    """What a finished (or cut off) call used."""
    if usage is None:
        return Amount(0, 0)
    dollars = usage.cost_usd
    return Amount(to_nano(dollars) if dollars is not None else None, usage.total_tokens)
