"""Storing model configs, turning them into ChatModels, and choosing the model of a request."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from vibeforge.budgets.ledger import BudgetLedger, CallScope
from vibeforge.budgets.metered import BudgetedModel
from vibeforge.caching import SharedLookups
from vibeforge.crypto import SecretBox
from vibeforge.db.chat_tables import ModelConfig
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import new_id, utcnow
from vibeforge.edits.model import FORMATS
from vibeforge.errors import Conflict, Forbidden, InvalidInput, NotFound
from vibeforge.llm import (
    ChatModel,
    ChatRequest,
    Message,
    ModelSpec,
    Params,
    Prices,
    ProviderError,
    collect,
    validate_params,
)
from vibeforge.llm.factory import build_chat_model, capabilities_for
from vibeforge.llm.providers import PROVIDER_INFO
from vibeforge.usage.prices import PriceBook, PriceVersion

# How long a user's resolved model (default or named) is reused. A change made through this
# service drops it at once; a change made by another process is seen within this many seconds.
DEFAULT_CACHE_TTL_S = 5.0
_EDITABLE = (
    "name",
    "provider",
    "model",
    "base_url",
    "params",
    "prices",
    "edit_format",
    "shared",
    "accepts_images",
)
OFFLINE_NAME = "offline"  # the built-in model, selectable by this name without any config


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """The model a request will use: its spec, a ready ChatModel, and its config (if stored)."""

    spec: ModelSpec
    chat: ChatModel
    config_id: str | None
    edit_format: str = "search-replace"
    # When (on the monotonic clock) a price version set for later takes effect: a cached
    # resolution is not used past it.
    prices_until: float | None = None

    @property
    def label(self) -> str:
        """How the model is named in messages, usage and logs."""
        return self.spec.label


def _prices_until(resolved: ResolvedModel) -> float | None:
    return resolved.prices_until


def _visible_to(owner: User) -> Any:
    """The configs a user may use: their own, and the administrators' shared ones."""
    return or_(ModelConfig.owner_id == owner.id, ModelConfig.shared.is_(True))


