"""Trace spans of a run, recorded in memory while it runs (`traces.store` keeps them).

Spans nest through a context variable, so a span opened inside a stage is that stage's child
without the callers passing parents around.
"""

from __future__ import annotations

import contextvars
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vibeforge.db.types import utcnow

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

    def rows(self) -> list[dict[str, Any]]:
        """The spans as values of table rows, every column given (a bulk INSERT: building and
        flushing ORM objects cost three times the loop's CPU, 32 against 10 µs a span, and a
        storm of cancelled runs stores a thousand spans at once)."""
        return [
            {
                "id": record.id,
                "trace_id": self.trace_id,
                "parent_id": record.parent_id,
                "owner_id": self.owner_id,
                "run_id": self.run_id,
                "name": record.name,
                "kind": record.kind,
                "started_at": record.started_at,
                "duration_ms": record.duration_ms,
                "attributes": _jsonable(record.attributes),
                "status": record.status,
            }
            for record in self.spans
        ]


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        if isinstance(value, (str, int, float, bool, type(None), list, dict))
        else str(value)
        for key, value in values.items()
    }


def end_time(record: SpanRecord) -> datetime:
    """When a span ended."""
    return record.started_at + timedelta(milliseconds=record.duration_ms or 0.0)
