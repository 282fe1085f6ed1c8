"""Time to first token from Claude Code's ``llm_request`` trace spans: it lands on the call
with the same request id whatever arrives first, and never changes tokens or cost."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import demo
import orjson
import pytest
from helpers import REAL_CC, RecordSink, assistant, write_session
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from cctop.model.ledger import MAX_PENDING_TIMINGS, Ledger
from cctop.model.records import Activity, ApiCall, CallTiming, Source
from cctop.report import sessions as report
from cctop.sources.otlp import OtlpConfig, OtlpListener
from cctop.sources.otlp.codec import SIGNALS, parse_json
from cctop.sources.otlp.decode import OtlpDecoder, decode_traces
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_all
from cctop.store import record_codec
from cctop.store.stats_codec import stats_from_json, stats_to_json
from cctop.store.telemetry import OtlpArchive
from cctop.ui.app import CctopApp
from cctop.ui.screens.session import SessionScreen

CAPTURE = REAL_CC / "otlp-http-json-capture.jsonl"
TRACED = "e59a59f8-31f3-403d-b973-b161a7430aad"  # the sample session the capture belongs to
T0 = 1_800_000_000.0


def _ledger() -> Ledger:
    return Ledger(packaged_pricebook())


# -- the sample run: transcripts, api_request events and spans of the same five calls --------


def _transcript_records() -> list:
    records: list = []
    files = list(find_transcripts(REAL_CC / "projects", lambda message: None))
    read_all(files, lambda message: None, records.extend)
    return records


def _capture_records(kind: str) -> list:
    decoder = OtlpDecoder()
    records: list = []
    for text in CAPTURE.read_text().splitlines():
        line = json.loads(text)
        if line["kind"] == kind:
            request = parse_json(SIGNALS[kind], orjson.dumps(line["body"]))
            records += decoder.decode(kind, request).records
    return records


def _span_ttfts() -> dict[str, float]:
    """request id -> ttft_ms, read straight from the capture's JSON (not through cctop)."""
    found: dict[str, float] = {}
    for text in CAPTURE.read_text().splitlines():
        line = json.loads(text)
        if line["kind"] != "traces":
            continue
        for resource in line["body"]["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
                    if span["name"] == "claude_code.llm_request":
                        found[attrs["request_id"]] = float(attrs["ttft_ms"])
    return found


@pytest.fixture(scope="module")
def groups() -> dict[str, list]:
    return {
        "transcript": _transcript_records(),
        "logs": _capture_records("logs"),
        "traces": _capture_records("traces"),
    }


def _figures(ledger: Ledger) -> tuple:
    """Everything spans must not change: per-call tokens and costs, and the session's totals."""
    detail = ledger.session_detail(TRACED, now=T0)
    assert detail is not None
    calls = sorted(
        (
            p.call.request_id,
            p.call.input_tokens,
            p.call.output_tokens,
            p.call.cache_read_tokens,
            p.call.cache_creation_tokens,
            p.cost_usd,
            p.reported_cost_usd,
        )
        for p in detail.calls
    )
    stats = detail.stats
    return calls, stats.tokens, stats.reported_cost_usd


def _ttfts(ledger: Ledger) -> dict[str | None, float | None]:
    detail = ledger.session_detail(TRACED, now=T0)
    assert detail is not None
    return {p.call.request_id: p.call.ttft_ms for p in detail.calls}


def _durations(ledger: Ledger) -> dict[str | None, float | None]:
    return {p.call.request_id: p.call.duration_ms for p in ledger.session_detail(TRACED, T0).calls}


@pytest.mark.parametrize("order", list(itertools.permutations(["transcript", "logs", "traces"])))
def test_span_ttft_lands_on_the_transcript_call_in_every_arrival_order(groups, order) -> None:
    expected = _span_ttfts()
    assert len(expected) == 5 and len(set(expected.values())) > 1
    baseline = _ledger()
    baseline.ingest(groups["transcript"])
    baseline.ingest(groups["logs"])

    ledger = _ledger()
    for name in order:
        ledger.ingest(groups[name])

    assert _ttfts(ledger) == expected
    assert _figures(ledger) == _figures(baseline)
    stats = ledger.snapshot(T0).sessions[TRACED]
    assert stats.ttft_ms_median == statistics.median(expected.values())
    assert baseline.snapshot(T0).sessions[TRACED].ttft_ms_median is None
    # The api_request duration is kept over the span's own (they differ by a few ms).
    assert _durations(ledger) == _durations(baseline)


def test_spans_one_by_one_between_the_other_sources(groups) -> None:
    """Spans interleaved record by record with transcript lines and events, newest first."""
    timings = [r for r in groups["traces"] if isinstance(r, CallTiming)]
    others = groups["transcript"] + groups["logs"]
    mixed: list = []
    for index, record in enumerate(reversed(others)):
        mixed.append(record)
        if index % 7 == 0 and timings:
            mixed.append(timings.pop())
    mixed += timings
    ledger = _ledger()
    for record in mixed:
        ledger.ingest([record])
    baseline = _ledger()  # the same order without the spans (float sums follow the order)
    for record in reversed(others):
        baseline.ingest([record])
    assert _ttfts(ledger) == _span_ttfts()
    assert _figures(ledger) == _figures(baseline)


def test_spans_without_api_request_give_both_timings_and_no_tokens(groups) -> None:
    transcript_only = _ledger()
    transcript_only.ingest(groups["transcript"])
    ledger = _ledger()
    ledger.ingest(groups["traces"])
    ledger.ingest(groups["transcript"])
    assert _ttfts(ledger) == _span_ttfts()
    assert _figures(ledger) == _figures(transcript_only)
    # No api_request: the span's own duration fills in (57 ms for the first call).
    assert _durations(ledger)["req_fake000001"] == 57.0


def test_spans_and_events_without_transcripts(groups) -> None:
    events_only = _ledger()
    events_only.ingest(groups["logs"])
    for first, second in (("logs", "traces"), ("traces", "logs")):
        ledger = _ledger()
        ledger.ingest(groups[first])
        ledger.ingest(groups[second])
        assert _ttfts(ledger) == _span_ttfts()
        assert _figures(ledger) == _figures(events_only)
        assert ledger.snapshot(T0).sessions[TRACED].tokens.requests == 5


# -- decoding ------------------------------------------------------------------------------


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _span(name: str, start_ns: int, end_ns: int, **attrs: object) -> Span:
    return Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name=name,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        attributes=[_kv(k.replace("__", "."), v) for k, v in attrs.items()],
    )


