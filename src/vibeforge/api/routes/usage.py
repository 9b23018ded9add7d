"""Usage: tokens, cost and latency of the caller's LLM calls, and the pipeline's counters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.strict import IsoDatetime
from vibeforge.usage.report import usage_report
from vibeforge.usage.views import UsageReportOut

router = APIRouter(tags=["usage"], route_class=AuthFirstRoute)
From = Annotated[IsoDatetime | None, Query(alias="from", description="ISO 8601, inclusive")]
To = Annotated[IsoDatetime | None, Query(alias="to", description="ISO 8601, exclusive")]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@router.get("/usage")
async def get_usage(
    user: CurrentUser,
    services: ServicesDep,
    project_id: str | None = Query(default=None, max_length=36),
    start: From = None,
    end: To = None,
    group_by: Literal["model", "role", "day"] = Query(default="model"),
) -> UsageReportOut:
    """Totals and groups (by model, role or UTC day); counters of malformed edits, fix
    iterations and evaluator rejections in total and per run."""
    report = await usage_report(services.db, user, project_id, _utc(start), _utc(end), group_by)
    return UsageReportOut.model_validate(report)
