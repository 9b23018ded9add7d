"""The relay alone: OpenAI request bodies translated and refused, answers as JSON and SSE,
caps, provider failures, tokens; over HTTP to its ASGI app and on its Unix socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from vibeforge.llm import PARAMETER_NAMES, Capabilities, ProviderServerError
from vibeforge.llm.testing import ScriptedModel as Scripted
from vibeforge.relay import CallRecorder, CallScope, Relay, RelayCaps, RelayError, RelaySession
from vibeforge.relay import translate as translate_body
from vibeforge.relay.asgi import relay_app
from vibeforge.relay.unix import UnixRelayServer

PLAIN = Capabilities(
    streaming=True, tools=False, images=False, parameters=frozenset({"temperature"})
)
ALL = Capabilities(streaming=True, tools=True, images=True, parameters=PARAMETER_NAMES)


def ScriptedModel(replies: list[Any]) -> Scripted:
    """A scripted model accepting every parameter."""
    return Scripted(replies, capabilities=ALL)


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        (body(frequency_penalty=1), "frequency_penalty"),
        (body(logprobs=True), "logprobs"),
        (body(n=2), "n"),
        (body(tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": []}, "messages"),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x"}}],
                    }
                ],
            },
            "messages[0].content[0]",
        ),
        (body(temperature=9), "temperature"),
    ],
)
def test_what_the_model_cannot_take_is_refused_naming_it(
    request_body: dict[str, Any], param: str
) -> None:
    with pytest.raises(RelayError) as refused:
        translate_body(request_body, PLAIN, "program")
    assert refused.value.status == 400
    assert refused.value.param == param
    assert refused.value.body()["error"]["type"] == "invalid_request_error"


def test_requests_translate_to_chat_requests() -> None:
    translated = translate_body(
        {
            "model": "gpt-x",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "max_completion_tokens": 7,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        ALL,
        "program",
    )
    request = translated.request
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool"]
    assert request.messages[1].text == "ab"
    assert request.messages[2].tool_calls[0].name == "f"
    assert request.params.max_tokens == 7
    assert [tool.name for tool in request.tools] == ["f"]
    assert (translated.stream, translated.include_usage, request.purpose) == (True, True, "program")
    none = translate_body(
        body(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="none"), ALL, "p"
    )
    assert none.request.tools == ()


def session_of(model: Scripted, caps: RelayCaps | None = None) -> RelaySession:
    recorder = CallRecorder(CallScope(owner_id="owner", role="program", model_label="scripted"))
    return RelaySession(
        model=model, model_name="scripted-1", recorder=recorder, caps=caps or RelayCaps()
    )


async def post(relay: Relay, token: str, payload: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=relay_app(relay))
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await client.post(
            "/v1/chat/completions", content=raw, headers={"Authorization": f"Bearer {token}"}
        )


async def test_a_whole_answer_is_a_chat_completion_and_is_recorded() -> None:
    relay = Relay()
    session = session_of(ScriptedModel(["Hello there"]))
    token = relay.open(session)
    response = await post(relay, token, body())
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion" and answer["model"] == "scripted-1"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Hello there"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["total_tokens"] == session.tokens > 0
    (row,) = session.recorder.rows
    assert (row.role, row.status, row.iteration, row.owner_id) == ("program", "success", 1, "owner")
    assert row.exchange["reply"]["text"] == "Hello there"
    assert row.exchange["request"]["messages"] == [{"role": "user", "content": "hi"}]


async def test_a_stream_is_sse_chunks_with_usage_then_done() -> None:
    relay = Relay()
    token = relay.open(session_of(ScriptedModel(["one two three"])))
    response = await post(relay, token, body(stream=True, stream_options={"include_usage": True}))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


async def test_bad_tokens_and_bodies_get_openais_error_shape() -> None:
    relay = Relay()
    token = relay.open(session_of(ScriptedModel(["x"])))
    refused = await post(relay, "vfr_wrong", body())
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert refused.headers["x-should-retry"] == "false"
    malformed = await post(relay, token, b"{not json")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    relay.close(token)
    assert (await post(relay, token, body())).status_code == 401


async def test_calls_and_tokens_are_capped() -> None:
    relay = Relay()
    token = relay.open(session_of(ScriptedModel(["a", "b"]), RelayCaps(max_calls=1)))
    assert (await post(relay, token, body())).status_code == 200
    capped = await post(relay, token, body())
    assert capped.status_code == 429 and capped.json()["error"]["code"] == "call_cap_reached"
    tight = session_of(ScriptedModel(["a"]), RelayCaps(max_tokens=5))
    long = body(messages=[{"role": "user", "content": "word " * 50}])
    assert (await post(relay, relay.open(tight), long)).json()["error"][
        "code"
    ] == "token_cap_reached"
    model = ScriptedModel(["fine"])
    await post(relay, relay.open(session_of(model, RelayCaps(max_tokens=100))), body())
    assert model.requests[0].params.max_tokens is not None
    assert model.requests[0].params.max_tokens < 100  # the answer may use only what is left


async def test_a_provider_failure_is_a_502_before_the_stream_starts() -> None:
    relay = Relay()
    failing = ScriptedModel([ProviderServerError("stub", 500, "{}", "the provider broke")])
    session = session_of(failing)
    response = await post(relay, relay.open(session), body(stream=True))
    assert response.status_code == 502
    assert "the provider broke" in response.json()["error"]["message"]
    assert [row.status for row in session.recorder.rows] == ["error"]


async def test_the_relay_answers_on_its_unix_socket() -> None:
    relay = Relay()
    server = UnixRelayServer(relay)
    await server.start()
    try:
        token = relay.open(session_of(ScriptedModel(["over the socket"])))
        transport = httpx.AsyncHTTPTransport(uds=server.socket_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
            response = await client.post(
                "/v1/chat/completions", json=body(), headers={"Authorization": f"Bearer {token}"}
            )
        assert response.json()["choices"][0]["message"]["content"] == "over the socket"
        assert oct(server.directory.stat().st_mode & 0o777) == "0o711"
    finally:
        await server.close()
    assert server.directory is None
