"""The chat-completions request, sent without the openai SDK: what the SDK did that the wire
needs is still done (the key, the headers, error statuses read the way it read them)."""

from __future__ import annotations

import json

import pytest

from tests.llm.conftest import model_for, spec_for
from vibeforge import __version__
from vibeforge.llm import (
    ChatRequest,
    Message,
    ProviderAuthenticationError,
    ProviderBadRequest,
    collect,
)
from vibeforge.llm.errors import error_message, parse_retry_after_ms
from vibeforge.llm.factory import build_chat_model
from vibeforge.llm.openai_http import _encode
from vibeforge.llm.stub import Script, StubLLMServer

HELLO = ChatRequest((Message("user", "hello there"),), purpose="chat")


async def test_the_request_carries_the_key_and_says_who_sends_it(stub: StubLLMServer) -> None:
    await collect(model_for("openai", stub), HELLO)
    (request,) = stub.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert request.path == "/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == f"vibeforge/{__version__}"
    assert headers["x-vibeforge-purpose"] == "chat"
    assert request.body["stream"] is True and request.body["model"] == "stub-model"
    assert request.body["messages"] == [{"role": "user", "content": "hello there"}]


async def test_a_provider_that_needs_a_key_is_not_called_without_one(stub: StubLLMServer) -> None:
    model = build_chat_model(spec_for("openai", stub, api_key=None))
    with pytest.raises(ProviderAuthenticationError) as caught:
        await collect(model, HELLO)
    assert "no API key" in str(caught.value)
    assert stub.requests == []


async def test_a_compatible_server_is_called_without_a_key(stub: StubLLMServer) -> None:
    model = build_chat_model(spec_for("openai-compatible", stub, api_key=None))
    assert (await collect(model, HELLO)).text == "Echo: hello there"
    headers = {name.lower() for name in stub.requests[0].headers}
    assert "authorization" not in headers


async def test_an_error_status_reports_the_message_of_its_body(stub: StubLLMServer) -> None:
    stub.script(Script(status=404, error_message="The model `nope` does not exist"))
    with pytest.raises(ProviderBadRequest) as caught:
        await collect(model_for("openai", stub), HELLO)
    assert caught.value.provider_status == 404
    assert "The model `nope` does not exist" in str(caught.value)
    assert json.loads(caught.value.body)["error"]["message"] == "The model `nope` does not exist"


def test_error_messages_are_read_from_every_shape_of_body() -> None:
    assert error_message('{"error": {"message": "quota", "type": "x"}}') == "quota"
    assert error_message('{"error": "plain words"}') == "plain words"
    assert error_message('{"message": "top level"}') == "top level"
    assert error_message("<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert error_message('["odd"]') == '["odd"]'
    assert len(error_message("x" * 5000)) == 500


def test_retry_after_ms_is_read_as_seconds() -> None:
    assert parse_retry_after_ms("1500") == 1.5
    assert parse_retry_after_ms("-3") == 0.0
    assert parse_retry_after_ms("soon") is None
    assert parse_retry_after_ms(None) is None


def test_a_body_orjson_refuses_is_still_sent() -> None:
    assert json.loads(_encode({"seed": 2**70})) == {"seed": 2**70}
    assert json.loads(_encode({"n": 1, "text": "é"})) == {"n": 1, "text": "é"}