def test_decode_llm_request_span_from_a_protobuf_request() -> None:
    start = int(T0 * 1e9)
    llm = dict(
        session__id="sess-1", span__type="llm_request", model="claude-opus-4-8", request_id="req_1",
        ttft_ms=1234, duration_ms=2500, input_tokens=10, output_tokens=20, cache_read_tokens=30,
        cache_creation_tokens=40, attempt=1, success=True,
    )  # fmt: skip
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            _span("claude_code.llm_request", start, start + 2_500_000_000, **llm),
                            # Without a request id there is nothing to join on.
                            _span("claude_code.llm_request", start, start + 1, session__id="s1", ttft_ms=9),
                            _span("claude_code.tool", start, start + 1, session__id="s1", request_id="req_1"),
                        ]
                    )
                ]
            )
        ]
    )
    # Through the wire format, as a listener receives it.
    decoded = decode_traces(ExportTraceServiceRequest.FromString(request.SerializeToString()))
    timings = [r for r in decoded.records if isinstance(r, CallTiming)]
    assert timings == [CallTiming("sess-1", "req_1", 1234.0, 2500.0, T0 + 2.5, Source.OTLP)]
    assert not [r for r in decoded.records if isinstance(r, ApiCall)]  # never a call of its own
    names = [r.name for r in decoded.records if isinstance(r, Activity)]
    assert names.count("span:claude_code.llm_request") == 2 and "span:claude_code.tool" in names


