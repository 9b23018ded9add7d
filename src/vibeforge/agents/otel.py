"""OpenTelemetry export of stored spans (needs opentelemetry-sdk and the OTLP/HTTP exporter).

Imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set; the exporter reads its endpoint and
headers from the standard OTEL_* variables. Spans are replayed as finished ReadableSpans with
vibeforge's own ids, so a trace id shown by the API is the one the collector holds.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from vibeforge.agents.traces import SpanRecord, end_time


@lru_cache(maxsize=1)
def _exporter() -> tuple[Any, Any]:
    return OTLPSpanExporter(), Resource.create({"service.name": "vibeforge"})


def _nanos(moment: Any) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def replay(trace_id: str, spans: list[SpanRecord]) -> None:
    """Send a run's spans to the collector."""
    exporter, resource = _exporter()
    trace = int(trace_id, 16) & ((1 << 128) - 1)

    def context(span_id: str) -> SpanContext:
        return SpanContext(trace, int(span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))

    finished = [
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
    exporter.export(finished)


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, (str, int, float, bool)) else str(value)
        for key, value in values.items()
        if value is not None
    }
