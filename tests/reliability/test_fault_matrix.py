"""The provider fault matrix: every fault the stub LLM can stage, for each wire API, through
the whole server (REST, the run, the store). For each: the answer the client gets, the partial
kept in the message, the LLMCall rows (status, error code, usage so far) and the retry rule
(retried only before the first token, Retry-After honoured within its cap).

Complements tests/llm (each adapter alone) and tests/api/test_provider_outcomes.py (a few
outcomes in depth); the timeouts, which need a short per-model timeout, are at the end, on the
adapters with the retry layer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.servers import free_port
from tests.stubs import create_stub_model
from vibeforge.llm import RetryPolicy
from vibeforge.llm.errors import ProviderError
from vibeforge.llm.factory import build_chat_model
from vibeforge.llm.spec import ModelSpec
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.llm.types import ChatRequest, Message, TextDelta

# Provider faults behave the same whatever the database: SQLite only.
pytestmark = pytest.mark.sqlite_only

BASE_PATHS = {"openai-compatible": "/v1", "ollama": "", "anthropic": ""}
UTF8 = ("héllo ", "wörld ", "✓ ", "日本語 ", "🙂")


@dataclass(frozen=True)
class Fault:
    """A staged fault and what the client and the store must show for it."""

    scripts: tuple[Script, ...]
    status: int | tuple[int, ...]  # of POST .../messages
    code: str | None  # the error code; None: a success
    attempts: int  # provider requests, each one LLMCall row
    content: str | None = None  # the message's content, when it is pinned
    estimated: bool = False  # the last call's usage was estimated (the provider sent none)


FAULTS: dict[str, Fault] = {
    "401": Fault((Script(status=401),), 502, "provider_authentication", 1),
    "403": Fault((Script(status=403),), 502, "provider_authentication", 1),
    "404-model": Fault((Script(status=404),), 502, "provider_bad_request", 1),
    "429-retry-after": Fault(
        (Script(status=429, retry_after=0.05),) * 3, 503, "provider_rate_limited", 3
    ),
    "429-then-success": Fault(
        (Script(status=429, retry_after=0.05), Script(chunks=("ok",))), 200, None, 2, "ok"
    ),
    "429-no-retry-after": Fault((Script(status=429),) * 3, 503, "provider_rate_limited", 3),
    "500": Fault((Script(status=500),) * 3, 502, "provider_server_error", 3),
    "502": Fault((Script(status=502),) * 3, 502, "provider_server_error", 3),
    "503-then-success": Fault((Script(status=503), Script(chunks=("back",))), 200, None, 2, "back"),
    "slow-first-token": Fault(
        (Script(chunks=("late ", "but fine"), first_byte_delay=0.4),),
        200,
        None,
        1,
        "late but fine",
    ),
    "malformed-mid-stream": Fault(
        (Script(chunks=("seen ", "lost"), malformed_after=1),),
        502,
        "provider_protocol_error",
        1,
        "seen ",
        True,
    ),
    "malformed-before-first-token": Fault(
        (Script(chunks=("a",), malformed_after=0), Script(chunks=("retried",))),
        200,
        None,
        2,
        "retried",
    ),
    # A drop is a protocol error to the SDKs (502) and a connection error to httpx (503).
    "disconnect-mid-stream": Fault(
        (Script(chunks=("kept ", "gone"), disconnect_after=1),),
        (502, 503),
        None,
        1,
        "kept ",
        True,
    ),
    "utf8-split": Fault((Script(chunks=UTF8, split_utf8=True),), 200, None, 1, "".join(UTF8)),
    "empty-stream": Fault((Script(bare=True),) * 3, 502, "empty_response", 3),
    "no-final-usage": Fault(
        (Script(chunks=("no ", "usage"), send_usage=False),), 200, None, 1, "no usage", True
    ),
    "huge-chunk": Fault((Script(chunks=("x" * 1_000_000,)),), 200, None, 1, "x" * 1_000_000),
}


async def _post(client: httpx.AsyncClient, session_id: str) -> httpx.Response:
    return await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "hi", "mode": "chat"}, timeout=60
    )


@pytest.mark.parametrize("provider", list(BASE_PATHS))
async def test_every_provider_fault_is_told_kept_and_recorded(
    client: httpx.AsyncClient, stub: StubLLMServer, session_id: str, provider: str
) -> None:
    base_url = stub.url + BASE_PATHS[provider]
    await create_stub_model(client, stub, provider=provider, base_url=base_url)
    for fault, case in FAULTS.items():  # one app for them all: each fault is one message
        stub.reset()
        stub.script(*case.scripts)
        await _check_fault(client, stub, session_id, fault, case)


async def _check_fault(
    client: httpx.AsyncClient, stub: StubLLMServer, session_id: str, fault: str, case: Fault
) -> None:
    started = time.monotonic()
    response = await _post(client, session_id)
    elapsed = time.monotonic() - started
    statuses = case.status if isinstance(case.status, tuple) else (case.status,)
    assert response.status_code in statuses, (fault, response.text[:500])
    body = response.json()
    succeeded = statuses == (200,)
    if succeeded:
        assert body["status"] == "success", fault
    else:
        assert body["status"] == "error" and body["detail"], fault
        if case.code:
            assert body["error"] == case.code, (fault, body)
    full = (await client.get(f"/messages/{body['message_id']}/full")).json()
    message, calls = full["message"], full["llm_calls"]
    assert message["status"] == ("success" if succeeded else "error"), fault
    if case.content is not None:
        assert message["content"] == case.content, fault
    assert len(stub.requests) == case.attempts, (fault, "retried only before the first token")
    assert len(calls) == case.attempts, (fault, calls)
    assert [call["attempt"] for call in calls] == list(range(1, case.attempts + 1)), fault
    *failed, last = calls
    assert all(call["status"] == "error" and call["error_code"] for call in failed), fault
    assert last["status"] == ("success" if succeeded else "error"), fault
    if not succeeded:
        assert last["error_code"] == body["error"], fault
    if case.estimated:
        assert last["usage_source"] == "estimated" and last["completion_tokens"] > 0, fault
    if fault == "429-retry-after":
        assert elapsed >= 0.1, "each Retry-After was waited for"


async def test_a_refused_connection_is_retried_then_unreachable(
    client: httpx.AsyncClient, session_id: str
) -> None:
    for provider, path in BASE_PATHS.items():
        await client.post(
            "/models",
            json={
                "name": f"gone-{provider}",
                "provider": provider,
                "model": "m",
                "base_url": f"http://127.0.0.1:{free_port()}{path}",
                "api_key": "sk-test",
                "is_default": True,
            },
        )
        response = await _post(client, session_id)
        assert response.status_code == 503, (provider, response.text)
        assert response.json()["error"] == "provider_unreachable"
        calls = (await client.get(f"/messages/{response.json()['message_id']}/full")).json()
        assert [call["status"] for call in calls["llm_calls"]] == ["error"] * 3, provider


HELLO = ChatRequest(messages=(Message("user", "hi"),))


def _model(provider: str, stub: StubLLMServer, timeout: float) -> Any:
    spec = ModelSpec(
        provider,  # type: ignore[arg-type]
        "stub-model",
        base_url=stub.url + BASE_PATHS[provider],
        api_key="sk-test",
        timeout=timeout,
        max_retries=2,
    )
    return build_chat_model(spec, RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01))


@pytest.mark.parametrize("provider", list(BASE_PATHS))
async def test_a_timeout_before_headers_is_retried_and_a_stall_mid_stream_is_not(
    provider: str, stub: StubLLMServer
) -> None:
    stub.script(*[Script(chunks=("never",), first_byte_delay=1.0)] * 3)
    with pytest.raises(ProviderError) as before:
        async for _ in _model(provider, stub, timeout=0.2).stream(HELLO):
            pass
    assert before.value.retryable and len(stub.requests) == 3
    stub.reset()
    stub.script(Script(chunks=("first ", "stalled"), chunk_delay=1.0))
    seen: list[str] = []
    with pytest.raises(ProviderError):
        async for event in _model(provider, stub, timeout=0.2).stream(HELLO):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert seen == ["first "] and len(stub.requests) == 1, "text was shown: no retry"
