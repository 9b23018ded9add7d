"""What each adapter puts on the wire: parameters, usage requests, headers, roles."""

from __future__ import annotations

import pytest

from tests.llm.conftest import model_for
from vibeforge.llm import (
    ChatRequest,
    ImagePart,
    Message,
    Params,
    TextPart,
    ToolCall,
    collect,
)
from vibeforge.llm.stub import Script, StubLLMServer

PARAMS = Params(temperature=0.3, top_p=0.9, max_tokens=50, stop=["END"], extra={"custom": 1})


async def test_openai_always_asks_for_usage_and_maps_max_tokens(stub: StubLLMServer):
    request = ChatRequest((Message("user", "hi"),), params=PARAMS.model_copy(update={"seed": 3}))
    await collect(model_for("openai", stub), request)
    body = stub.requests[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert body["temperature"] == 0.3 and body["seed"] == 3 and body["custom"] == 1
    assert stub.requests[-1].headers["authorization"] == "Bearer sk-test"


async def test_compatible_servers_get_max_tokens_and_defaults_apply(stub: StubLLMServer):
    model = model_for("openai-compatible", stub, default_params=Params(temperature=0.7, seed=1))
    await collect(model, ChatRequest((Message("user", "hi"),), params=Params(seed=2)))
    body = stub.requests[-1].body
    assert body["temperature"] == 0.7 and body["seed"] == 2
    await collect(model, ChatRequest((Message("user", "hi"),), params=Params(max_tokens=9)))
    assert stub.requests[-1].body["max_tokens"] == 9


async def test_openrouter_sends_its_headers_and_keeps_usage_cost(stub: StubLLMServer):
    stub.script(Script(chunks=("x",), usage={"cost": 0.0042}))
    headers = {"X-Title": "my app"}
    completion = await collect(
        model_for("openrouter", stub, extra_headers=headers), ChatRequest((Message("user", "q"),))
    )
    recorded = stub.requests[-1]
    assert recorded.headers["x-title"] == "my app" and "http-referer" in recorded.headers
    assert recorded.body["usage"] == {"include": True}
    assert completion.usage is not None and completion.usage.cost_usd == 0.0042
    assert completion.usage.cost_source == "provider"
    assert completion.raw["usage"]["cost"] == 0.0042


async def test_openai_messages_carry_images_tools_and_tool_results(stub: StubLLMServer):
    call = ToolCall("c1", "read_file", '{"path": "a.py"}')
    messages = (
        Message("user", (TextPart("what is this"), ImagePart(data="aGk=", media_type="image/png"))),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "print(1)", tool_call_id="c1"),
    )
    await collect(model_for("openai", stub), ChatRequest(messages))
    sent = stub.requests[-1].body["messages"]
    assert sent[0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,aGk="},
    }
    assert sent[1]["tool_calls"][0]["function"]["name"] == "read_file"
    assert sent[2] == {"role": "tool", "tool_call_id": "c1", "content": "print(1)"}


async def test_ollama_puts_parameters_in_options_and_thinking_on(stub: StubLLMServer):
    params = PARAMS.model_copy(update={"reasoning_effort": "high", "extra": {"keep_alive": "5m"}})
    image = ImagePart(data="aGk=")
    request = ChatRequest((Message("user", (TextPart("see"), image)),), params=params)
    await collect(model_for("ollama", stub), request)
    body = stub.requests[-1].body
    assert body["options"] == {"temperature": 0.3, "top_p": 0.9, "num_predict": 50, "stop": ["END"]}
    assert body["think"] == "high" and body["keep_alive"] == "5m"
    assert body["messages"][0]["images"] == ["aGk="]


async def test_anthropic_moves_system_out_and_budgets_thinking(stub: StubLLMServer):
    params = Params(max_tokens=100, stop=["END"], reasoning_effort="low", user="u1")
    request = ChatRequest((Message("system", "rules"), Message("user", "hi")), params=params)
    await collect(model_for("anthropic", stub), request)
    recorded = stub.requests[-1]
    body = recorded.body
    assert body["system"] == "rules" and [m["role"] for m in body["messages"]] == ["user"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] > 2048 and body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u1"}
    # The installed SDK sends the key as a bearer token; older ones used x-api-key.
    headers = recorded.headers
    assert "sk-test" in headers.get("x-api-key", "") + headers.get("authorization", "")


@pytest.mark.parametrize("provider", ["anthropic", "ollama"])
async def test_refused_parameters_never_reach_the_provider(provider: str, stub: StubLLMServer):
    from vibeforge.llm import InvalidParameter

    with pytest.raises(InvalidParameter) as caught:
        await collect(
            model_for(provider, stub),
            ChatRequest((Message("user", "q"),), params=Params(logit_bias={"1": 1.0})),
        )
    assert caught.value.parameter == "logit_bias"
    assert stub.requests == []
