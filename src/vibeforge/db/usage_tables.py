"""The tables of prices and budgets: price versions of model configs, and spending caps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vibeforge.db.tables import Base
from vibeforge.db.types import UTCDateTime, new_id, utcnow


class ModelPrice(Base):
    """One version of a model config's prices, in force from `effective_from` until the next
    version's; `prices` None means the model is unpriced from then on. Calls store the id of
    the version they were charged at, so a new version never rewrites history."""

    __tablename__ = "model_prices"
    __table_args__ = (
        Index("ux_model_prices_config_version", "model_config_id", "version", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model_config_id: Mapped[str] = mapped_column(ForeignKey("model_configs.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    prices: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Budget(Base):
    """A hard cap on spending (nanodollars or tokens) over a period, for a user, a project or
    a model config. `spent` and `reserved` are of the current period (from `period_start`);
    calls reserve their worst case in one conditional UPDATE and settle to what they used."""

    __tablename__ = "budgets"
    __table_args__ = (Index("ix_budgets_scope_subject", "scope", "subject_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))  # user | project | model_config
    subject_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200), default="")
    period: Mapped[str] = mapped_column(String(8))  # day | week | month | total
    unit: Mapped[str] = mapped_column(String(8))  # usd | tokens
    cap: Mapped[int] = mapped_column(BigInteger)  # nanodollars or tokens
    thresholds: Mapped[list[float]] = mapped_column(JSON, default=list)
    warned: Mapped[int] = mapped_column(Integer, default=0)  # thresholds fired this period
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
