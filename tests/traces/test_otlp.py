"""Traces reach an OpenTelemetry collector over real OTLP/HTTP when one is configured."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vibeforge.traces import otlp
from vibeforge.traces.otlp import export_otlp
from vibeforge.traces.tracer import SpanRecord


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bytes]]]:
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    otlp._exporter.cache_clear()
    _Collector.received = []
    yield _Collector.received
    server.shutdown()
    otlp._exporter.cache_clear()


def test_spans_are_exported_with_vibeforge_ids(collector: list[tuple[str, bytes]]) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    now = datetime.now(UTC)
    spans = [
        SpanRecord(
            id="b7ad6b7169203331",
            parent_id=None,
            name="run",
            kind="run",
            started_at=now,
            duration_ms=12.5,
            attributes={"model": "stub"},
        ),
        SpanRecord(
            id="00f067aa0ba902b7",
            parent_id="b7ad6b7169203331",
            name="llm.coder",
            kind="llm",
            started_at=now,
            duration_ms=10.0,
            status="error",
        ),
    ]
    export_otlp(trace_id, spans)
    assert [path for path, _ in collector] == ["/v1/traces"]
    request = ExportTraceServiceRequest()
    request.ParseFromString(collector[0][1])
    exported = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert {span.name for span in exported} == {"run", "llm.coder"}
    assert all(span.trace_id.hex() == trace_id for span in exported)
    child = next(span for span in exported if span.name == "llm.coder")
    assert child.parent_span_id.hex() == "b7ad6b7169203331"
    assert child.status.code == 2  # STATUS_CODE_ERROR
    resource = {a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "vibeforge"


def test_an_unreachable_collector_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    otlp._exporter.cache_clear()
    span = SpanRecord(
        id="b7ad6b7169203331",
        parent_id=None,
        name="run",
        kind="run",
        started_at=datetime.now(UTC),
        duration_ms=1.0,
    )
    export_otlp("0af7651916cd43dd8448eb211c80319c", [span])
    otlp._exporter.cache_clear()
