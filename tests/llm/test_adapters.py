"""Every adapter against the stub over real HTTP: the behaviours all wire APIs share."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import aclosing

import pytest

from tests.llm.conftest import model_for
from vibeforge.llm import (
    ChatRequest,
    Finished,
    Message,
    Params,
    Prices,
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderServerError,
    TextDelta,
    ThinkingDelta,
    ToolSpec,
    UsageReport,
    collect,
)
from vibeforge.llm.stub import Script, ScriptedToolCall, StubLLMServer

ADAPTERS = ["openai", "ollama", "anthropic"]
HELLO = ChatRequest((Message("system", "be brief"), Message("user", "hello there")))


@pytest.fixture(params=ADAPTERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_text_streams_as_deltas_and_ends_with_finished(provider: str, stub: StubLLMServer):
    stub.script(Script(chunks=("Hel", "lo", " world")))
    events = [event async for event in model_for(provider, stub).stream(HELLO)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo", " world"]
    assert isinstance(events[-1], Finished) and events[-1].stop_reason == "stop"
    assert isinstance(events[-2], UsageReport)


async def test_default_script_echoes_the_prompt(provider: str, stub: StubLLMServer):
    completion = await collect(model_for(provider, stub), HELLO)
    assert completion.text == "Echo: hello there"


async def test_thinking_arrives_before_text(provider: str, stub: StubLLMServer):
    stub.script(Script(thinking=("let me ", "think"), chunks=("42",)))
    request = ChatRequest((Message("user", "q"),), params=Params(reasoning_effort="low"))
    events = [event async for event in model_for(provider, stub).stream(request)]
    kinds = [type(e).__name__ for e in events if isinstance(e, TextDelta | ThinkingDelta)]
    assert kinds == ["ThinkingDelta", "ThinkingDelta", "TextDelta"]
    completion = await collect(model_for(provider, stub), HELLO)  # default script: no thinking
    assert completion.thinking == ""


async def test_tool_calls_are_assembled(provider: str, stub: StubLLMServer):
    calls = (
        ScriptedToolCall("read_file", '{"path": "app.py"}', "call_1"),
        ScriptedToolCall("grep", '{"pattern": "def"}', "call_2"),
    )
    stub.script(Script(chunks=(), tool_calls=calls))
    tool = ToolSpec("read_file", "read a file", {"type": "object"})
    request = ChatRequest((Message("user", "look"),), tools=(tool,))
    completion = await collect(model_for(provider, stub), request)
    assert [(c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("read_file", {"path": "app.py"}),
        ("grep", {"pattern": "def"}),
    ]
    assert completion.stop_reason == "tool_calls"
    assert stub.requests[-1].body["tools"]


async def test_usage_is_reported_with_cost_from_prices(provider: str, stub: StubLLMServer):
    usage = {"prompt_tokens": 2_000_000, "completion_tokens": 1_000_000, "cached_tokens": 1_000_000}
    stub.script(Script(chunks=("ok",), usage=usage))
    prices = Prices(input_per_million=3.0, output_per_million=15.0, cached_input_per_million=0.3)
    completion = await collect(model_for(provider, stub, prices=prices), HELLO)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2_000_000
    assert completion.usage.completion_tokens == 1_000_000
    if provider != "ollama":  # Ollama reports no cache figures
        assert completion.usage.cached_tokens == 1_000_000
        assert completion.usage.cost_usd == pytest.approx(3.0 + 0.3 + 15.0)
    else:
        assert completion.usage.cost_usd == pytest.approx(6.0 + 15.0)
    assert completion.usage.cost_source == "prices"


async def test_raw_response_is_the_providers_non_streaming_shape(
    provider: str, stub: StubLLMServer
):
    stub.script(Script(chunks=("a", "b"), extra_fields={"provider_extra": "kept"}))
    raw = (await collect(model_for(provider, stub), HELLO)).raw
    assert raw["provider_extra"] == "kept"
    if provider == "openai":
        assert raw["object"] == "chat.completion"
        assert raw["choices"][0]["message"]["content"] == "ab"
        assert raw["usage"]["total_tokens"] > 0
    elif provider == "ollama":
        assert raw["message"]["content"] == "ab" and raw["done"] is True
        assert raw["eval_count"] > 0
    else:
        assert raw["type"] == "message" and raw["content"][0] == {"type": "text", "text": "ab"}
        assert raw["stop_reason"] == "end_turn"
    json.dumps(raw)  # storable whole


async def test_401_is_an_authentication_error_and_not_retried(provider: str, stub: StubLLMServer):
    stub.script(Script(status=401, error_message="bad key"))
    with pytest.raises(ProviderAuthenticationError) as caught:
        await collect(model_for(provider, stub, retries=2), HELLO)
    assert caught.value.provider_status == 401 and not caught.value.retryable
    assert caught.value.status == 502  # vibeforge's answer: the provider failed, not our auth
    assert len(stub.requests) == 1


async def test_429_then_success_is_retried(provider: str, stub: StubLLMServer):
    stub.script(Script(status=429, retry_after=0.01), Script(chunks=("fine",)))
    completion = await collect(model_for(provider, stub, retries=2), HELLO)
    assert completion.text == "fine"
    assert len(stub.requests) == 2


async def test_429_without_retries_carries_retry_after(provider: str, stub: StubLLMServer):
    stub.script(Script(status=429, retry_after=7))
    with pytest.raises(ProviderRateLimited) as caught:
        await collect(model_for(provider, stub), HELLO)
    assert caught.value.retry_after == 7 and caught.value.retryable


async def test_500_is_a_retryable_server_error(provider: str, stub: StubLLMServer):
    stub.script(*[Script(status=500)] * 3)
    with pytest.raises(ProviderServerError) as caught:
        await collect(model_for(provider, stub, retries=2), HELLO)
    assert caught.value.retryable
    assert len(stub.requests) == 3


async def test_malformed_stream_is_a_protocol_error(provider: str, stub: StubLLMServer):
    stub.script(Script(chunks=("a", "b", "c"), malformed_after=1))
    with pytest.raises(ProviderProtocolError):
        await collect(model_for(provider, stub), HELLO)


async def test_disconnect_mid_stream_is_an_error_and_not_retried(
    provider: str, stub: StubLLMServer
):
    stub.script(Script(chunks=("a", "b", "c", "d"), disconnect_after=2))
    seen: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for event in model_for(provider, stub, retries=2).stream(HELLO):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert seen == ["a", "b"]
    assert isinstance(caught.value, ProviderConnectionError | ProviderProtocolError)
    assert len(stub.requests) == 1  # text reached the caller: a retry would repeat it


async def test_retryable_error_before_first_token_is_retried(provider: str, stub: StubLLMServer):
    stub.script(Script(chunks=("a",), disconnect_after=0), Script(chunks=("b",)))
    completion = await collect(model_for(provider, stub, retries=1), HELLO)
    assert completion.text == "b"


async def test_cancel_closes_the_upstream_connection(provider: str, stub: StubLLMServer):
    stub.script(Script(chunks=tuple("abcdefghij"), chunk_delay=0.05))
    first = asyncio.Event()

    async def consume() -> None:
        async for event in model_for(provider, stub).stream(HELLO):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = stub.requests[-1]
    await stub.wait_for(lambda: record.client_disconnected_at is not None, within=2)
    assert record.client_disconnected_at is not None
    assert record.client_disconnected_at - cancelled_at < 0.1
    assert record.completed_at is None and record.chunks_sent < 10


async def test_closing_the_iterator_closes_the_upstream_connection(
    provider: str, stub: StubLLMServer
):
    stub.script(Script(chunks=tuple("abcdefghij"), chunk_delay=0.05))
    async with aclosing(model_for(provider, stub).stream(HELLO)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    record = stub.requests[-1]
    await stub.wait_for(lambda: record.client_disconnected_at is not None, within=2)


async def test_utf8_split_across_chunks_is_never_lost(provider: str, stub: StubLLMServer):
    pieces = ("héllo ", "wörld ", "日本語 ", "🙂✓")
    stub.script(Script(chunks=pieces, thinking=("ünïcode",), split_utf8=True))
    completion = await collect(model_for(provider, stub), HELLO)
    assert completion.text == "".join(pieces)
    assert completion.thinking == "ünïcode"


async def test_concurrent_streams_do_not_mix(provider: str, stub: StubLLMServer):
    model = model_for(provider, stub)
    requests = [ChatRequest((Message("user", f"number {n}"),)) for n in range(20)]
    results = await asyncio.gather(*(collect(model, request) for request in requests))
    assert [r.text for r in results] == [f"Echo: number {n}" for n in range(20)]


async def test_the_purpose_of_a_request_travels_as_data(provider: str, stub: StubLLMServer):
    stub.rule(Script(chunks=("reviewed",), purpose="evaluator"))
    stub.rule(Script(chunks=("coded",), purpose="coder"))
    model = model_for(provider, stub)
    review = ChatRequest(HELLO.messages, purpose="evaluator")
    code = ChatRequest(HELLO.messages, purpose="coder")
    assert (await collect(model, review)).text == "reviewed"
    assert (await collect(model, code)).text == "coded"
    assert (await collect(model, HELLO)).text == "Echo: hello there"
    assert [record.purpose for record in stub.requests] == ["evaluator", "coder", None]
