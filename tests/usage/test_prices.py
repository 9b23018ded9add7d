"""Prices: each token in one bucket (checked against the providers' published prices),
the provider's cost first, no price meaning no cost (never $0), and versions with effective
dates that never rewrite the cost of calls already made."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.stubs import app_openai_client, create_stub_model
from vibeforge.db.chat_tables import LLMCall
from vibeforge.llm import Usage
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.llm.usage import Prices, buckets, cost_usd, with_cost

# OpenAI's published gpt-4o prices: $2.50 input, $1.25 cached input, $10 output per 1M.
GPT_4O = Prices(input_per_million=2.5, cached_input_per_million=1.25, output_per_million=10)
# Anthropic's published Claude Sonnet 3.7 prices: $3 input, $3.75 cache writes, $0.30 cache
# hits, $15 output per 1M.
SONNET = Prices(
    input_per_million=3,
    cache_write_per_million=3.75,
    cached_input_per_million=0.3,
    output_per_million=15,
)
# Google's published Gemini 2.5 Flash preview prices: $0.15 input, $0.60 output without
# thinking, $3.50 thinking output per 1M.
FLASH = Prices(input_per_million=0.15, output_per_million=0.6, reasoning_per_million=3.5)


def test_openai_cached_tokens_are_part_of_the_prompt_and_priced_once() -> None:
    # OpenAI reports cached_tokens inside prompt_tokens: 10,000 prompt, 8,000 of them cached.
    usage = Usage(prompt_tokens=10_000, completion_tokens=500, cached_tokens=8_000)
    split = buckets(usage)
    assert (split.uncached_input, split.cache_read, split.output) == (2_000, 8_000, 500)
    assert cost_usd(usage, GPT_4O) == pytest.approx((2_000 * 2.5 + 8_000 * 1.25 + 500 * 10) / 1e6)
    # Pricing the cached tokens again as input (the 6.3x bug) would cost more than uncached.
    uncached = cost_usd(Usage(prompt_tokens=10_000, completion_tokens=500), GPT_4O)
    assert cost_usd(usage, GPT_4O) < uncached  # type: ignore[operator]


def test_anthropic_cache_reads_and_writes_are_disjoint_buckets() -> None:
    # Anthropic reports input_tokens=100, cache_creation=2,000, cache_read=10,000 separately;
    # vibeforge's prompt count holds all three.
    usage = Usage(
        prompt_tokens=12_100, completion_tokens=300, cached_tokens=10_000, cache_write_tokens=2_000
    )
    split = buckets(usage)
    assert (split.uncached_input, split.cache_read, split.cache_write) == (100, 10_000, 2_000)
    expected = (100 * 3 + 2_000 * 3.75 + 10_000 * 0.3 + 300 * 15) / 1e6
    assert cost_usd(usage, SONNET) == pytest.approx(expected)  # $0.0153


def test_reasoning_tokens_are_part_of_the_completion_and_priced_once() -> None:
    usage = Usage(prompt_tokens=1_000, completion_tokens=1_000, reasoning_tokens=800)
    assert cost_usd(usage, FLASH) == pytest.approx((1_000 * 0.15 + 200 * 0.6 + 800 * 3.5) / 1e6)
    # Without a reasoning price, reasoning is output: the completion priced once, not 1,800.
    assert cost_usd(usage, GPT_4O) == pytest.approx((1_000 * 2.5 + 1_000 * 10) / 1e6)


def test_counts_that_overlap_impossibly_are_clamped_not_double_priced() -> None:
    usage = Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=50, reasoning_tokens=9)
    split = buckets(usage)
    assert split.uncached_input + split.cache_read + split.cache_write == 10
    assert split.output + split.reasoning == 5


def test_the_providers_cost_wins_and_no_prices_is_no_cost() -> None:
    reported = with_cost(Usage(prompt_tokens=10, cost_usd=0.5), GPT_4O)
    assert (reported.cost_usd, reported.cost_source) == (0.5, "provider")
    priced = with_cost(Usage(prompt_tokens=1_000_000), GPT_4O)
    assert (priced.cost_usd, priced.cost_source) == (2.5, "prices")
    unpriced = with_cost(Usage(prompt_tokens=1_000_000), None)
    assert (unpriced.cost_usd, unpriced.cost_source) == (None, None)


# -- versions, through the OpenAI-compatible endpoint of an in-process app ----------------------


@pytest.fixture
def sdk(app: FastAPI) -> openai.AsyncOpenAI:
    """The openai SDK talking to the in-process app as its admin."""
    from tests.conftest import ADMIN_TOKEN

    return app_openai_client(app, ADMIN_TOKEN)  # type: ignore[no-any-return]


async def calls_of(app: FastAPI) -> list[LLMCall]:
    """Every stored LLM call, oldest first (after the endpoint's writes are done)."""
    await app.state.openai.drain()
    async with app.state.services.db.transaction() as session:
        return list(await session.scalars(select(LLMCall).order_by(LLMCall.created_at)))


async def ask(sdk: openai.AsyncOpenAI, model: str = "stub") -> None:
    await sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


MILLION = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}