def test_call_timing_round_trips_through_the_codec_and_the_archive(tmp_path: Path) -> None:
    timing = CallTiming("sess-1", "req_1", 812.5, None, T0, Source.OTLP)
    mixed = [timing, ApiCall("sess-1", None, "claude-opus-4-8", None, "req_1", T0, 1, 2, source=Source.OTLP)]
    assert record_codec.decode(record_codec.encode(mixed)) == mixed
    archive = OtlpArchive(tmp_path / "store.db")
    try:
        archive.append([timing])
        assert list(archive.load()) == [[timing]]
    finally:
        archive.close()


# -- the ledger: pending timings -----------------------------------------------------------


def _call(request_id: str, session: str = "s", **kwargs) -> ApiCall:
    return ApiCall(
        session, None, "claude-opus-4-8", f"msg_{request_id}", request_id, T0,
        input_tokens=100, output_tokens=50, final=True, **kwargs,
    )  # fmt: skip


def test_a_timing_for_an_unknown_call_creates_nothing_until_the_call_comes() -> None:
    ledger = _ledger()
    ledger.ingest([CallTiming("s", "req_later", 420.0, 900.0, T0)])
    assert dict(ledger.snapshot(T0).sessions) == {}
    ledger.ingest([_call("req_known")])
    ledger.ingest([CallTiming("s", "req_other", 99.0, None, T0)])
    stats = ledger.snapshot(T0 + 1).sessions["s"]
    assert stats.tokens.requests == 1 and stats.ttft_ms_median is None
    ledger.ingest([_call("req_later")])
    detail = ledger.session_detail("s", T0 + 2)
    ttfts = {p.call.request_id: p.call.ttft_ms for p in detail.calls}
    assert ttfts == {"req_known": None, "req_later": 420.0}
    assert detail.stats.tokens.requests == 2 and detail.stats.tokens.input_tokens == 200
    assert detail.stats.ttft_ms_median == 420.0


def test_pending_timings_are_bounded_oldest_dropped_first() -> None:
    ledger = _ledger()
    ledger.ingest(CallTiming("s", f"req_{i}", float(i), None, T0 + i) for i in range(MAX_PENDING_TIMINGS + 1))
    ledger.ingest([_call("req_0"), _call("req_1"), _call(f"req_{MAX_PENDING_TIMINGS}")])
    ttfts = {p.call.request_id: p.call.ttft_ms for p in ledger.session_detail("s", T0).calls}
    assert ttfts == {"req_0": None, "req_1": 1.0, f"req_{MAX_PENDING_TIMINGS}": float(MAX_PENDING_TIMINGS)}


def test_a_resent_span_and_a_better_transcript_line_keep_the_ttft() -> None:
    ledger = _ledger()
    partial = ApiCall("s", None, "claude-opus-4-8", "msg_1", "req_1", T0, 100, 5)  # mid-stream line
    ledger.ingest([partial, CallTiming("s", "req_1", 300.0, None, T0)])
    ledger.ingest([_call("req_1"), CallTiming("s", "req_1", 300.0, None, T0)])
    detail = ledger.session_detail("s", T0)
    (priced,) = detail.calls
    assert priced.call.ttft_ms == 300.0 and priced.call.output_tokens == 50
    assert detail.stats.tokens.requests == 1


def test_session_json_and_the_stored_stats_carry_the_median() -> None:
    ledger = _ledger()
    ledger.ingest([_call("r1"), _call("r2"), _call("r3"), _call("r4", session="untimed")])
    ledger.ingest(CallTiming("s", f"r{i}", ms, None, T0) for i, ms in ((1, 100.0), (2, 700.0), (3, 300.0)))
    sessions = ledger.snapshot(T0).sessions
    assert report.session_json(sessions["s"])["ttft_ms_median"] == 300.0
    assert report.session_json(sessions["untimed"])["ttft_ms_median"] is None
    assert stats_from_json(orjson.loads(orjson.dumps(stats_to_json(sessions["s"])))).ttft_ms_median == 300.0


