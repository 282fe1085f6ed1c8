"""Values are validated at the edge. A token count >= 2^63 crashed ``--once --json``; a
timestamp in year 1 or 9999 with an offset crashed ``--once --json``, ``--requests`` and the
session screen; a cost of -1e9 was accepted; over OTLP a double 1.5e300 got a 500 after being
counted and a negative delta drove a counter to -9.2e18. Such records are now rejected with
a counted warning, in files and over OTLP alike (partial success, the rest kept)."""

from __future__ import annotations

import http.client

import orjson
import pytest
from helpers import RecordSink, assistant, line
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from cctop.model.ledger import Ledger
from cctop.model.records import Activity
from cctop.sources.otlp import OtlpConfig, OtlpListener
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.tailer import Tailer
from faults.common import PROJECT, cctop, once_json

BAD = [
    assistant("s1", "m-huge", "r-huge", output_tokens=2**63),
    assistant("s1", "m-float", "r-float", input_tokens=1e308),
    assistant("s1", "m-neg", "r-neg", input_tokens=-5),
    assistant("s1", "m-cost", "r-cost", costUSD=-1e9),
    assistant("s1", "m-year1", "r-year1", ts="0001-01-01T00:00:00+05:00"),
    assistant("s1", "m-9999", "r-9999", ts="9999-12-31T23:59:59-05:00"),
    assistant("s1", "m-1999", "r-1999", ts="1999-12-31T23:59:59Z"),
]
GOOD = [assistant("s1", "m-ok1", "r-ok1"), assistant("s1", "m-ok2", "r-ok2", costUSD=0.5)]


@pytest.fixture
def hostile(tmp_path):
    path = tmp_path / ".claude" / "projects" / PROJECT / "s1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(line(o) for o in [GOOD[0], *BAD, GOOD[1]]))
    return tmp_path


@pytest.mark.parametrize("store", [["--no-store"], []], ids=["no-store", "store"])
def test_once_json_rejects_and_counts(hostile, store):
    for _ in range(2):  # cold, then warm
        doc = once_json(hostile, *store)
        assert doc["totals"]["requests"] == 2
        assert doc["totals"]["input_tokens"] == 20
        assert any("rejected 7 line(s)" in w for w in doc["warnings"])


@pytest.mark.parametrize(
    "args", [["--once"], ["--once", "--requests"], ["--once", "--requests", "--json"]], ids=str
)
def test_table_and_requests_do_not_crash(hostile, args):
    result = cctop(hostile, *args, "--no-store")
    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr and b"rejected 7 line(s)" in result.stderr
    if "--requests" in args:
        assert b"r-ok1" in result.stdout and b"r-huge" not in result.stdout


def test_tailer_rejects_and_counts(hostile):
    ledger = Ledger(packaged_pricebook())
    tailer = Tailer([hostile / ".claude" / "projects"], ledger.ingest, ledger.warn)
    tailer.start()
    try:
        assert tailer.wait_idle(15)
        snap = ledger.snapshot()
        assert snap.totals.all_time.requests == 2
        assert any("rejected 7 line(s)" in w for w in snap.warnings)
    finally:
        tailer.stop()


# -- over OTLP ------------------------------------------------------------------------------


@pytest.fixture
def otlp():
    sink = RecordSink()
    listener = OtlpListener(OtlpConfig(http_port=-1, grpc_port=0), sink)
    assert listener.start() == []
    yield listener, sink
    listener.stop()


def post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/x-protobuf"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def api_requests(events: list[dict]) -> bytes:
    request = ExportLogsServiceRequest()
    logs = request.resource_logs.add().scope_logs.add()
    for n, attrs in enumerate(events):
        record = logs.log_records.add()
        record.time_unix_nano = attrs.pop("_time", 1_800_000_000_000_000_000 + n)
        record.body.string_value = "claude_code.api_request"
        base = {"session.id": "s-1", "request_id": f"req_{n}", "model": "claude-sonnet-4-5"}
        for key, value in {**base, "input_tokens": 10, "output_tokens": 5, **attrs}.items():
            any_value = AnyValue(double_value=value) if isinstance(value, float) else (
                AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
            )
            record.attributes.append(KeyValue(key=key, value=any_value))
    return request.SerializeToString()


def test_otlp_logs_partial_success_keeps_the_valid_events(otlp):
    listener, sink = otlp
    body = api_requests([
        {},
        {"input_tokens": 1.5e300},
        {"cost_usd": -1e9},
        {"output_tokens": "99999999999999999999"},
        {"_time": 1},  # 1970
        {"cost_usd": 0.25},
    ])  # fmt: skip
    status, reply = post(listener.status.http_port, "/v1/logs", body)
    assert status == 200
    partial = ExportLogsServiceResponse.FromString(reply).partial_success
    assert partial.rejected_log_records == 4
    assert "out of range" in partial.error_message
    assert sorted(c.request_id for c in sink.calls()) == ["req_0", "req_5"]
    ledger = Ledger(packaged_pricebook())
    ledger.ingest(sink.records)
    assert orjson.dumps(ledger.snapshot().totals.all_time.cost_usd)  # sane, encodable


def metrics(points: list[tuple[int, float]], monotonic: bool = True) -> bytes:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "claude_code.token.usage"
    metric.sum.aggregation_temporality = 1  # DELTA
    metric.sum.is_monotonic = monotonic
    base = 1_800_000_000_000_000_000
    for n, (time, value) in enumerate(points):
        point = metric.sum.data_points.add(
            start_time_unix_nano=base + n * 10, time_unix_nano=time or base + n * 10 + 5, as_double=value
        )
        point.attributes.append(KeyValue(key="session.id", value=AnyValue(string_value="s-1")))
    return request.SerializeToString()


def test_otlp_counter_never_goes_negative(otlp):
    listener, sink = otlp
    status, reply = post(
        listener.status.http_port, "/v1/metrics",
        metrics([(0, 7.0), (0, -9.2e18), (0, float("nan")), (0, 1.5e300), (5, 3.0), (0, 2.0)]),
    )  # fmt: skip
    assert status == 200
    partial = ExportMetricsServiceResponse.FromString(reply).partial_success
    assert partial.rejected_data_points == 4 and partial.error_message
    assert [a.value for a in sink.of(Activity)] == [7.0, 2.0]
