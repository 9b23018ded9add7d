"""Fixtures for the LLM layer: a stub server per test, and each adapter pointed at it."""

from __future__ import annotations

from vibeforge.llm import ModelSpec, RetryPolicy
from vibeforge.llm.factory import build_chat_model
from vibeforge.llm.stub import StubLLMServer
from vibeforge.llm.types import ChatModel

FAST_RETRIES = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)


def spec_for(provider: str, stub: StubLLMServer, **changes: object) -> ModelSpec:
    """A spec whose base URL is the stub, for any wire API."""
    base_url = (
        stub.url + "/v1" if provider in ("openai", "openai-compatible", "openrouter") else stub.url
    )
    values: dict[str, object] = {"base_url": base_url, "api_key": "sk-test", "timeout": 5.0}
    values.update(changes)
    return ModelSpec(provider, "stub-model", **values)  # type: ignore[arg-type]


def model_for(provider: str, stub: StubLLMServer, retries: int = 0, **changes: object) -> ChatModel:
    """An adapter on the stub; retries=0 gives the bare adapter."""
    policy = RetryPolicy(max_retries=retries, base_delay=0.001, max_delay=0.01)
    return build_chat_model(spec_for(provider, stub, max_retries=retries, **changes), policy)