async def test_a_new_price_version_applies_to_later_calls_only(
    app: FastAPI, client: httpx.AsyncClient, stub: StubLLMServer, sdk: openai.AsyncOpenAI
) -> None:
    prices = {"input_per_million": 1.0, "output_per_million": 2.0}
    config = await create_stub_model(client, stub, prices=prices)
    stub.rule(Script(usage=MILLION))
    await ask(sdk)
    added = await client.post(
        f"/models/{config['id']}/prices", json={"input_per_million": 10, "output_per_million": 20}
    )
    assert added.status_code == 201, added.text
    await ask(sdk)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = await client.post(
        f"/models/{config['id']}/prices",
        json={"input_per_million": 99, "output_per_million": 99, "effective_from": later},
    )
    assert future.status_code == 201
    await ask(sdk)  # the future version is not in force yet
    first, second, third = await calls_of(app)
    versions = (await client.get(f"/models/{config['id']}/prices")).json()["items"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert (first.cost_usd, first.price_version_id) == (3.0, versions[0]["id"])
    assert (second.cost_usd, second.price_version_id) == (30.0, versions[1]["id"])
    assert (third.cost_usd, third.price_version_id) == (30.0, versions[1]["id"])
    report = (await client.get("/usage")).json()
    assert report["total"]["cost_usd"] == pytest.approx(63.0)


async def test_a_version_set_for_soon_is_charged_from_then_though_resolutions_are_cached(
    app: FastAPI, client: httpx.AsyncClient, stub: StubLLMServer, sdk: openai.AsyncOpenAI
) -> None:
    """The model a call resolves to is kept 5 s (a burst of run starts asks once), but never
    past the moment a price version set for later takes effect."""
    config = await create_stub_model(
        client, stub, prices={"input_per_million": 1.0, "output_per_million": 2.0}
    )
    stub.rule(Script(usage=MILLION))
    soon = datetime.now(UTC) + timedelta(seconds=0.6)
    added = await client.post(
        f"/models/{config['id']}/prices",
        json={
            "input_per_million": 10,
            "output_per_million": 20,
            "effective_from": soon.isoformat(),
        },
    )
    assert added.status_code == 201, added.text
    await ask(sdk)  # resolved (and cached) before the new version is in force
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    await ask(sdk)
    before, after = await calls_of(app)
    assert (before.cost_usd, after.cost_usd) == (3.0, 30.0)


async def test_a_backdated_version_is_refused(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    config = await create_stub_model(client, stub)
    earlier = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    refused = await client.post(
        f"/models/{config['id']}/prices",
        json={"input_per_million": 1, "output_per_million": 1, "effective_from": earlier},
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_input"


async def test_the_providers_cost_is_stored_without_a_price_version(
    app: FastAPI, client: httpx.AsyncClient, stub: StubLLMServer, sdk: openai.AsyncOpenAI
) -> None:
    await create_stub_model(client, stub, prices={"input_per_million": 1, "output_per_million": 1})
    stub.script(Script(usage={**MILLION, "cost": 0.25}))
    await ask(sdk)
    (call,) = await calls_of(app)
    assert (call.cost_usd, call.cost_source, call.price_version_id) == (0.25, "provider", None)


async def test_an_unpriced_model_is_counted_as_unpriced_never_as_zero(
    app: FastAPI, client: httpx.AsyncClient, stub: StubLLMServer, sdk: openai.AsyncOpenAI
) -> None:
    await create_stub_model(client, stub)
    await create_stub_model(
        client,
        stub,
        name="priced",
        model="stub-priced",
        prices={"input_per_million": 1, "output_per_million": 1},
    )
    stub.rule(Script(usage=MILLION))
    await ask(sdk)
    await ask(sdk, "priced")
    await calls_of(app)
    report = (await client.get("/usage", params={"group_by": "model"})).json()
    assert report["total"]["unpriced_calls"] == 1
    assert report["total"]["cost_usd"] == pytest.approx(2.0)
    by_model: dict[str, Any] = {group["key"]: group for group in report["groups"]}
    unpriced = [group for group in by_model.values() if group["unpriced_calls"]]
    assert len(unpriced) == 1 and unpriced[0]["cost_usd"] is None


async def test_anthropic_cache_writes_reach_the_call_through_the_endpoint(
    app: FastAPI, client: httpx.AsyncClient, stub: StubLLMServer, sdk: openai.AsyncOpenAI
) -> None:
    body = {
        "name": "claude",
        "provider": "anthropic",
        "model": "claude-stub",
        "base_url": stub.url,
        "api_key": "sk-ant-stub",
        "prices": {
            "input_per_million": 3,
            "cache_write_per_million": 3.75,
            "cached_input_per_million": 0.3,
            "output_per_million": 15,
        },
    }
    assert (await client.post("/models", json=body)).status_code == 201
    stub.script(
        Script(
            usage={
                "prompt_tokens": 12_100,
                "cached_tokens": 10_000,
                "cache_write_tokens": 2_000,
                "completion_tokens": 300,
            }
        )
    )
    await ask(sdk, "claude")
    (call,) = await calls_of(app)
    assert (call.cached_tokens, call.cache_write_tokens) == (10_000, 2_000)
    assert call.cost_usd == pytest.approx(0.0153)