# -- the real OpenTelemetry SDK over HTTP, into a running listener --------------------------


def test_sdk_span_over_http_lands_on_the_transcript_call(tmp_path: Path) -> None:
    write_session(tmp_path, "-home-dev-proj", "sess-sdk", [assistant("sess-sdk", "msg_sdk", "req_sdk")])
    ledger = _ledger()
    read_all(list(find_transcripts(tmp_path / "projects", ledger.warn)), ledger.warn, ledger.ingest)
    before = ledger.snapshot(T0).sessions["sess-sdk"].tokens
    sink = RecordSink()

    def into_both(batch) -> None:
        sink(batch)
        ledger.ingest(batch)

    listener = OtlpListener(OtlpConfig(http_port=-1, grpc_port=-1, token=None), into_both)
    assert listener.start() == []
    try:
        endpoint = f"http://127.0.0.1:{listener.status.http_port}/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint, timeout=5)
        provider = TracerProvider(resource=Resource.create({"service.name": "claude-code"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("com.anthropic.claude_code")
        attrs = {
            "session.id": "sess-sdk", "span.type": "llm_request", "request_id": "req_sdk",
            "ttft_ms": 1875, "duration_ms": 4200, "input_tokens": 10, "output_tokens": 5,
            "cache_read_tokens": 0, "cache_creation_tokens": 0, "attempt": 1, "success": True,
        }  # fmt: skip
        with tracer.start_as_current_span("claude_code.llm_request", attributes=attrs):
            pass
        assert provider.force_flush(10_000)
        provider.shutdown()
    finally:
        listener.stop()
    assert [t.request_id for t in sink.of(CallTiming)] == ["req_sdk"]
    detail = ledger.session_detail("sess-sdk", T0)
    (priced,) = detail.calls
    assert priced.call.ttft_ms == 1875.0 and priced.call.duration_ms == 4200.0
    assert detail.stats.tokens == before  # the span's tokens are not a second tally


# -- the session screen ------------------------------------------------------------------


async def test_session_screen_shows_each_requests_ttft_and_the_median(tmp_path: Path, utc, groups) -> None:
    projects = demo.lay_out_samples(tmp_path, demo.default_samples())
    ledger = demo.make_ledger()
    demo.load(projects, ledger)
    timings = [r for r in groups["traces"] if isinstance(r, CallTiming)]
    ledger.ingest(t for t in timings if t.request_id != "req_fake000002")  # its cell stays blank
    now = demo.fixed_now(ledger)
    app = CctopApp(ledger, now=lambda: now, roots=[projects], open_session=TRACED[:8])
    async with app.run_test(size=(80, 24)) as pilot:
        await demo.settle(app, pilot)
        await demo.settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        requests = app.screen.query_one("#requests")
        column = [key.value for key in requests.columns].index("ttft")
        cells = [requests.get_row_at(i)[column].plain.strip() for i in range(requests.row_count)]
        assert cells == ["15ms", "", "15ms", "14ms", "17ms"]
        assert requests.virtual_size.width <= requests.scrollable_content_region.width
        summary = app.screen.query_one("#summary")
        # At 80 columns the summary abbreviates it ("TTFT median 15ms (OTLP traces)" when wide).
        assert "TTFT 15ms" in str(summary.render())
        assert all(len(line) <= 78 for line in str(summary.render()).splitlines())  # shown in full
        # The missing span arrives while the screen is open: its row and the median follow.
        ledger.ingest(t for t in timings if t.request_id == "req_fake000002")
        await demo.settle(app, pilot)
        await pilot.pause()
        assert requests.get_row_at(1)[column].plain.strip() == "12ms"
        assert "TTFT 15ms" in str(summary.render())
        assert requests.get_row_at(1)[4].plain.strip() == "68"  # its output, as before
