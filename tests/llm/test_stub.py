"""The stub server itself: selection of scripts, records, the control routes and the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest

from tests.llm.conftest import model_for
from vibeforge.llm import ChatRequest, Message, collect
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.llm.stub.script import ScriptBook


def test_queue_then_rules_then_default():
    book = ScriptBook()
    book.rules.append(Script(chunks=("rule",), model="m2"))
    book.rules.append(Script(chunks=("once",), prompt_contains="magic", times=1))
    book.queue.append(Script(chunks=("queued",)))
    assert book.choose("m1", "x").chunks == ("queued",)
    assert book.choose("m2", "x").chunks == ("rule",)
    assert book.choose("m1", "magic word").chunks == ("once",)
    assert book.choose("m1", "magic word").chunks is None  # rule used up: the default echo


def test_scripts_round_trip_through_json():
    script = Script(chunks=("a",), tool_calls=(), usage={"cost": 1.0}, split_utf8=True)
    assert Script.from_dict(json.loads(json.dumps(script.to_dict()))) == script
    with pytest.raises(ValueError, match="unknown"):
        Script.from_dict({"chunk": ["a"]})


async def test_control_routes_script_and_report(stub: StubLLMServer):
    async with httpx.AsyncClient(base_url=stub.url) as client:
        rules = [{"chunks": ["by rule"], "model": "stub-model"}]
        response = await client.post("/_stub/script", json={"rules": rules})
        assert response.status_code == 200
        completion = await collect(model_for("openai", stub), ChatRequest((Message("user", "q"),)))
        assert completion.text == "by rule"
        records = (await client.get("/_stub/requests")).json()["requests"]
        assert records[0]["protocol"] == "openai" and records[0]["completed_at"] is not None
        assert (
            await client.post("/_stub/script", json={"queue": [{"nope": 1}]})
        ).status_code == 400
        await client.post("/_stub/reset")
        assert stub.requests == [] and stub.book.rules == []


async def test_non_streaming_answers_in_each_protocol(stub: StubLLMServer):
    stub.rule(Script(chunks=("whole",)))
    async with httpx.AsyncClient(base_url=stub.url) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": False}
        openai = (await client.post("/v1/chat/completions", json=body)).json()
        ollama = (await client.post("/api/chat", json=body)).json()
        anthropic = (await client.post("/v1/messages", json=body)).json()
    assert openai["choices"][0]["message"]["content"] == "whole"
    assert ollama["message"]["content"] == "whole" and ollama["done"]
    assert anthropic["content"][0]["text"] == "whole"


async def test_first_byte_delay_is_honoured(stub: StubLLMServer):
    stub.script(Script(first_byte_delay=0.1))
    await collect(model_for("ollama", stub), ChatRequest((Message("user", "q"),)))
    record = stub.requests[-1]
    assert record.first_byte_at is not None and record.first_byte_at - record.received_at >= 0.09


async def test_cli_runs_a_real_server_process():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vibeforge.llm.stub.cli",
        "--port",
        "0",
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        url = line.strip().rsplit(" ", 1)[-1]
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/api/tags")
        assert response.json()["models"][0]["name"] == "stub-model:latest"
    finally:
        process.terminate()
        await process.wait()


ECHOED_KEY = "sk-echo-0123456789abcdefghij"
_ROUTES = {"openai": "/v1/chat/completions", "ollama": "/api/chat", "anthropic": "/v1/messages"}


@pytest.mark.parametrize("protocol", ["openai", "ollama", "anthropic"])
async def test_the_stub_echoes_the_key_it_received_in_error_bodies_and_streams(
    stub: StubLLMServer, protocol: str
):
    headers = (
        {"x-api-key": ECHOED_KEY}
        if protocol == "anthropic"
        else {"Authorization": f"Bearer {ECHOED_KEY}"}
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True}
    stub.script(
        Script(status=401, echo_key=True),
        Script(chunks=("a", "b", "c"), error_after=1, echo_key=True),
    )
    async with httpx.AsyncClient(base_url=stub.url, headers=headers) as client:
        refused = await client.post(_ROUTES[protocol], json=body)
        streamed = await client.post(_ROUTES[protocol], json=body)
    assert refused.status_code == 401
    for text in (refused.text, streamed.text):
        assert ECHOED_KEY in text and "sk-echo-0123" in text
        assert f"{ECHOED_KEY[:8]}{'*' * 20}{ECHOED_KEY[-4:]}" in text  # masked, as OpenAI does
    assert '"error"' in streamed.text.strip().splitlines()[-1]  # the stream ends on the error
    assert '"b"' not in streamed.text


@pytest.mark.parametrize("protocol", ["openai", "ollama", "anthropic"])
async def test_bare_and_usage_free_streams(stub: StubLLMServer, protocol: str):
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "q"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    stub.script(Script(bare=True), Script(chunks=("x",), send_usage=False))
    async with httpx.AsyncClient(base_url=stub.url) as client:
        bare = await client.post(_ROUTES[protocol], json=body)
        unmetered = await client.post(_ROUTES[protocol], json=body)
    assert bare.text.count("\n\n" if protocol != "ollama" else "\n") == 1  # one frame only
    assert '"x"' in unmetered.text
    for name in ("prompt_tokens", "input_tokens", "eval_count", "prompt_eval_count"):
        assert name not in unmetered.text
