"""OpenTelemetry export of stored spans, when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Needs the `otel` extra (opentelemetry-sdk and the OTLP/HTTP exporter), imported on first
export only; the exporter reads its endpoint and headers from the standard OTEL_* variables.
Spans are replayed as finished ReadableSpans with vibeforge's own ids, so a trace id shown by
the API is the one the collector holds.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

from vibeforge.traces.tracer import SpanRecord, end_time

log = logging.getLogger("vibeforge.traces")


def export_otlp(trace_id: str, spans: list[SpanRecord]) -> None:
    """Send a run's finished spans to the collector; never raises (a run must not fail
    because a collector is down or the extra is missing)."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or not spans:
        return
    try:
        exporter, resource = _exporter()
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-sdk is not installed")
        return
    try:
        exporter.export(_readable(trace_id, spans, resource))
    except Exception:
        log.exception("exporting trace %s failed", trace_id)


@lru_cache(maxsize=1)
def _exporter() -> tuple[Any, Any]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource

    return OTLPSpanExporter(), Resource.create({"service.name": "vibeforge"})


def _readable(trace_id: str, spans: list[SpanRecord], resource: Any) -> list[Any]:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

    trace = int(trace_id, 16) & ((1 << 128) - 1)

    def context(span_id: str) -> SpanContext:
        return SpanContext(trace, int(span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))

    return [
        ReadableSpan(
            name=record.name,
            context=context(record.id),
            parent=context(record.parent_id) if record.parent_id else None,
            resource=resource,
            attributes={"vibeforge.kind": record.kind, **_flat(record.attributes)},
            status=Status(StatusCode.OK if record.status == "ok" else StatusCode.ERROR),
            start_time=_nanos(record.started_at),
            end_time=_nanos(end_time(record)),
        )
        for record in spans
    ]


def _nanos(moment: Any) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, (str, int, float, bool)) else str(value)
        for key, value in values.items()
        if value is not None
    }
