"""Build a ChatModel from a ModelSpec, and choose the default model at start-up."""

from __future__ import annotations

import dataclasses
import logging

import httpx

from vibeforge.llm.errors import InvalidParameter
from vibeforge.llm.guard import GuardedChatModel
from vibeforge.llm.providers import OFFLINE, PROVIDER_INFO, PROVIDERS, ProviderInfo
from vibeforge.llm.retry import RetryingChatModel, RetryPolicy
from vibeforge.llm.spec import ModelSpec
from vibeforge.llm.types import Capabilities, ChatModel

logger = logging.getLogger(__name__)

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OLLAMA_HOST = "http://localhost:11434"
OLLAMA_PROBE_TIMEOUT = 0.5  # seconds; a dead host must not hold up start-up


def provider_info(provider: str) -> ProviderInfo:
    """A provider's entry in the table; an unknown one is InvalidParameter."""
    info = PROVIDER_INFO.get(provider)
    if info is None:
        raise InvalidParameter("provider", f"unknown provider {provider!r}")
    return info


def capabilities_for(spec: ModelSpec) -> Capabilities:
    """What a provider's adapter accepts, without building it."""
    return provider_info(spec.provider).capabilities()


def sdk_of(provider: str) -> str | None:
    """The provider SDK a provider's adapter imports (None: plain httpx or nothing)."""
    return provider_info(provider).adapter.sdk


async def warm_sdks(providers: set[str]) -> None:
    """Import the SDKs these providers need, ahead of their first request: an import holds
    the GIL for long stretches, so doing it mid-stream would stall every other client."""
    from vibeforge.llm._wire import import_sdk

    for sdk in sorted({name for name in map(sdk_of, providers) if name}):
        await import_sdk(sdk)


def build_chat_model(spec: ModelSpec, retry: RetryPolicy | None = None) -> ChatModel:
    """The ChatModel for a spec: the adapter, guarded (secrets redacted, empty answers refused,
    usage completed), with retries before the first token around that (none for offline).

    Cheap and synchronous: the provider SDK is imported later, in a thread, on first use.
    """
    info = provider_info(spec.provider)
    adapter = info.adapter.model_type()
    if info.adapter is OFFLINE:
        offline: ChatModel = adapter.from_spec(spec)
        return offline  # no network, no secrets, nothing to retry
    capabilities = None
    if spec.images is not None:  # the config knows better than the wire API's default
        capabilities = dataclasses.replace(adapter.default_capabilities, images=spec.images)
    model: ChatModel = GuardedChatModel(adapter(spec, capabilities), spec)
    policy = retry or RetryPolicy(max_retries=spec.max_retries)
    return RetryingChatModel(model, policy) if policy.max_retries > 0 else model


def parse_model_name(name: str, openai_api_key: str | None = None) -> ModelSpec:
    """A spec from `provider:model` (e.g. `ollama:llama3.2:3b`); a bare name means OpenAI."""
    provider, _, model = name.partition(":")
    if name.strip() == "offline":
        return ModelSpec("offline", "offline")
    if provider in PROVIDERS and model:
        key = openai_api_key if provider == "openai" else None
        return ModelSpec(provider, model, api_key=key)  # type: ignore[arg-type]
    return ModelSpec("openai", name, api_key=openai_api_key)


def normalize_ollama_host(host: str | None) -> str:
    """OLLAMA_HOST as a URL: a scheme added, 0.0.0.0 (a listen address) made 127.0.0.1."""
    if not host:
        return DEFAULT_OLLAMA_HOST
    url = host if "://" in host else f"http://{host}"
    return url.replace("://0.0.0.0", "://127.0.0.1").rstrip("/")


async def probe_ollama(host: str, wait: float = OLLAMA_PROBE_TIMEOUT) -> list[str] | None:
    """The model names an Ollama at `host` lists, or None if nothing answers there."""
    try:
        async with httpx.AsyncClient(timeout=wait) as client:
            response = await client.get(f"{host}/api/tags")
            response.raise_for_status()
            return [str(item.get("name")) for item in response.json().get("models", [])]
    except (httpx.HTTPError, ValueError, AttributeError, OSError):
        return None


async def detect_default_model(
    default_model: str | None, openai_api_key: str | None, ollama_host: str | None
) -> ModelSpec:
    """VIBEFORGE_DEFAULT_MODEL, else OpenAI with a key, else a local Ollama, else offline.

    The returned spec's `note` says why it was chosen; log it and show it on /health.
    """
    if default_model:
        spec = parse_model_name(default_model, openai_api_key)
        return _noted(spec, "set by VIBEFORGE_DEFAULT_MODEL")
    if openai_api_key:
        spec = ModelSpec("openai", DEFAULT_OPENAI_MODEL, api_key=openai_api_key)
        return _noted(spec, "OPENAI_API_KEY is set")
    host = normalize_ollama_host(ollama_host)
    models = await probe_ollama(host)
    if models:
        spec = ModelSpec("ollama", models[0], base_url=host)
        return _noted(spec, f"Ollama answered at {host}")
    reason = "Ollama has no models" if models == [] else f"no Ollama at {host}"
    return _noted(
        ModelSpec("offline", "offline"), f"no OPENAI_API_KEY, {reason}: using the offline model"
    )


def _noted(spec: ModelSpec, note: str) -> ModelSpec:
    from dataclasses import replace

    chosen = replace(spec, note=note)
    logger.info("default model: %s (%s)", chosen.label, note)
    return chosen
