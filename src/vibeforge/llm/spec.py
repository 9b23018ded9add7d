"""ModelSpec: everything needed to build a ChatModel for one provider connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vibeforge.llm.params import Params
from vibeforge.llm.providers import PROVIDER_INFO, PROVIDERS, Provider
from vibeforge.llm.usage import Prices

__all__ = ["PROVIDERS", "ModelSpec", "Provider"]


@dataclass(frozen=True)
class ModelSpec:
    """A provider connection as the app stores it, with the API key already decrypted."""

    provider: Provider
    model: str
    base_url: str | None = None  # None: the provider's public endpoint
    api_key: str | None = None  # None: the SDK's own environment variable, if any
    default_params: Params = field(default_factory=Params)
    prices: Prices | None = None  # US dollars per million tokens
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 120.0  # seconds for connect and between bytes, not for the whole answer
    max_retries: int = 2  # attempts after the first, only before the first token
    note: str = ""  # why this model was chosen, for /health and the start-up log
    images: bool | None = None  # whether the model takes images; None: what its API accepts

    @property
    def label(self) -> str:
        """`provider:model`, the way logs and /health name a model."""
        if self.provider == "offline":
            return "offline (built-in, no LLM)"
        return f"{self.provider}:{self.model}"

    def resolved_base_url(self) -> str | None:
        """The base URL to call: the configured one, else the provider's public one."""
        return self.base_url or PROVIDER_INFO[self.provider].base_url
