"""The OpenAI-compatible endpoint, driven by the real `openai` SDK against a real server and
the stub LLM: answers whole and streamed, refusals in OpenAI's shape, routing by config name,
another user's configs unreachable, a client hanging up closing the provider's stream, and
every call recorded in /usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer

HELLO = [{"role": "user", "content": "hello there"}]


def sdk(server: RunningServer, token: str = TOKEN) -> openai.AsyncOpenAI:
    """An OpenAI client pointed at vibeforge, without the SDK's own retries."""
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0)


@pytest.fixture
async def stub_config(http: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    """The admin's stub config, named `stub`."""
    return await create_stub_model(http, stub)


@pytest.fixture
async def other_token(http: httpx.AsyncClient) -> AsyncIterator[str]:
    """The token of a second, ordinary user."""
    created = await http.post("/users", json={"email": "other@example.com"})
    assert created.status_code == 201, created.text
    yield created.json()["token"]


async def api_usage(http: httpx.AsyncClient) -> dict[str, Any]:
    """The `api` role's totals in the caller's usage report."""
    report = (await http.get("/usage", params={"group_by": "role"})).json()
    groups = {group["key"]: group for group in report["groups"]}
    return groups.get("api", {"calls": 0, "failed_calls": 0})


async def test_a_whole_answer_is_a_chat_completion_and_is_recorded(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, stub_config: dict[str, Any]
) -> None:
    stub.script(Script(chunks=("Hi ", "you"), usage={"prompt_tokens": 7, "completion_tokens": 2}))
    async with sdk(server) as client:
        answer = await client.chat.completions.create(model="stub", messages=HELLO)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hi you"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "stub"
    assert answer.usage is not None and answer.usage.prompt_tokens == 7
    assert stub.requests[0].body["messages"][-1]["content"] == "hello there"
    await until_recorded(http, 1)
    recorded = await api_usage(http)
    assert (recorded["prompt_tokens"], recorded["completion_tokens"]) == (7, 2)


async def until_recorded(http: httpx.AsyncClient, calls: int) -> None:
    """Wait until the endpoint's calls are stored (each is written as it ends)."""
    for _ in range(200):
        if (await api_usage(http))["calls"] >= calls:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"expected {calls} recorded calls")


async def test_a_streamed_answer_arrives_in_chunks_with_usage_last(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, stub_config: dict[str, Any]
) -> None:
    stub.script(Script(chunks=("one ", "two ", "three"), usage={"prompt_tokens": 5}))
    pieces: list[str] = []
    usage = None
    async with sdk(server) as client:
        stream = await client.chat.completions.create(
            model="stub",
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
    assert "".join(pieces) == "one two three"
    assert len(pieces) >= 3  # streamed, not sent whole
    assert usage is not None and usage.prompt_tokens == 5
    await until_recorded(http, 1)


async def test_an_unknown_model_and_a_bad_token_are_refused_as_openai_does(
    server: RunningServer, stub_config: dict[str, Any]
) -> None:
    async with sdk(server) as client:
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(model="no-such", messages=HELLO)  # type: ignore[arg-type]
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(model="stub", messages=[])
        assert bad.value.param == "messages"
    async with sdk(server, "vf_not-a-token") as stranger:
        with pytest.raises(openai.AuthenticationError):
            await stranger.chat.completions.create(model="stub", messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.AuthenticationError):
            await stranger.models.list()


async def test_another_users_config_is_unreachable_and_unlisted(
    server: RunningServer, stub: StubLLMServer, stub_config: dict[str, Any], other_token: str
) -> None:
    async with sdk(server) as client:
        mine = [model.id async for model in client.models.list()]
    assert mine == ["stub", "offline"]
    async with sdk(server, other_token) as other:
        theirs = [model.id async for model in other.models.list()]
        with pytest.raises(openai.NotFoundError):
            await other.chat.completions.create(model="stub", messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.NotFoundError):
            await other.chat.completions.create(model=stub_config["id"], messages=HELLO)  # type: ignore[arg-type]
    assert theirs == ["offline"]
    assert stub.requests == []


async def test_a_client_hanging_up_mid_stream_closes_the_provider_stream(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, stub_config: dict[str, Any]
) -> None:
    stub.script(Script(chunks=tuple(f"w{n} " for n in range(200)), chunk_delay=0.05))
    async with sdk(server) as client:
        stream = await client.chat.completions.create(
            model="stub",
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
        )
        seen = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                seen += 1
            if seen == 3:
                break
        await stream.close()
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=3)
    assert stub.requests[0].chunks_sent < 100
    await until_recorded(http, 1)
    recorded = await api_usage(http)
    assert recorded["failed_calls"] == 1  # stored as cancelled
    assert recorded["completion_tokens"] > 0  # billed for what it received (estimated)
