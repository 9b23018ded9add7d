"""The factory, default-model detection, and lazy provider SDK imports."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from vibeforge.llm import ModelSpec
from vibeforge.llm.anthropic import AnthropicModel
from vibeforge.llm.factory import build_chat_model, detect_default_model
from vibeforge.llm.guard import GuardedChatModel
from vibeforge.llm.offline import OfflineModel
from vibeforge.llm.ollama import OllamaModel
from vibeforge.llm.openai_compat import OpenAICompatModel
from vibeforge.llm.retry import RetryingChatModel
from vibeforge.llm.stub import StubLLMServer


@pytest.mark.parametrize(
    ("provider", "adapter"),
    [
        ("openai", OpenAICompatModel),
        ("openrouter", OpenAICompatModel),
        ("openai-compatible", OpenAICompatModel),
        ("ollama", OllamaModel),
        ("anthropic", AnthropicModel),
    ],
)
def test_each_provider_gets_its_adapter_guarded_behind_retries(provider: str, adapter: type):
    model = build_chat_model(ModelSpec(provider, "m"))  # type: ignore[arg-type]
    assert isinstance(model, RetryingChatModel) and isinstance(model.inner, GuardedChatModel)
    assert isinstance(model.inner.inner, adapter)
    assert model.capabilities.streaming


def test_offline_is_never_wrapped():
    assert isinstance(build_chat_model(ModelSpec("offline", "offline")), OfflineModel)


def test_importing_the_layer_and_building_models_imports_no_sdk():
    code = (
        "import sys, vibeforge.llm\n"
        "from vibeforge.llm.factory import build_chat_model\n"
        "from vibeforge.llm.stub import StubLLMServer\n"
        "for p in ['openai', 'anthropic', 'ollama', 'openrouter', 'offline']:\n"
        "    build_chat_model(vibeforge.llm.ModelSpec(p, 'm'))\n"
        "print('openai' in sys.modules, 'anthropic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


async def test_explicit_default_model_wins():
    spec = await detect_default_model("ollama:llama3.2:3b", "sk-x", None)
    assert (spec.provider, spec.model) == ("ollama", "llama3.2:3b")
    assert "VIBEFORGE_DEFAULT_MODEL" in spec.note
    assert (await detect_default_model("offline", None, None)).provider == "offline"
    bare = await detect_default_model("gpt-4.1", "sk-x", None)
    assert (bare.provider, bare.model, bare.api_key) == ("openai", "gpt-4.1", "sk-x")


async def test_openai_key_comes_next():
    spec = await detect_default_model(None, "sk-x", "127.0.0.1:1")
    assert spec.provider == "openai" and spec.api_key == "sk-x" and "OPENAI_API_KEY" in spec.note


async def test_a_local_ollama_is_used_when_it_answers(stub: StubLLMServer):
    spec = await detect_default_model(None, None, f"127.0.0.1:{stub.port}")
    assert (spec.provider, spec.model) == ("ollama", "stub-model:latest")
    assert spec.base_url == stub.url


async def test_offline_when_nothing_listens_and_quickly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connection refused
        started = time.monotonic()
        spec = await detect_default_model(None, None, f"http://127.0.0.1:{port}")
    assert spec.provider == "offline" and "offline" in spec.label
    assert time.monotonic() - started < 0.6