class ModelConfigService:
    """CRUD for model configs (scoped to their owner) and the choice of model for a run."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self.prices = PriceBook(db)
        self.budgets: BudgetLedger | None = None  # set by Services: calls are then budgeted
        self.default_spec = ModelSpec("offline", "offline", note="not detected yet")
        self._default_chat = build_chat_model(self.default_spec)
        offline = ModelSpec("offline", OFFLINE_NAME, note="the built-in offline model")
        self._offline = ResolvedModel(offline, build_chat_model(offline), None)
        self._models: dict[tuple[str, str], ChatModel] = {}
        # Every run asks which model it uses (its session's config, else the owner's default)
        # and the answer changes only when a config does: kept a few seconds, and the misses
        # of a burst of run starts share one lookup.
        self._defaults: SharedLookups[str, ResolvedModel] = SharedLookups(DEFAULT_CACHE_TTL_S)
        self._named: SharedLookups[tuple[str, str], ResolvedModel] = SharedLookups(
            DEFAULT_CACHE_TTL_S
        )

    def set_default(self, spec: ModelSpec) -> None:
        """Use `spec` when neither the request, the session nor the user names a model."""
        self.default_spec = spec
        self._default_chat = build_chat_model(spec)
        self._changed(None)

    def _changed(self, owner: User | None) -> None:
        """Forget cached defaults (one owner's, or all) and every cached named config (a shared
        one is named by other users too); lookups in flight will not keep theirs."""
        self._defaults.forget(owner.id if owner is not None else None)
        self._named.forget()

    def _check(self, owner: User, values: dict[str, Any]) -> Params:
        if values["edit_format"] not in FORMATS:
            raise InvalidInput(f"edit_format must be one of {', '.join(FORMATS)}")
        info = PROVIDER_INFO[values["provider"]]
        if info.base_url is None and values["provider"] != "offline" and not values["base_url"]:
            # The SDK would fall back to a public endpoint: a key meant for a local server
            # would be sent there.
            raise InvalidInput(f"a {info.name} config needs base_url (the server to talk to)")
        if values.get("shared") and not owner.is_admin:
            raise Forbidden("only an administrator may share a model config with every user")
        spec = ModelSpec(provider=values["provider"], model=values["model"])
        return validate_params(capabilities_for(spec), values.get("params") or {})

    async def create(self, owner: User, values: dict[str, Any]) -> ModelConfig:
        """Store a new config; the API key is encrypted before it reaches the database."""
        values.setdefault("edit_format", "search-replace")
        values.setdefault("base_url", None)
        params = self._check(owner, values)
        api_key = values.get("api_key")
        now = utcnow()
        row = ModelConfig(
            id=new_id(),
            owner_id=owner.id,
            name=values["name"],
            provider=values["provider"],
            model=values["model"],
            base_url=values.get("base_url"),
            api_key_encrypted=self._box.encrypt(api_key) if api_key else None,
            params=params.model_dump(exclude_none=True, exclude_defaults=True),
            prices=values.get("prices"),
            edit_format=values["edit_format"],
            accepts_images=values.get("accepts_images"),
            is_default=bool(values.get("is_default")),
            shared=bool(values.get("shared")),
            created_at=now,
            updated_at=now,
        )
        async with self._db.transaction() as session:
            await self._ensure_unique_name(session, owner, row.name, None)
            if row.is_default:
                await self._clear_default(session, owner)
            session.add(row)
            if row.prices:
                await session.flush()  # the version refers to the config
                await self.prices.add(session, row.id, row.prices, now)
        self._changed(None if row.shared else owner)
        return row

    async def _ensure_unique_name(
        self, session: Any, owner: User, name: str, except_id: str | None
    ) -> None:
        query = select(ModelConfig.id).where(
            ModelConfig.owner_id == owner.id, ModelConfig.name == name
        )
        found = await session.scalar(query)
        if found and found != except_id:
            raise Conflict(f"a model config named {name!r} exists")

    async def _clear_default(self, session: Any, owner: User) -> None:
        await session.execute(
            update(ModelConfig).where(ModelConfig.owner_id == owner.id).values(is_default=False)
        )

    async def list(self, owner: User) -> list[ModelConfig]:
        """The configs the user may use (their own first), by name."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(ModelConfig)
                .where(_visible_to(owner))
                .order_by((ModelConfig.owner_id == owner.id).desc(), ModelConfig.name)
            )
            return list(rows)

    async def get(self, owner: User, ref: str) -> ModelConfig:
        """A config the user may use, by id or by name (their own before a shared one)."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(ModelConfig)
                .where(_visible_to(owner))
                .where(or_(ModelConfig.id == ref, ModelConfig.name == ref))
                .order_by(
                    (ModelConfig.id == ref).desc(),
                    (ModelConfig.owner_id == owner.id).desc(),
                    ModelConfig.created_at,
                )
                .limit(1)
            )
        if row is None:
            raise NotFound(f"no model config {ref!r}")
        return row

    async def _owned(self, session: Any, owner: User, config_id: str) -> ModelConfig:
        """A config the user may change: their own (another's shared one is Forbidden)."""
        row = await session.scalar(
            select(ModelConfig).where(ModelConfig.id == config_id, _visible_to(owner))
        )
        if row is None:
            raise NotFound(f"no model config {config_id!r}")
        if row.owner_id != owner.id:
            raise Forbidden(
                "this model config is shared by an administrator; only they may change it"
            )
        return row

    async def update(self, owner: User, config_id: str, changes: dict[str, Any]) -> ModelConfig:
        """Change some fields; `api_key: None` removes the stored key."""
        async with self._db.transaction() as session:
            row = await self._owned(session, owner, config_id)
            was_shared = row.shared
            merged = {name: getattr(row, name) for name in _EDITABLE}
            merged.update({k: v for k, v in changes.items() if k in _EDITABLE})
            params = self._check(owner, merged)
            if "name" in changes:
                await self._ensure_unique_name(session, owner, changes["name"], row.id)
            for name in _EDITABLE:
                if name in changes:
                    setattr(row, name, changes[name])
            row.params = params.model_dump(exclude_none=True, exclude_defaults=True)
            if "prices" in changes:
                await self.prices.add(session, row.id, changes["prices"])
            if "api_key" in changes:
                key = changes["api_key"]
                row.api_key_encrypted = self._box.encrypt(key) if key else None
            if changes.get("is_default") is not None:
                if changes["is_default"]:
                    await self._clear_default(session, owner)
                row.is_default = bool(changes["is_default"])
            row.updated_at = utcnow()
        self._changed(None if was_shared or row.shared else owner)
        return row

    async def add_prices(
        self,
        owner: User,
        config_id: str,
        prices: dict[str, Any],
        effective_from: datetime | None,
    ) -> PriceVersion:
        """A new price version of the owner's config (the config shows the latest prices)."""
        async with self._db.transaction() as session:
            row = await self._owned(session, owner, config_id)
            version = await self.prices.add(session, row.id, prices, effective_from)
            row.prices = prices
            row.updated_at = utcnow()
        self._changed(None if row.shared else owner)
        return version

    async def price_versions(self, owner: User, ref: str) -> list[PriceVersion]:
        """Every price version of a config the user may use, oldest first."""
        return await self.prices.versions((await self.get(owner, ref)).id)

    async def delete(self, owner: User, config_id: str) -> None:
        """Remove a config."""
        async with self._db.transaction() as session:
            row = await self._owned(session, owner, config_id)
            shared = row.shared
            await session.delete(row)
        self._changed(None if shared else owner)

    async def providers_in_use(self) -> set[str]:
        """Every provider of a stored config, and the default model's."""
        async with self._db.transaction() as session:
            stored = set(await session.scalars(select(ModelConfig.provider).distinct()))
        return stored | {self.default_spec.provider}

    async def _resolved(self, row: ModelConfig) -> ResolvedModel:
        """A stored config ready to call, with the prices in force now."""
        prices = await self.prices.in_force(row.id)
        change = await self.prices.next_change(row.id)
        until = None
        if change is not None:
            until = time.monotonic() + (change - utcnow()).total_seconds()
        spec = self.spec(row, prices)
        chat = self._chat_model(row, spec)
        return ResolvedModel(spec, chat, row.id, row.edit_format, prices_until=until)

    def spec(self, row: ModelConfig, prices: Prices | None) -> ModelSpec:
        """The spec of a stored config, with its key decrypted (never leaves the server)."""
        return ModelSpec(
            provider=row.provider,  # type: ignore[arg-type]
            model=row.model,
            base_url=row.base_url,
            api_key=self._box.decrypt(row.api_key_encrypted) if row.api_key_encrypted else None,
            default_params=Params.model_validate(row.params or {}),
            prices=prices,
            images=row.accepts_images,
        )

    def _chat_model(self, row: ModelConfig, spec: ModelSpec) -> ChatModel:
        version = spec.prices.version_id if spec.prices else None
        key = (row.id, f"{row.updated_at.isoformat()} {version}")
        model = self._models.get(key)
        if model is None:
            # One ChatModel per config and price version, so its connection pool is reused.
            self._models = {k: v for k, v in self._models.items() if k[0] != row.id}
            model = self._models[key] = build_chat_model(spec)
        return model

    async def resolve(
        self, owner: User, *refs: str | None, project_id: str | None = None
    ) -> ResolvedModel:
        """The model a call of the owner (in `project_id`, if any) uses, under the budgets
        of the owner, the project and the model config (see `_resolve`)."""
        resolved = await self._resolve(owner, *refs)
        if self.budgets is None:
            return resolved
        scope = CallScope(owner.id, project_id, resolved.config_id)
        # The built-in offline model costs nothing; any other model without prices is
        # unpriced, and a dollar budget refuses it rather than count it as free.
        prices = Prices() if resolved.spec.provider == "offline" else resolved.spec.prices
        metered = BudgetedModel(resolved.chat, self.budgets, scope, prices)
        return replace(resolved, chat=metered)

    async def _resolve(self, owner: User, *refs: str | None) -> ResolvedModel:
        """The first of `refs` that is set (a config id or name; `offline` is the built-in
        model unless a config has that name), else the owner's default config, else a shared
        config that its administrator made their default, else the server's default model."""
        named = next((ref for ref in refs if ref), None)
        if named is not None:
            return await self._named.get(
                (owner.id, named), lambda: self._look_up(owner, named), until=_prices_until
            )
        return await self._defaults.get(
            owner.id, lambda: self._look_up_default(owner), until=_prices_until
        )

    async def _look_up(self, owner: User, ref: str) -> ResolvedModel:
        try:
            row = await self.get(owner, ref)
        except NotFound:
            if ref.strip().casefold() == OFFLINE_NAME:
                return self._offline
            raise
        return await self._resolved(row)

    async def _look_up_default(self, owner: User) -> ResolvedModel:
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(ModelConfig)
                .where(_visible_to(owner), ModelConfig.is_default.is_(True))
                .order_by((ModelConfig.owner_id == owner.id).desc(), ModelConfig.created_at)
                .limit(1)
            )
        if row is not None:
            return await self._resolved(row)
        return ResolvedModel(self.default_spec, self._default_chat, None)

    async def test(self, owner: User, config_id: str) -> dict[str, Any]:
        """Make a one-token request; report its latency or the provider's error."""
        resolved = await self._resolved(await self.get(owner, config_id))
        request = ChatRequest(
            messages=(Message(role="user", content="Say OK."),), params=Params(max_tokens=1)
        )
        started = time.perf_counter()
        try:
            await collect(resolved.chat, request)
        except ProviderError as error:
            return {
                "ok": False,
                "error": error.code,
                "detail": error.detail,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        return {
            "ok": True,
            "model": resolved.label,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }
