"""Traces of runs: spans recorded while a run goes, stored at its end, exported over OTLP."""

from vibeforge.traces.store import TraceStore, ensure_root_span
from vibeforge.traces.tracer import SpanRecord, Tracer

__all__ = ["SpanRecord", "TraceStore", "Tracer", "ensure_root_span"]
