"""How the API takes and shows budgets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from vibeforge.strict import Strict, omittable

Scope = Literal["user", "project", "model_config"]
PeriodName = Literal["day", "week", "month", "total"]
Unit = Literal["usd", "tokens"]
MAX_CAP = 1_000_000_000  # dollars or tokens: past this, a cap is no cap
# The rules the validators below check, stated in the schema too.
Fraction = Annotated[float, Field(gt=0, lt=1)]
WEBHOOK_URL = {"pattern": r"^https?://[^\u0000]*$"}


def _check_thresholds(value: list[float] | None) -> list[float] | None:
    if value is None:
        return None
    if len(value) > 10 or any(not 0 < level < 1 for level in value):
        raise ValueError("thresholds are up to 10 fractions of the cap, each between 0 and 1")
    return sorted(set(value))


def _check_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("webhook_url must be an http:// or https:// URL")
    return value


class BudgetCreate(Strict):
    """A hard cap for a user, a project or a model config over a period."""

    scope: Scope
    subject_id: str = Field(min_length=1, max_length=36, description="the user, project or config")
    period: PeriodName
    unit: Unit = Field(description="usd: `cap` in dollars; tokens: prompt plus completion")
    cap: float = Field(gt=0, le=MAX_CAP)
    thresholds: list[Fraction] = Field(
        default_factory=lambda: [0.8, 0.95],
        description="soft thresholds, fractions of cap",
        max_length=10,
    )
    name: str = Field(default="", max_length=200)
    webhook_url: str | None = Field(default=None, max_length=2000, json_schema_extra=WEBHOOK_URL)
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=200)

    _thresholds = field_validator("thresholds")(_check_thresholds)
    _url = field_validator("webhook_url")(_check_url)


class BudgetUpdate(Strict):
    """Fields to change; `null` clears the webhook."""

    cap: float = omittable(gt=0, le=MAX_CAP)
    thresholds: list[Fraction] = omittable(max_length=10)
    name: str = omittable(max_length=200)
    webhook_url: str | None = Field(default=None, max_length=2000, json_schema_extra=WEBHOOK_URL)
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=200)

    _thresholds = field_validator("thresholds")(_check_thresholds)
    _url = field_validator("webhook_url")(_check_url)


class BudgetOut(BaseModel):
    """A budget and where its current period stands (`cap`, `spent`, `reserved` in dollars
    for `usd`, in tokens for `tokens`); never the webhook secret."""

    id: str
    name: str
    scope: str
    subject_id: str
    owner_id: str
    period: str
    unit: str
    cap: float
    spent: float
    reserved: float = Field(description="held by calls under way")
    remaining: float
    thresholds: list[float]
    period_start: datetime
    webhook_url: str | None
    has_webhook_secret: bool
    created_at: datetime
    updated_at: datetime
