"""Provider SDKs are imported ahead of use, and TLS contexts are shared."""

from vibeforge.llm import _wire
from vibeforge.llm.factory import sdk_of, warm_sdks
from vibeforge.llm.tls import shared_ssl_context


def test_each_provider_names_the_sdk_it_needs() -> None:
    assert sdk_of("offline") is None
    assert sdk_of("ollama") is None
    assert sdk_of("anthropic") == "anthropic"
    for provider in ("openai", "openrouter", "openai-compatible"):
        assert sdk_of(provider) is None, "the chat-completions wire is spoken without an SDK"


async def test_warming_imports_only_what_is_needed() -> None:
    await warm_sdks({"offline", "ollama", "openai-compatible", "anthropic"})
    assert "anthropic" in _wire._sdk_modules
    assert "openai" not in _wire._sdk_modules


def test_one_tls_context_serves_every_client() -> None:
    context = shared_ssl_context()
    assert context is shared_ssl_context()
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert context.check_hostname
