"""How the API shows a trace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class SpanOut(BaseModel):
    """One timed step of a run: a stage, an LLM call, a tool, a validator, an edit."""

    id: str
    parent_id: str | None
    name: str
    kind: str
    started_at: datetime
    duration_ms: float | None
    status: str
    attributes: dict[str, Any]


class TraceOut(BaseModel):
    """A run's spans, in start order, each with its parent."""

    trace_id: str
    run_id: str | None
    spans: list[SpanOut]
