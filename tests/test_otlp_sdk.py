"""The OpenTelemetry SDK's own OTLP exporters (gRPC and HTTP/protobuf) as clients:
Claude-Code-shaped events and counters in, session figures out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import RecordSink
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from cctop.model.records import Activity, ApiCall, SessionMeta
from cctop.sources.otlp import OtlpConfig, OtlpListener

TOKEN = "sdk-t0ken"
RESOURCE = Resource.create({"service.name": "claude-code", "service.version": "2.1.250"})
CALLS = [  # (session, request id, input, output, cache read, cache creation, cost)
    ("sess-a", "req_a1", 12, 340, 1000, 2000, 0.0123),
    ("sess-a", "req_a2", 7, 120, 3000, 0, 0.0045),
    ("sess-b", "req_b1", 30, 99, 0, 5000, 0.0301),
]


Sink = RecordSink

@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def listener(sink: Sink) -> Iterator[OtlpListener]:
    otlp = OtlpListener(OtlpConfig(http_port=-1, grpc_port=-1, token=TOKEN), sink)
    assert otlp.start() == []
    yield otlp
    otlp.stop()


def _exporters(
    transport: str, listener: OtlpListener, temporality: AggregationTemporality
) -> tuple[Any, Any]:
    preferred = {Counter: temporality}
    if transport == "grpc":
        endpoint = f"127.0.0.1:{listener.status.grpc_port}"
        headers = (("authorization", f"Bearer {TOKEN}"),)
        return (
            GrpcLogExporter(endpoint=endpoint, insecure=True, headers=headers, timeout=5),
            GrpcMetricExporter(
                endpoint=endpoint, insecure=True, headers=headers, timeout=5, preferred_temporality=preferred
            ),
        )
    base = f"http://127.0.0.1:{listener.status.http_port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return (
        HttpLogExporter(
            endpoint=f"{base}/v1/logs", headers=headers, timeout=5, compression=HttpCompression.Gzip
        ),
        HttpMetricExporter(
            endpoint=f"{base}/v1/metrics", headers=headers, timeout=5, preferred_temporality=preferred
        ),
    )


def _emit_api_requests(log_exporter: Any) -> None:
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    logger = provider.get_logger("com.anthropic.claude_code.events")
    for sequence, (session, request_id, inp, out, read, create, cost) in enumerate(CALLS):
        logger.emit(
            body="claude_code.api_request",
            event_name="api_request",
            attributes={
                "session.id": session,
                "event.name": "api_request",
                "event.sequence": sequence,
                "model": "claude-opus-4-8[1m]",
                "request_id": request_id,
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_tokens": read,
                "cache_creation_tokens": create,
                "cost_usd": cost,
                "duration_ms": 800,
            },
        )
    assert provider.force_flush(10_000)
    provider.shutdown()


def _meter(metric_exporter: Any) -> tuple[MeterProvider, Any, Any]:
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    meter = provider.get_meter("com.anthropic.claude_code")
    return (
        provider,
        meter.create_counter("claude_code.token.usage"),
        meter.create_counter("claude_code.cost.usage"),
    )


def _metric_total(sink: Sink, name: str, session: str) -> float:
    return sum(a.value for a in sink.of(Activity) if a.name == name and a.session_id == session)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_events_and_delta_counters(transport: str, listener: OtlpListener, sink: Sink) -> None:
    log_exporter, metric_exporter = _exporters(transport, listener, AggregationTemporality.DELTA)
    _emit_api_requests(log_exporter)

    provider, tokens, cost = _meter(metric_exporter)
    for session, _, inp, out, _, _, usd in CALLS:
        tokens.add(inp, {"session.id": session, "type": "input", "model": "claude-opus-4-8[1m]"})
        tokens.add(out, {"session.id": session, "type": "output", "model": "claude-opus-4-8[1m]"})
        cost.add(usd, {"session.id": session, "model": "claude-opus-4-8[1m]"})
    assert provider.force_flush(10_000)
    tokens.add(1000, {"session.id": "sess-a", "type": "input", "model": "claude-opus-4-8[1m]"})
    assert provider.force_flush(10_000)  # a second delta interval adds to the first
    provider.shutdown()

    calls = sink.of(ApiCall)
    assert sorted(c.request_id for c in calls) == sorted(c[1] for c in CALLS)
    for session in ("sess-a", "sess-b"):
        mine = [c for c in calls if c.session_id == session]
        expected = [c for c in CALLS if c[0] == session]
        assert sum(c.input_tokens for c in mine) == sum(e[2] for e in expected)
        assert sum(c.output_tokens for c in mine) == sum(e[3] for e in expected)
        assert sum(c.cache_read_tokens for c in mine) == sum(e[4] for e in expected)
        assert sum(c.cache_creation_tokens for c in mine) == sum(e[5] for e in expected)
        assert sum(c.reported_cost_usd for c in mine) == pytest.approx(sum(e[6] for e in expected))
        assert _metric_total(sink, "claude_code.cost.usage", session) == pytest.approx(
            sum(e[6] for e in expected)
        )
        assert _metric_total(sink, "claude_code.token.usage:output", session) == sum(e[3] for e in expected)
    assert _metric_total(sink, "claude_code.token.usage:input", "sess-a") == 12 + 7 + 1000
    assert {m.version for m in sink.of(SessionMeta)} == {"2.1.250"}
    assert listener.status.errors == 0


def test_sdk_cumulative_counters_are_turned_into_increments(listener: OtlpListener, sink: Sink) -> None:
    _, metric_exporter = _exporters("http", listener, AggregationTemporality.CUMULATIVE)
    provider, tokens, _ = _meter(metric_exporter)
    attrs = {"session.id": "sess-c", "type": "output"}
    for amount in (100, 50, 0, 25):  # the third interval re-reports an unchanged total
        if amount:
            tokens.add(amount, attrs)
        assert provider.force_flush(10_000)
    provider.shutdown()
    points = [a.value for a in sink.of(Activity) if a.name == "claude_code.token.usage:output"]
    assert points == [100, 50, 25]


def test_sdk_without_token_is_refused(listener: OtlpListener, sink: Sink) -> None:
    exporter = HttpLogExporter(endpoint=f"http://127.0.0.1:{listener.status.http_port}/v1/logs", timeout=5)
    _emit_api_requests(exporter)
    assert sink.of(ApiCall) == []
    assert "401" in (listener.status.last_error or "")
