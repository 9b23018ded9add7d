"""Versioned prices: each model config's price table has versions with an effective date,
and a call is charged at the version in force when it is made."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.engine import Database
from vibeforge.db.types import new_id, utcnow
from vibeforge.db.usage_tables import ModelPrice
from vibeforge.errors import InvalidInput
from vibeforge.llm.usage import Prices

# How long a config's versions are reused; a version added through this process is seen at
# once, one added by another process within this many seconds.
CACHE_TTL_S = 5.0
# A version may not start in the past (beyond clock skew): calls already charged keep their
# price, so a backdated version would contradict them.
BACKDATE_SLACK = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """One version of a config's prices (`prices` None: unpriced from `effective_from`)."""

    id: str
    version: int
    prices: dict[str, Any] | None
    effective_from: datetime

    def as_prices(self) -> Prices | None:
        """The prices to charge at, tagged with this version's id."""
        return Prices(**self.prices, version_id=self.id) if self.prices else None


def _version(row: ModelPrice) -> PriceVersion:
    return PriceVersion(row.id, row.version, row.prices, row.effective_from)


class PriceBook:
    """Adds versions and says which one is in force."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, tuple[float, list[PriceVersion]]] = {}

    async def add(
        self,
        session: AsyncSession,
        config_id: str,
        prices: dict[str, Any] | None,
        effective_from: datetime | None = None,
    ) -> PriceVersion:
        """A new version, in the caller's transaction, in force from `effective_from` (now
        when not given; never before now)."""
        now = utcnow()
        start = effective_from or now
        if start < now - BACKDATE_SLACK:
            raise InvalidInput(
                "effective_from may not be in the past: calls already made keep the price"
                " they were charged"
            )
        last = await session.scalar(
            select(func.max(ModelPrice.version)).where(ModelPrice.model_config_id == config_id)
        )
        row = ModelPrice(
            id=new_id(),
            model_config_id=config_id,
            version=(last or 0) + 1,
            prices=prices,
            effective_from=start,
            created_at=now,
        )
        session.add(row)
        self._cache.pop(config_id, None)
        return _version(row)

    async def versions(self, config_id: str) -> list[PriceVersion]:
        """Every version of a config, oldest first."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(ModelPrice)
                .where(ModelPrice.model_config_id == config_id)
                .order_by(ModelPrice.version)
            )
            return [_version(row) for row in rows]

    async def _cached_versions(self, config_id: str) -> list[PriceVersion]:
        cached = self._cache.get(config_id)
        now = time.monotonic()
        if cached is None or cached[0] <= now:
            cached = (now + CACHE_TTL_S, await self.versions(config_id))
            self._cache[config_id] = cached
        return cached[1]

    async def next_change(self, config_id: str, after: datetime | None = None) -> datetime | None:
        """When a version not yet in force at `after` (now) takes effect, if one is set."""
        moment = after or utcnow()
        later = [v.effective_from for v in await self._cached_versions(config_id)]
        return min((start for start in later if start > moment), default=None)

    async def in_force(self, config_id: str, at: datetime | None = None) -> Prices | None:
        """The prices to charge a call made at `at` (now) with, or None (unpriced)."""
        moment = at or utcnow()
        current = None
        for version in await self._cached_versions(config_id):
            # by version number: a later version wins a tie
            if version.effective_from <= moment and (
                current is None or version.effective_from >= current.effective_from
            ):
                current = version
        return current.as_prices() if current is not None else None

    def forget(self, config_id: str) -> None:
        """Drop a config's cached versions (it changed or is gone)."""
        self._cache.pop(config_id, None)
