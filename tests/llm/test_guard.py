"""The guard on every adapter, against the stub over real HTTP: no secret survives a provider's
echo, an empty answer is an error, usage is never 0, and retried attempts are reported."""

from __future__ import annotations

import base64
import json
import traceback
from typing import Any

import pytest

from tests.leaks import leaks
from tests.llm.conftest import model_for
from vibeforge.llm import (
    AttemptFailed,
    ChatRequest,
    Finished,
    Message,
    Prices,
    ProviderEmptyResponse,
    ProviderError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageReport,
    collect,
)
from vibeforge.llm.stub import Script, ScriptedToolCall, StubLLMServer

ADAPTERS = ["openai", "ollama", "anthropic"]
KEY = 'sk-vf-7Hq2+Lm9/Xr4"Tz8=Wc3Nb6Ys1Kd5Pg0'
HELLO = ChatRequest((Message("system", "be brief"), Message("user", "hello there")))


@pytest.fixture(params=ADAPTERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


def everything_in(error: BaseException) -> str:
    """All an error could show anyone: message, args, body, raw, usage and its traceback."""
    parts = [str(error), repr(error.args), "".join(traceback.format_exception(error))]
    for name in ("detail", "body", "raw", "usage"):
        parts.append(repr(getattr(error, name, None)))
    return "\n".join(parts)


async def events_of(model: Any, request: ChatRequest = HELLO) -> tuple[list[StreamEvent], Any]:
    """Every event of a stream, and the error it ended with (None if it finished)."""
    events: list[StreamEvent] = []
    try:
        async for event in model.stream(request):
            events.append(event)
    except ProviderError as error:
        return events, error
    return events, None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
async def test_a_key_echoed_in_an_error_body_is_redacted(
    provider: str, stub: StubLLMServer, status: int
) -> None:
    stub.script(Script(status=status, error_message="no", echo_key=True))
    _, error = await events_of(model_for(provider, stub, api_key=KEY))
    assert error is not None
    assert stub.requests[-1].headers, "the stub received the key and echoed it"
    assert not leaks(everything_in(error), KEY)
    assert "[redacted]" in error.detail


async def test_a_key_sent_as_basic_auth_header_is_redacted(stub: StubLLMServer) -> None:
    password = "hunter2-correct-horse-battery"
    basic = base64.b64encode(f"alice:{password}".encode()).decode()
    stub.script(Script(status=401, echo_key=True))
    model = model_for(
        "ollama", stub, api_key=None, extra_headers={"Authorization": f"Basic {basic}"}
    )
    _, error = await events_of(model)
    assert not leaks(everything_in(error), password)


async def test_every_retried_attempt_reports_a_redacted_error(
    provider: str, stub: StubLLMServer
) -> None:
    stub.script(
        Script(status=429, retry_after=0.001, echo_key=True),
        Script(status=503, echo_key=True),
        Script(chunks=("ok",)),
    )
    events, error = await events_of(model_for(provider, stub, retries=2, api_key=KEY))
    assert error is None
    failed = [event for event in events if isinstance(event, AttemptFailed)]
    assert [(f.attempt, f.error.code) for f in failed] == [
        (1, "provider_rate_limited"),
        (2, "provider_server_error"),
    ]
    assert all(f.elapsed >= 0 and f.retry_in >= 0 for f in failed)
    assert not any(leaks(everything_in(f.error), KEY) for f in failed)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "ok"


async def test_a_key_echoed_in_a_mid_stream_error_is_redacted(
    provider: str, stub: StubLLMServer
) -> None:
    stub.script(Script(chunks=("one ", "two ", "three"), error_after=2, echo_key=True))
    events, error = await events_of(model_for(provider, stub, api_key=KEY))
    assert error is not None
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two "
    assert not leaks(everything_in(error), KEY)
    # It was answering when it failed: the tokens it sent are estimated, never 0.
    assert error.usage is not None and error.usage.source == "estimated"
    assert error.usage.prompt_tokens > 0 and error.usage.completion_tokens > 0


async def test_a_key_in_the_streamed_answer_is_redacted_wherever_it_is_split(
    provider: str, stub: StubLLMServer
) -> None:
    stub.script(
        Script(
            thinking=("the key ", KEY[:3], KEY[3:11], KEY[11:], " is secret"),
            chunks=("Your key: ", KEY[:1], KEY[1:9], KEY[9:20], KEY[20:], ". And ", KEY[:12]),
            tool_calls=(ScriptedToolCall("read_file", json.dumps({"path": KEY})),),
        )
    )
    events, error = await events_of(model_for(provider, stub, api_key=KEY))
    assert error is None
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    arguments = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    finished = events[-1]
    assert isinstance(finished, Finished)
    for shown in (text, thinking, arguments, json.dumps(finished.raw)):
        assert not leaks(shown, KEY), shown
    assert text == "Your key: [redacted]. And [redacted]"
    assert thinking == "the key [redacted] is secret"


@pytest.mark.parametrize(
    "script",
    [
        Script(bare=True),
        Script(chunks=()),
        Script(chunks=(), send_usage=False),
        Script(chunks=(), stop_reason="length"),
    ],
    ids=["only-the-end-marker", "no-content", "no-content-no-usage", "cut-off-before-content"],
)
async def test_an_empty_answer_is_an_error(
    provider: str, stub: StubLLMServer, script: Script
) -> None:
    stub.script(script)
    events, error = await events_of(model_for(provider, stub))
    assert not [e for e in events if isinstance(e, TextDelta | UsageReport | Finished)]
    assert isinstance(error, ProviderEmptyResponse)
    assert error.code == "empty_response" and error.retryable and error.status == 502
    assert error.usage is not None and error.usage.prompt_tokens > 0  # the prompt is billed


async def test_an_empty_answer_is_retried_before_anything_reaches_the_caller(
    provider: str, stub: StubLLMServer
) -> None:
    stub.script(Script(bare=True), Script(chunks=()), Script(chunks=("at last",)))
    events, error = await events_of(model_for(provider, stub, retries=2))
    assert error is None
    failed = [e.error.code for e in events if isinstance(e, AttemptFailed)]
    assert failed == ["empty_response", "empty_response"]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "at last"
    assert len(stub.requests) == 3


async def test_an_answer_of_tool_calls_only_is_not_empty(
    provider: str, stub: StubLLMServer
) -> None:
    stub.script(Script(chunks=(), tool_calls=(ScriptedToolCall("list_files", "{}"),)))
    completion = await collect(model_for(provider, stub), HELLO)
    assert completion.text == ""
    assert [call.name for call in completion.tool_calls] == ["list_files"]
    assert completion.stop_reason == "tool_calls"


async def test_missing_usage_is_estimated_and_priced(provider: str, stub: StubLLMServer) -> None:
    stub.script(Script(chunks=("a fairly long answer ", "in two pieces"), send_usage=False))
    prices = Prices(input_per_million=1.0, output_per_million=2.0)
    completion = await collect(model_for(provider, stub, prices=prices), HELLO)
    usage = completion.usage
    assert usage is not None and usage.source == "estimated"
    assert usage.prompt_tokens > 0 and usage.completion_tokens >= 8
    assert usage.cost_source == "prices"
    expected = (usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1_000_000
    assert usage.cost_usd == pytest.approx(expected)


async def test_reported_usage_is_kept_as_the_providers(provider: str, stub: StubLLMServer) -> None:
    stub.script(Script(chunks=("hi",), usage={"prompt_tokens": 123, "completion_tokens": 45}))
    usage = (await collect(model_for(provider, stub), HELLO)).usage
    assert usage is not None and usage.source == "provider"
    assert (usage.prompt_tokens, usage.completion_tokens) == (123, 45)
