"""Model configs: the provider connections of the caller."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from vibeforge.api.chat_schemas import (
    ModelConfigCreate,
    ModelConfigOut,
    ModelConfigUpdate,
    PriceVersionIn,
    PriceVersionOut,
)
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut
from vibeforge.db.chat_tables import ModelConfig
from vibeforge.db.tables import User

router = APIRouter(tags=["models"], route_class=AuthFirstRoute)


def model_config_out(row: ModelConfig, viewer: User) -> ModelConfigOut:
    """A model config as `viewer` sees it: another user's shared config without its URL
    (which may name a private host or carry credentials), and never with a key."""
    owned = row.owner_id == viewer.id
    return ModelConfigOut(
        id=row.id,
        name=row.name,
        provider=row.provider,
        model=row.model,
        base_url=row.base_url if owned else None,
        has_api_key=row.api_key_encrypted is not None,
        params=row.params or {},
        prices=row.prices,
        edit_format=row.edit_format,
        accepts_images=row.accepts_images,
        is_default=row.is_default and owned,
        shared=row.shared,
        owned=owned,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post("/models", status_code=status.HTTP_201_CREATED)
async def create_model(
    body: ModelConfigCreate, user: CurrentUser, services: ServicesDep
) -> ModelConfigOut:
    """Store a provider connection; its API key is encrypted and never returned."""
    return model_config_out(await services.models.create(user, body.model_dump(mode="json")), user)


@router.get("/models")
async def list_models(user: CurrentUser, services: ServicesDep) -> PageOut[ModelConfigOut]:
    """The model configs the caller may use: their own, then those shared by an admin."""
    rows = await services.models.list(user)
    return PageOut(items=[model_config_out(row, user) for row in rows])


@router.get("/models/{config_id}")
async def get_model(config_id: str, user: CurrentUser, services: ServicesDep) -> ModelConfigOut:
    """One model config, by id or name."""
    return model_config_out(await services.models.get(user, config_id), user)


@router.patch("/models/{config_id}")
async def update_model(
    config_id: str, body: ModelConfigUpdate, user: CurrentUser, services: ServicesDep
) -> ModelConfigOut:
    """Change some fields of a model config."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    return model_config_out(await services.models.update(user, config_id, changes), user)


@router.delete("/models/{config_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_model(config_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Remove a model config."""
    await services.models.delete(user, config_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/models/{config_id}/test")
async def test_model(config_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Make a one-token request and report its latency, or the provider's error."""
    return await services.models.test(user, config_id)


@router.get("/models/{config_id}/prices")
async def list_prices(
    config_id: str, user: CurrentUser, services: ServicesDep
) -> PageOut[PriceVersionOut]:
    """Every version of a model config's prices, oldest first."""
    versions = await services.models.price_versions(user, config_id)
    return PageOut(
        items=[PriceVersionOut.model_validate(v, from_attributes=True) for v in versions]
    )


@router.post("/models/{config_id}/prices", status_code=status.HTTP_201_CREATED)
async def add_prices(
    config_id: str, body: PriceVersionIn, user: CurrentUser, services: ServicesDep
) -> PriceVersionOut:
    """A new version of the prices, in force from `effective_from` (now); calls already made
    keep the version they were charged at."""
    prices = body.model_dump(mode="json", exclude={"effective_from"})
    version = await services.models.add_prices(user, config_id, prices, body.effective_from)
    return PriceVersionOut.model_validate(version, from_attributes=True)
