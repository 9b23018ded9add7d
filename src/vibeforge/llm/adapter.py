"""What every wire-API adapter shares: its spec, its capabilities, its lazily built client,
and the parameters of a request (the config's defaults under the request's own)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

from vibeforge.llm._wire import LazyClient
from vibeforge.llm.errors import HTTPX_ERRORS, ErrorTable
from vibeforge.llm.params import Params, merge_params, validate_params
from vibeforge.llm.spec import ModelSpec
from vibeforge.llm.types import Capabilities, ChatRequest

C = TypeVar("C")
# Says what a call is for (coder, fixer, evaluator, ...): metadata for proxies and logs, and
# how the stub LLM server tells the pipeline's calls apart without reading their wording.
PURPOSE_HEADER = "X-Vibeforge-Purpose"


def purpose_headers(request: ChatRequest) -> dict[str, str]:
    """The per-request headers that say what the call is for."""
    return {PURPOSE_HEADER: request.purpose} if request.purpose else {}


class ProviderAdapter(ABC, Generic[C]):
    """Base of the adapters; subclasses name their SDK and build their client."""

    sdk: ClassVar[str | None] = None
    default_capabilities: ClassVar[Capabilities]

    def __init__(self, spec: ModelSpec, capabilities: Capabilities | None = None) -> None:
        self.spec = spec
        self.capabilities = capabilities or self.default_capabilities
        # Replaced by the SDK's own table when the client is built (after the SDK's import).
        self.errors: ErrorTable = HTTPX_ERRORS
        self._client: LazyClient[C] = LazyClient(self.sdk, self._build)

    async def client(self) -> C:
        """The HTTP or SDK client, built once, off the event loop."""
        return await self._client.get()

    @abstractmethod
    def _build(self, sdk: Any) -> C:
        """Make the client (runs in a thread; `sdk` is the imported SDK module, if any)."""

    def params_for(self, request: ChatRequest) -> Params:
        """The request's parameters over the config's defaults, checked against what the
        model accepts."""
        return validate_params(
            self.capabilities, merge_params(self.spec.default_params, request.params)
        )
