"""The providers vibeforge speaks to, declared once as data: which adapter (wire API) serves
each, which SDK it imports, its public endpoint, and whether it needs a key.

Everything that lists providers (the API's schema, the factory, `capabilities_for`) reads this
table; the adapters themselves are imported only when a model of theirs is first built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, get_args

from vibeforge.llm.types import Capabilities

Provider = Literal["openai", "openrouter", "ollama", "anthropic", "openai-compatible", "offline"]


@dataclass(frozen=True, slots=True)
class Adapter:
    """A wire API: the module holding its ChatModel class and its CAPABILITIES."""

    module: str
    model_class: str
    sdk: str | None  # the provider SDK it imports on first use (None: httpx or nothing)

    def load(self) -> Any:
        """The adapter's module (imports the adapter, not its SDK)."""
        return importlib.import_module(self.module)

    def model_type(self) -> Any:
        """The adapter's ChatModel class."""
        return getattr(self.load(), self.model_class)


OPENAI_WIRE = Adapter("vibeforge.llm.openai_compat", "OpenAICompatModel", None)
OLLAMA_WIRE = Adapter("vibeforge.llm.ollama", "OllamaModel", None)
ANTHROPIC_WIRE = Adapter("vibeforge.llm.anthropic", "AnthropicModel", "anthropic")
OFFLINE = Adapter("vibeforge.llm.offline", "OfflineModel", None)


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One provider: how vibeforge reaches it."""

    name: str
    adapter: Adapter
    base_url: str | None = None  # the public endpoint; None: the config must name one
    needs_key: bool = False  # the SDK refuses to start without one

    def capabilities(self) -> Capabilities:
        """What the provider's adapter accepts."""
        capabilities: Capabilities = self.adapter.load().CAPABILITIES
        return capabilities


PROVIDER_INFO: dict[str, ProviderInfo] = {
    info.name: info
    for info in (
        ProviderInfo("openai", OPENAI_WIRE, "https://api.openai.com/v1", needs_key=True),
        ProviderInfo("openrouter", OPENAI_WIRE, "https://openrouter.ai/api/v1", needs_key=True),
        ProviderInfo("ollama", OLLAMA_WIRE, "http://localhost:11434"),
        ProviderInfo("anthropic", ANTHROPIC_WIRE, "https://api.anthropic.com"),
        ProviderInfo("openai-compatible", OPENAI_WIRE),
        ProviderInfo("offline", OFFLINE),
    )
}
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
assert set(PROVIDERS) == set(PROVIDER_INFO), "every provider is declared in the table"
