"""The model config a reference client's `provider` and model name stand for."""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue, ValidationError

from vibeforge.api.chat_schemas import ModelConfigCreate
from vibeforge.db.tables import User
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.services import Services
from vibeforge.strict import describe_errors

# Provider settings that choose the model config rather than being a run's parameters.
CONFIG_KEYS = ("model", "base_url")


async def pick_model(
    services: Services, user: User, provider: str | None, settings: dict[str, JsonValue]
) -> str | None:
    """The id of the caller's model config (a shared one too) with this provider and
    `settings["model"]`, else of a new one named `PROVIDER:MODEL` made from them (with
    `settings["base_url"]`, or OLLAMA_HOST for ollama); None for the caller's default."""
    model = settings.get("model")
    if model is None and provider is None:
        return None
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput("the model must be named")
    for config in await services.models.list(user):
        if config.model == model and provider in (None, config.provider):
            return config.id
        if provider is None and config.name == model:
            return config.id
    if provider is None:
        raise NotFound(f"no model config for model {model!r}; name its provider")
    values: dict[str, Any] = {"name": f"{provider}:{model}"[:200], "provider": provider}
    values["model"] = model
    base_url = settings.get("base_url")
    host = services.settings.ollama_host
    if base_url is None and provider == "ollama" and host:
        base_url = host if "://" in host else f"http://{host}"
    if base_url is not None:
        values["base_url"] = base_url
    try:
        body = ModelConfigCreate.model_validate(values)
    except ValidationError as error:
        raise InvalidInput(f"provider: {describe_errors(error.errors())}") from None
    return (await services.models.create(user, body.model_dump(mode="json"))).id
