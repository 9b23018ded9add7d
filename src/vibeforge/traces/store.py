"""Stored traces: a run's spans written when it ends, read back by id, exported over OTLP."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.agent_tables import Span
from vibeforge.db.batching import WriteBatches
from vibeforge.db.chat_tables import ChatSession, Run
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import utcnow
from vibeforge.errors import NotFound
from vibeforge.traces.otlp import export_otlp
from vibeforge.traces.tracer import Tracer
from vibeforge.traces.views import SpanOut, TraceOut

log = logging.getLogger("vibeforge.traces")


class TraceStore:
    """Writes and reads the spans of traces, scoped to their owner."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Traces of runs ending together are stored together, in one transaction.
        self._saves: WriteBatches[list[dict[str, Any]], None] = WriteBatches(self._write)

    async def save(self, tracer: Tracer) -> None:
        """Store every span of a trace, then hand them to the OTLP exporter if one is set."""
        await self._saves.submit(tracer.rows())
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and tracer.spans:
            # The exporter makes a blocking HTTP call: off the loop, and the run does not wait.
            asyncio.get_running_loop().run_in_executor(
                None, export_otlp, tracer.trace_id, list(tracer.spans)
            )

    async def _write(self, batch: list[list[dict[str, Any]]]) -> list[None]:
        rows = [row for rows in batch for row in rows]
        if rows:
            async with self._db.transaction(writes=True) as session:
                # Every key given, None included (render_nulls): one statement for the batch.
                await session.execute(insert(Span).execution_options(render_nulls=True), rows)
        return [None] * len(batch)

    async def load(self, owner: User, trace_id: str) -> TraceOut:
        """A trace's spans in start order; another user's trace is NotFound."""
        async with self._db.transaction() as session:
            rows = list(
                await session.scalars(
                    select(Span)
                    .where(Span.trace_id == trace_id, Span.owner_id == owner.id)
                    .order_by(Span.started_at, Span.id)
                )
            )
        if not rows:
            raise NotFound(f"no trace {trace_id!r}")
        return TraceOut(
            trace_id=trace_id,
            run_id=rows[0].run_id,
            spans=[SpanOut.model_validate(row, from_attributes=True) for row in rows],
        )


async def ensure_root_span(db: AsyncSession, row: Run) -> None:
    """A run cut off before its agent stored the trace (the process died) still has one: its
    root span, with how the run ended, so its trace id never answers 404."""
    if not row.trace_id:
        return
    stored = await db.scalar(select(Span.id).where(Span.trace_id == row.trace_id).limit(1))
    session = await db.get(ChatSession, row.session_id)
    if stored is not None or session is None:
        return
    ended = row.finished_at or utcnow()
    db.add(
        Span(
            id=secrets.token_hex(8),
            trace_id=row.trace_id,
            parent_id=None,
            owner_id=session.owner_id,
            run_id=row.id,
            name="run",
            kind="run",
            started_at=row.started_at,
            duration_ms=round((ended - row.started_at).total_seconds() * 1000, 3),
            attributes={"run_id": row.id, "status": row.status, "recovered": True},
            status=row.status,
        )
    )
