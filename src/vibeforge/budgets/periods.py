"""Budget periods: when the current day, week, month (UTC) or the whole of time began."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

Period = Literal["day", "week", "month", "total"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "total")
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)  # the start of a `total` budget's one period


def period_start(period: str, moment: datetime) -> datetime:
    """The start of the period holding `moment`: UTC midnight, Monday, the 1st, or BEGINNING."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return BEGINNING
