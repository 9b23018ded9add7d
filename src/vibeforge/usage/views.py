"""How the API shows usage: totals, groups and the pipeline's counters."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UsageTotals(BaseModel):
    """Tokens, cost and latency of a set of LLM calls."""

    calls: int
    failed_calls: int = Field(description="attempts that did not succeed, retried ones included")
    estimated_calls: int = Field(description="calls whose tokens vibeforge estimated")
    unpriced_calls: int = Field(
        description="calls that used tokens on a model without prices: not in cost_usd"
    )
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_usd: float | None = Field(description="null when no call was priced")
    latency_ms: float


class UsageGroup(UsageTotals):
    """The totals of one model, role or UTC day."""

    key: str


class CounterTotals(BaseModel):
    """How hard the pipeline had to work, summed over runs."""

    runs: int
    malformed_edits: int
    fix_iterations: int
    eval_rejections: int


class RunCountersOut(BaseModel):
    """One pipeline run's counters."""

    run_id: str
    project_id: str
    session_id: str
    status: str
    malformed_edits: int
    fix_iterations: int
    eval_rejections: int
    created_at: datetime


class UsageReportOut(BaseModel):
    """The caller's usage in a time range, in total and per group, and the run counters."""

    model_config = ConfigDict(populate_by_name=True)

    group_by: str
    project_id: str | None
    start: datetime | None = Field(alias="from")
    end: datetime | None = Field(alias="to")
    total: UsageTotals
    groups: list[UsageGroup]
    counters: CounterTotals
    runs: list[RunCountersOut]
