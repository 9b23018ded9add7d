"""Usage reports: tokens, cost and latency of LLM calls, grouped, with the pipeline's counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from vibeforge.db.agent_tables import RunStats
from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.errors import Forbidden, InvalidInput

GROUPS = ("model", "role", "day", "project", "user")
NO_PROJECT = "(none)"  # the key of calls made outside any project (/v1, judges)
TOKEN_COLUMNS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
MAX_RUNS_LISTED = 100


def _empty() -> dict[str, Any]:
    return {
        "calls": 0,
        "failed_calls": 0,  # attempts that did not succeed (retried ones included)
        "estimated_calls": 0,  # calls whose tokens vibeforge estimated (none reported)
        "unpriced_calls": 0,  # calls that used tokens but have no cost: never counted as $0
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "total_tokens": 0,
        "cost_usd": None,
        "latency_ms": 0.0,
    }


def _add(total: dict[str, Any], row: Any) -> None:
    total["calls"] += row.calls
    total["failed_calls"] += int(row.failed_calls or 0)
    total["estimated_calls"] += int(row.estimated_calls or 0)
    total["unpriced_calls"] += int(row.unpriced_calls or 0)
    for name in TOKEN_COLUMNS:
        total[name] += int(getattr(row, name) or 0)
    total["total_tokens"] = total["prompt_tokens"] + total["completion_tokens"]
    if row.cost_usd is not None:
        total["cost_usd"] = round((total["cost_usd"] or 0.0) + float(row.cost_usd), 10)
    total["latency_ms"] = round(total["latency_ms"] + float(row.latency_ms or 0.0), 3)


async def usage_report(
    db: Database,
    owner: User,
    project_id: str | None,
    start: datetime | None,
    end: datetime | None,
    group_by: str,
) -> dict[str, Any]:
    """The owner's usage in [start, end), in total and per group, and the run counters;
    grouped by user (administrators only), every user's."""
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}")
    if start and end and start >= end:
        raise InvalidInput("from must be before to")
    everyone = group_by == "user"
    if everyone and not owner.is_admin:
        raise Forbidden("only an administrator may see usage by user")
    filters = [] if everyone else [LLMCall.owner_id == owner.id]
    stat_filters = [] if everyone else [RunStats.owner_id == owner.id]
    if project_id:
        filters.append(LLMCall.project_id == project_id)
        stat_filters.append(RunStats.project_id == project_id)
    if start:
        filters.append(LLMCall.created_at >= start)
        stat_filters.append(RunStats.created_at >= start)
    if end:
        filters.append(LLMCall.created_at < end)
        stat_filters.append(RunStats.created_at < end)
    # Days are cut in Python: SQLite and PostgreSQL disagree on date functions and time zones.
    keys: dict[str, Any] = {
        "day": LLMCall.created_at,
        "user": User.email,
        "project": LLMCall.project_id,
    }
    key = keys.get(group_by, getattr(LLMCall, group_by, None))
    unpriced = LLMCall.cost_usd.is_(None) & (
        (LLMCall.prompt_tokens + LLMCall.completion_tokens) > 0
    )
    query = (
        select(
            key.label("key"),
            func.count().label("calls"),
            func.sum(case((LLMCall.status != "success", 1), else_=0)).label("failed_calls"),
            func.sum(case((LLMCall.usage_source == "estimated", 1), else_=0)).label(
                "estimated_calls"
            ),
            func.sum(case((unpriced, 1), else_=0)).label("unpriced_calls"),
            *(func.sum(getattr(LLMCall, name)).label(name) for name in TOKEN_COLUMNS),
            func.sum(LLMCall.cost_usd).label("cost_usd"),
            func.sum(LLMCall.latency_ms).label("latency_ms"),
        )
        .where(*filters)
        .group_by(key)
    )
    if everyone:
        query = query.select_from(LLMCall).join(User, User.id == LLMCall.owner_id)
    async with db.transaction() as session:
        rows = list(await session.execute(query))
        counters = (
            await session.execute(
                select(
                    func.count().label("runs"),
                    func.coalesce(func.sum(RunStats.malformed_edits), 0),
                    func.coalesce(func.sum(RunStats.fix_iterations), 0),
                    func.coalesce(func.sum(RunStats.eval_rejections), 0),
                ).where(*stat_filters)
            )
        ).one()
        runs = list(
            await session.scalars(
                select(RunStats)
                .where(*stat_filters)
                .order_by(RunStats.created_at.desc())
                .limit(MAX_RUNS_LISTED)
            )
        )
    total = _empty()
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        if group_by == "day":
            name = row.key.date().isoformat()
        else:
            name = NO_PROJECT if row.key is None else str(row.key)
        _add(groups.setdefault(name, _empty()), row)
        _add(total, row)
    return {
        "group_by": group_by,
        "project_id": project_id,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "total": total,
        "groups": [{"key": name, **values} for name, values in sorted(groups.items())],
        "counters": {
            "runs": counters[0],
            "malformed_edits": int(counters[1]),
            "fix_iterations": int(counters[2]),
            "eval_rejections": int(counters[3]),
        },
        "runs": [
            {
                "run_id": run.run_id,
                "project_id": run.project_id,
                "session_id": run.session_id,
                "status": run.status,
                "malformed_edits": run.malformed_edits,
                "fix_iterations": run.fix_iterations,
                "eval_rejections": run.eval_rejections,
                "created_at": run.created_at.isoformat(),
            }
            for run in runs
        ],
    }
