"""Provider outcomes told truthfully, over REST and the socket: a failure answers its status
and keeps its code, an empty answer is an error, usage is never 0, every attempt is recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer, free_port
from tests.stubs import TOKEN, create_stub_model, until
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, ScriptedToolCall, StubLLMServer
from vibeforge.llm.tokens import estimate_tokens

BASE_PATHS = {"openai-compatible": "/v1", "ollama": "", "anthropic": ""}
FAST_429 = Script(status=429, retry_after=0.01)
FAILURES = {
    "refused-key": ([Script(status=401)], 502, "provider_authentication"),
    "bad-request": ([Script(status=404)], 502, "provider_bad_request"),
    "rate-limited-every-time": ([FAST_429] * 3, 503, "provider_rate_limited"),
    "empty-every-time": (
        [Script(bare=True), Script(chunks=()), Script(bare=True)],
        502,
        "empty_response",
    ),
    "failed-mid-stream": (
        [Script(chunks=("partial ", "rest"), error_after=1)],
        502,
        "provider_server_error",
    ),
}


async def _model(client: httpx.AsyncClient, stub: StubLLMServer, provider: str) -> dict[str, Any]:
    return await create_stub_model(
        client, stub, provider=provider, base_url=stub.url + BASE_PATHS[provider]
    )


async def _post(client: httpx.AsyncClient, session_id: str) -> httpx.Response:
    return await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "hi", "mode": "chat"}
    )


@pytest.mark.parametrize("case", list(FAILURES))
async def test_a_provider_failure_answers_its_status_and_points_to_the_stored_message(
    client: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
    session_id: str,
    case: str,
) -> None:
    scripts, status, code = FAILURES[case]
    stub.script(*scripts)
    response = await _post(client, session_id)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["status"] == "error" and body["detail"]
    message = (await client.get(f"/messages/{body['message_id']}/full")).json()
    assert message["message"]["status"] == "error"
    assert message["message"]["error_code"] == code
    assert message["message"]["error"] == body["detail"]
    run = (await client.get(f"/runs/{body['run_id']}")).json()
    assert (run["status"], run["error_code"], run["message_id"]) == (
        "failed",
        code,
        body["message_id"],
    )
    calls = message["llm_calls"]
    assert len(calls) == len(scripts) == len(stub.requests)
    assert [call["attempt"] for call in calls] == list(range(1, len(scripts) + 1))
    assert all(call["status"] == "error" and call["error_code"] for call in calls)
    if case == "failed-mid-stream":
        assert message["message"]["content"] == "partial "  # what the client saw is kept
        assert calls[0]["usage_source"] == "estimated" and calls[0]["completion_tokens"] > 0


async def test_an_unreachable_provider_answers_503(
    client: httpx.AsyncClient, session_id: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    await client.post(
        "/models",
        json={
            "name": "gone",
            "provider": "openai-compatible",
            "model": "m",
            "base_url": closed,
            "is_default": True,
        },
    )
    response = await _post(client, session_id)
    assert response.status_code == 503
    assert response.json()["error"] == "provider_unreachable"
    calls = (await client.get(f"/messages/{response.json()['message_id']}/full")).json()
    assert [call["status"] for call in calls["llm_calls"]] == ["error"] * 3


async def test_every_attempt_is_recorded_with_what_it_was_billed(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(
        Script(chunks=(), usage={"prompt_tokens": 40, "completion_tokens": 0}),
        FAST_429,
        Script(chunks=("done",), usage={"prompt_tokens": 40, "completion_tokens": 2}),
    )
    response = await _post(client, session_id)
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["status"] == "success" and outcome["content"] == "done"
    assert outcome["token_usage"]["prompt_tokens"] == 80  # the empty answer was billed too
    assert outcome["token_usage"]["calls"] == 3
    calls = (await client.get(f"/messages/{outcome['message_id']}/full")).json()["llm_calls"]
    assert [
        (c["attempt"], c["status"], c["error_code"], c["prompt_tokens"], c["usage_source"])
        for c in calls
    ] == [
        (1, "error", "empty_response", 40, "provider"),
        (2, "error", "provider_rate_limited", 0, None),
        (3, "success", None, 40, "provider"),
    ]
    assert "empty" in calls[0]["error"] and calls[1]["raw"] is None
    usage = (await client.get("/usage")).json()["total"]
    assert (usage["calls"], usage["failed_calls"], usage["prompt_tokens"]) == (3, 2, 80)


@pytest.mark.parametrize("provider", list(BASE_PATHS))
async def test_usage_a_provider_does_not_report_is_estimated_never_zero(
    client: httpx.AsyncClient, stub: StubLLMServer, session_id: str, provider: str
) -> None:
    await _model(client, stub, provider)
    stub.script(
        Script(chunks=("an answer of ", "some length"), send_usage=False),
        Script(chunks=("counted",), usage={"prompt_tokens": 7, "completion_tokens": 1}),
    )
    estimated = (await _post(client, session_id)).json()
    counted = (await _post(client, session_id)).json()
    assert estimated["token_usage"]["prompt_tokens"] > 0
    assert estimated["token_usage"]["completion_tokens"] >= 6
    assert counted["token_usage"]["prompt_tokens"] == 7
    sources = []
    for outcome in (estimated, counted):
        full = (await client.get(f"/messages/{outcome['message_id']}/full")).json()
        sources += [call["usage_source"] for call in full["llm_calls"]]
    assert sources == ["estimated", "provider"]
    usage = (await client.get("/usage")).json()["total"]
    assert usage["estimated_calls"] == 1


@pytest.mark.parametrize("provider", list(BASE_PATHS))
async def test_an_answer_of_tool_calls_only_is_not_empty(
    client: httpx.AsyncClient, stub: StubLLMServer, session_id: str, provider: str
) -> None:
    await _model(client, stub, provider)
    stub.script(Script(chunks=(), tool_calls=(ScriptedToolCall("list_files", "{}"),)))
    response = await _post(client, session_id)
    assert response.status_code == 200 and response.json()["status"] == "success"
    assert len(stub.requests) == 1


@pytest.mark.parametrize("provider", list(BASE_PATHS))
async def test_the_socket_tells_the_same_outcomes_with_its_events_unchanged(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, provider: str
) -> None:
    await _model(http, stub, provider)
    project = (await http.post("/projects", json={"name": "ws"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", session_id=session["session_id"])
    outcomes = []
    stub.script(
        Script(status=401),
        Script(bare=True),
        Script(chunks=()),
        Script(bare=True),
        Script(chunks=("unmetered answer",), send_usage=False),
    )
    for _ in range(3):
        await ws.send("chat", session_id=session["session_id"], prompt="hi", mode="chat")
        done = await ws.until("done", within=15)
        outcomes.append(done["data"])
    errors = [event["data"] for event in ws.events if event["type"] == "error"]
    assert [(set(e) >= {"code", "detail"}, e["code"]) for e in errors] == [
        (True, "provider_authentication"),
        (True, "empty_response"),
    ]
    assert [(o["status"], o["error_code"]) for o in outcomes] == [
        ("error", "provider_authentication"),
        ("error", "empty_response"),
        ("success", None),
    ]
    usage = [e["data"] for e in ws.events if e["type"] == "token_usage"]
    assert usage[-1]["usage"]["source"] == "estimated"
    assert usage[-1]["usage"]["prompt_tokens"] > 0 and usage[-1]["usage"]["completion_tokens"] > 0
    # The billed empty attempts were announced too (their prompts count).
    assert [u["status"] for u in usage] == ["error"] * 3 + ["success"]
    await ws.close()


async def test_a_run_that_crashes_answers_500_with_the_request_id_and_stored_message(
    app: Any, client: httpx.AsyncClient, session_id: str
) -> None:
    class Broken:
        async def __call__(self, ctx: Any) -> Any:
            raise RuntimeError("a bug in an agent")

    app.state.services.runs._agent_for = lambda ctx: Broken()
    response = await client.post(
        f"/sessions/{session_id}/messages",
        json={"prompt": "hi", "mode": "chat"},
        headers={"X-Request-ID": "req-crash-1"},
    )
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error" and "req-crash-1" in body["detail"]
    assert "a bug in an agent" not in response.text  # no internals reach the client
    run = (await client.get(f"/runs/{body['run_id']}")).json()
    assert (run["status"], run["error_code"]) == ("failed", "internal_error")


async def _start(client: httpx.AsyncClient, session_id: str) -> str:
    accepted = await client.post(
        f"/sessions/{session_id}/messages",
        params={"wait": "false"},
        json={"prompt": "long", "mode": "chat"},
    )
    return str(accepted.json()["message_id"])


async def _cancelled_calls(client: httpx.AsyncClient, message_id: str) -> list[dict[str, Any]]:
    for _ in range(300):
        full = (await client.get(f"/messages/{message_id}/full")).json()
        if full["message"]["status"] == "cancelled":
            return list(full["llm_calls"])
        await asyncio.sleep(0.01)
    raise AssertionError("the run was never stored as cancelled")


async def test_a_call_cancelled_mid_answer_records_its_estimated_tokens(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=tuple(f"w{i} " for i in range(200)), chunk_delay=0.02))
    message_id = await _start(client, session_id)
    await until(lambda: bool(stub.requests) and stub.requests[0].chunks_sent >= 5)
    run_id = (await client.get(f"/messages/{message_id}/full")).json()["message"]["run_id"]
    await client.post(f"/runs/{run_id}/cancel")
    (call,) = await _cancelled_calls(client, message_id)
    content = (await client.get(f"/messages/{message_id}/full")).json()["message"]["content"]
    assert content.startswith("w0 w1 ")
    assert call["status"] == "cancelled" and call["usage_source"] == "estimated"
    assert call["prompt_tokens"] > 0
    assert call["completion_tokens"] == estimate_tokens(content)  # what it sent before the cancel


async def test_a_cancel_while_waiting_to_retry_records_no_attempt_that_never_ran(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(status=429, retry_after=5), Script(chunks=("never",)))
    message_id = await _start(client, session_id)
    await until(lambda: bool(stub.requests) and stub.requests[0].completed_at is not None)
    run_id = (await client.get(f"/messages/{message_id}/full")).json()["message"]["run_id"]
    await asyncio.sleep(0.05)  # into the 5 s backoff
    await client.post(f"/runs/{run_id}/cancel")
    calls = await _cancelled_calls(client, message_id)
    assert [(c["attempt"], c["status"], c["error_code"]) for c in calls] == [
        (1, "error", "provider_rate_limited")
    ]
    assert len(stub.requests) == 1
