"""Helpers for tests that drive a real server and the stub LLM."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from vibeforge.llm.stub import StubLLMServer

STUB_KEY = "sk-stub-secret-0123456789"
# The admin token of the real server the `server` fixture starts.
TOKEN = "vf_runs-test-token-0123456789"


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a condition (the stub notifies only on requests and disconnects, not chunks)."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.005)


async def create_stub_model(
    client: httpx.AsyncClient, stub: StubLLMServer, name: str = "stub", **extra: Any
) -> dict[str, Any]:
    """A model config pointing at the stub, the caller's default."""
    body = {
        "name": name,
        "provider": "openai-compatible",
        "model": "stub-model",
        "base_url": f"{stub.url}/v1",
        "api_key": STUB_KEY,
        "is_default": True,
        **extra,
    }
    response = await client.post("/models", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def app_openai_client(app: Any, token: str) -> Any:
    """The `openai` SDK talking to an in-process app's /v1 (no retries of its own)."""
    import openai  # 1.4 s to import: only for the tests that use it

    transport = httpx.ASGITransport(app=app)
    return openai.AsyncOpenAI(
        base_url="http://vibeforge.test/v1",
        api_key=token,
        max_retries=0,
        http_client=httpx.AsyncClient(transport=transport, timeout=30),
    )
