"""Usage: tokens, cost and latency of the caller's LLM calls, and the pipeline's counters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.strict import IsoDatetime
from vibeforge.usage.export import CALLS, call_rows, csv_text, parquet_bytes
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
    group_by: Literal["model", "role", "day", "project", "user"] = Query(default="model"),
) -> UsageReportOut:
    """Totals and groups (by model, role, UTC day, project, or user: administrators, over
    every user); counters of malformed edits, fix iterations and evaluator rejections in
    total and per run."""
    report = await usage_report(services.db, user, project_id, _utc(start), _utc(end), group_by)
    return UsageReportOut.model_validate(report)


@router.get(
    "/usage/export",
    response_model=None,
    responses={
        200: {
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
            "description": "one row per LLM call",
        }
    },
)
async def export_usage(
    user: CurrentUser,
    services: ServicesDep,
    format: Literal["csv", "parquet"] = Query(default="csv"),
    project_id: str | None = Query(default=None, max_length=36),
    start: From = None,
    end: To = None,
) -> Response:
    """The caller's LLM calls, one row each (tokens per bucket, cost, its source and price
    version), as CSV or as Parquet (needs the `duckdb` extra)."""
    rows = await call_rows(services.db, user.id, project_id, _utc(start), _utc(end))
    if format == "parquet":
        body = await parquet_bytes(rows)
        headers = {"content-disposition": 'attachment; filename="llm_calls.parquet"'}
        return Response(body, media_type="application/vnd.apache.parquet", headers=headers)
    headers = {"content-disposition": 'attachment; filename="llm_calls.csv"'}
    return Response(csv_text(CALLS, rows), media_type="text/csv", headers=headers)
