"""Trace spans of a run: recorded in memory while it runs, stored at its end, read back by id.

Spans nest through a context variable, so a span opened inside a stage is that stage's child
without the callers passing parents around. They are written in one transaction when the run
ends (however it ends), and exported to an OpenTelemetry collector when one is configured.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from vibeforge.db.agent_tables import Span
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import utcnow
from vibeforge.errors import NotFound

log = logging.getLogger("vibeforge.traces")
_current: contextvars.ContextVar[SpanRecord | None] = contextvars.ContextVar(
    "vibeforge_span", default=None
)


@dataclass
class SpanRecord:
    """A span in progress or finished."""

    id: str
    parent_id: str | None
    name: str
    kind: str
    started_at: datetime
    started: float = field(default_factory=time.perf_counter)
    duration_ms: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"


class Tracer:
    """The spans of one trace."""

    def __init__(self, trace_id: str, owner_id: str, run_id: str | None = None) -> None:
        self.trace_id = trace_id
        self.owner_id = owner_id
        self.run_id = run_id
        self.spans: list[SpanRecord] = []

    @contextmanager
    def span(self, name: str, kind: str, **attributes: Any) -> Iterator[SpanRecord]:
        """Time a step; its status is `error` or `cancelled` if it ends by an exception."""
        parent = _current.get()
        record = SpanRecord(
            id=secrets.token_hex(8),
            parent_id=parent.id if parent else None,
            name=name,
            kind=kind,
            started_at=utcnow(),
            attributes=dict(attributes),
        )
        self.spans.append(record)
        token = _current.set(record)
        try:
            yield record
        except BaseException as failure:
            cancelled = type(failure).__name__ == "CancelledError"
            record.status = "cancelled" if cancelled else "error"
            if not cancelled:
                record.attributes.setdefault("error", str(failure)[:2000])
            raise
        finally:
            record.duration_ms = round((time.perf_counter() - record.started) * 1000, 3)
            _current.reset(token)

    def rows(self) -> list[Span]:
        """The spans as table rows."""
        return [
            Span(
                id=record.id,
                trace_id=self.trace_id,
                parent_id=record.parent_id,
                owner_id=self.owner_id,
                run_id=self.run_id,
                name=record.name,
                kind=record.kind,
                started_at=record.started_at,
                duration_ms=record.duration_ms,
                attributes=_jsonable(record.attributes),
                status=record.status,
            )
            for record in self.spans
        ]

    async def save(self, db: Database) -> None:
        """Store every span, then hand them to the OpenTelemetry exporter if one is set."""
        rows = self.rows()
        async with db.session() as session:
            session.add_all(rows)
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and self.spans:
            # The exporter makes a blocking HTTP call: off the loop, and the run does not wait.
            asyncio.get_running_loop().run_in_executor(
                None, export_otlp, self.trace_id, list(self.spans)
            )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        if isinstance(value, (str, int, float, bool, type(None), list, dict))
        else str(value)
        for key, value in values.items()
    }


def span_out(row: Span) -> dict[str, Any]:
    """A stored span as the API shows it."""
    return {
        "id": row.id,
        "parent_id": row.parent_id,
        "name": row.name,
        "kind": row.kind,
        "started_at": row.started_at.isoformat(),
        "duration_ms": row.duration_ms,
        "status": row.status,
        "attributes": row.attributes,
    }


async def load_trace(db: Database, owner: User, trace_id: str) -> dict[str, Any]:
    """A trace's spans in start order; another user's trace is NotFound."""
    async with db.session() as session:
        rows = list(
            await session.scalars(
                select(Span)
                .where(Span.trace_id == trace_id, Span.owner_id == owner.id)
                .order_by(Span.started_at, Span.id)
            )
        )
    if not rows:
        raise NotFound(f"no trace {trace_id!r}")
    return {
        "trace_id": trace_id,
        "run_id": rows[0].run_id,
        "spans": [span_out(row) for row in rows],
    }


def export_otlp(trace_id: str, spans: list[SpanRecord]) -> None:
    """Replay finished spans into OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set and
    `opentelemetry-sdk` with `opentelemetry-exporter-otlp-proto-http` is installed."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or not spans:
        return
    try:
        from vibeforge.agents.otel import replay
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-sdk is not installed")
        return
    try:
        replay(trace_id, spans)
    except Exception:  # an unreachable collector must never fail a run
        log.exception("exporting trace %s failed", trace_id)


def end_time(record: SpanRecord) -> datetime:
    """When a span ended."""
    return record.started_at + timedelta(milliseconds=record.duration_ms or 0.0)
