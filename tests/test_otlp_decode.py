"""OTLP bodies -> records: JSON dialects, number forms, event mapping, sanitising."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from cctop.model.records import Activity, ApiCall, ApiError, Prompt, SessionMeta, Source, ToolResult, ToolUse
from cctop.sources.otlp.codec import SIGNALS, UndecodableBody, parse_json, parse_protobuf
from cctop.sources.otlp.decode import OtlpDecoder, decode_logs

CAPTURE = Path(__file__).resolve().parent / "samples/claude-code-2.1.197/otlp-http-json-capture.jsonl"
SESSION = "0f0e0d0c-aaaa-bbbb-cccc-000000000001"


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


def log_request(*events: dict[str, Any], version: str = "2.1.250") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(KeyValue(key="service.version", value=_value(version)))
    scope = resource_logs.scope_logs.add()
    for i, event in enumerate(events):
        record = scope.log_records.add()
        name = event.pop("_name")
        record.time_unix_nano = 1_800_000_000_000_000_000 + i * 1_000_000
        record.body.string_value = f"claude_code.{name}"
        attrs = {"session.id": SESSION, "event.name": name, "event.sequence": str(i)} | event
        for key, value in attrs.items():
            if value is not None:
                record.attributes.append(KeyValue(key=key, value=_value(value)))
    return request


def only(records: list, kind: type) -> list:
    return [r for r in records if isinstance(r, kind)]


@pytest.mark.parametrize(
    "numbers",
    [
        {
            "input_tokens": "12",
            "output_tokens": "34",
            "cache_read_tokens": "56",
            "cache_creation_tokens": "78",
            "cost_usd": "0.5",
            "duration_ms": "120",
        },
        {
            "input_tokens": 12,
            "output_tokens": 34,
            "cache_read_tokens": 56,
            "cache_creation_tokens": 78,
            "cost_usd": 0.5,
            "duration_ms": 120,
        },
        {
            "input_tokens": 12.0,
            "output_tokens": 34.0,
            "cache_read_tokens": 56.0,
            "cache_creation_tokens": 78.0,
            "cost_usd": 0.5,
            "duration_ms": 120.0,
        },
    ],
    ids=["strings", "ints", "doubles"],
)
def test_api_request_numbers_in_any_form(numbers: dict[str, Any]) -> None:
    out = decode_logs(
        log_request(
            {
                "_name": "api_request",
                "model": "claude-opus-4-8[1m]",
                "request_id": "req_1",
                "speed": "fast",
                **numbers,
            }
        )
    )
    (call,) = only(out.records, ApiCall)
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.cache_creation_tokens) == (
        12,
        34,
        56,
        78,
    )
    assert call.reported_cost_usd == 0.5
    assert call.duration_ms == 120.0
    assert call.model == "claude-opus-4-8[1m]"  # kept as sent; pricing strips [1m]
    assert (call.session_id, call.request_id, call.message_id, call.agent_id) == (
        SESSION,
        "req_1",
        None,
        None,
    )
    assert call.final and call.speed == "fast" and call.source is Source.OTLP
    assert call.timestamp == pytest.approx(1_800_000_000.0)
    (meta,) = only(out.records, SessionMeta)
    assert meta.version == "2.1.250" and meta.source is Source.OTLP


def test_api_request_cost_from_micros_and_subagent_and_derived_request_id() -> None:
    out = decode_logs(
        log_request(
            {
                "_name": "api_request",
                "model": "m",
                "cost_usd_micros": "120868",
                "agent_id": "a99036a83d3f7eaef",
            }
        )
    )
    (call,) = only(out.records, ApiCall)
    assert call.reported_cost_usd == pytest.approx(0.120868)
    assert call.agent_id == "a99036a83d3f7eaef"
    # No request id: a stable one from session + sequence, so a re-sent batch dedupes.
    again = only(decode_logs(log_request({"_name": "api_request", "model": "m"})).records, ApiCall)[0]
    assert call.request_id == again.request_id == f"otlp-request:{SESSION}:0"


def test_tool_result_gives_use_and_result_with_one_id() -> None:
    out = decode_logs(
        log_request(
            {
                "_name": "tool_result",
                "tool_name": "Bash",
                "tool_use_id": "toolu_1",
                "success": "false",
                "duration_ms": "250",
            },
            {"_name": "tool_result", "tool_name": "Read", "success": "true", "duration_ms": 5},
        )
    )
    uses, results = only(out.records, ToolUse), only(out.records, ToolResult)
    assert [(u.tool_use_id, u.name) for u in uses] == [
        ("toolu_1", "Bash"),
        (f"otlp-tool:{SESSION}:1", "Read"),
    ]
    assert [(r.tool_use_id, r.is_error, r.duration_ms, r.tool_name) for r in results] == [
        ("toolu_1", True, 250.0, "Bash"),
        (f"otlp-tool:{SESSION}:1", False, 5.0, "Read"),
    ]
    assert uses[0].timestamp == pytest.approx(results[0].timestamp - 0.25)


def test_prompt_error_and_other_events() -> None:
    out = decode_logs(
        log_request(
            {"_name": "user_prompt", "prompt.id": "p-1", "prompt_length": "26", "prompt": "<REDACTED>"},
            {
                "_name": "api_error",
                "model": "m",
                "status_code": 529,
                "error": "Overloaded\x1b[31m",
                "attempt": "3",
            },
            {"_name": "tool_decision", "tool_name": "Edit", "decision": "reject", "source": "user_reject"},
            {"_name": "compaction", "pre_tokens": "150000", "post_tokens": "20000"},
            {"_name": "some_future_event"},
        )
    )
    (prompt,) = only(out.records, Prompt)
    assert (prompt.prompt_id, prompt.length) == ("p-1", 26)
    (error,) = only(out.records, ApiError)
    assert (error.status, error.attempt, error.model) == ("529", 3, "m")
    assert "\x1b" not in (error.error or "") and (error.error or "").startswith("Overloaded")
    activities = {a.name: a for a in only(out.records, Activity)}
    assert set(activities) == {"tool_decision", "compaction", "some_future_event"}
    assert all(a.value == 1.0 and a.session_id == SESSION for a in activities.values())
    assert ("decision", "reject") in activities["tool_decision"].attributes
    assert ("pre_tokens", "150000") in activities["compaction"].attributes


def test_a_logged_prompt_titles_the_session_and_a_redacted_one_does_not() -> None:
    logged = decode_logs(
        log_request({"_name": "user_prompt", "prompt.id": "p-1", "prompt": "fix the\n  flaky test"})
    )
    titles = [m.title for m in only(logged.records, SessionMeta) if m.title]
    assert titles == ["fix the flaky test"]
    redacted = decode_logs(log_request({"_name": "user_prompt", "prompt.id": "p-2", "prompt": "<REDACTED>"}))
    assert not [m for m in only(redacted.records, SessionMeta) if m.title]


def test_events_without_session_are_rejected_and_foreign_logs_ignored() -> None:
    request = log_request({"_name": "api_request", "model": "m"})
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    del record.attributes[0]  # session.id
    foreign = request.resource_logs[0].scope_logs[0].log_records.add()
    foreign.body.string_value = "GET /health 200"
    out = decode_logs(request)
    assert out.records == []
    assert (out.items, out.rejected) == (2, 1)
    assert "session.id" in out.note


def test_control_characters_never_reach_records() -> None:
    out = decode_logs(
        log_request(
            {
                "_name": "tool_result",
                "tool_name": "Ba\x1b]0;pwned\x07sh",
                "tool_use_id": "t\x9b1",
                "success": "true",
            }
        )
    )
    assert out.records
    for record in out.records:
        for value in (getattr(record, name) for name in record.__slots__):
            if isinstance(value, str):
                assert value.isprintable(), value


# -- JSON dialects ---------------------------------------------------------------------


def _json_logs(camel: bool) -> dict[str, Any]:
    def k(name: str) -> str:
        if camel:
            head, *rest = name.split("_")
            return head + "".join(part.title() for part in rest)
        return name

    return {
        k("resource_logs"): [
            {
                "resource": {
                    "attributes": [{"key": "service.version", "value": {k("string_value"): "2.1.197"}}]
                },
                k("scope_logs"): [
                    {
                        "scope": {"name": "com.anthropic.claude_code.events", "futureField": {"x": 1}},
                        k("log_records"): [
                            {
                                k("time_unix_nano"): 1_795_342_436_201_000_000,  # int64 as a number
                                k("observed_time_unix_nano"): "1795342436201000000",  # ... or as a string
                                k("trace_id"): "da9f4a582648611d671021847068ba8d",
                                k("span_id"): "88368376aa81b429",
                                "body": {k("string_value"): "claude_code.api_request"},
                                "unknownField": [1, 2, 3],
                                "attributes": [
                                    {"key": "session.id", "value": {k("string_value"): SESSION}},
                                    {"key": "input_tokens", "value": {k("int_value"): 21}},
                                    {"key": "output_tokens", "value": {k("int_value"): "67"}},
                                    {"key": "cost_usd", "value": {k("double_value"): 0.12}},
                                    {"key": "request_id", "value": {k("string_value"): "req_x"}},
                                    {"key": "model", "value": {k("string_value"): "claude-opus-4-8"}},
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }


@pytest.mark.parametrize("camel", [True, False], ids=["lowerCamelCase", "snake_case"])
def test_otlp_json_dialects(camel: bool) -> None:
    request = parse_json(SIGNALS["logs"], orjson.dumps(_json_logs(camel)))
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    # Hex ids are bytes, not base64-misread garbage.
    assert record.trace_id.hex() == "da9f4a582648611d671021847068ba8d"
    assert record.span_id.hex() == "88368376aa81b429"
    (call,) = only(decode_logs(request).records, ApiCall)
    assert (call.input_tokens, call.output_tokens, call.reported_cost_usd, call.request_id) == (
        21,
        67,
        0.12,
        "req_x",
    )


def test_json_low_high_timestamps_and_base64_ids_still_parse() -> None:
    doc = _json_logs(True)
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["timeUnixNano"] = {"low": 1_000_000, "high": 1}
    record["traceId"] = base64.b64encode(bytes(range(16))).decode()
    request = parse_json(SIGNALS["logs"], orjson.dumps(doc))
    parsed = request.resource_logs[0].scope_logs[0].log_records[0]
    assert parsed.time_unix_nano == (1 << 32) + 1_000_000
    assert parsed.trace_id == bytes(range(16))


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b'{"resourceLogs": "nope"}', b"\xff\xfe"])
def test_undecodable_json(body: bytes) -> None:
    with pytest.raises(UndecodableBody):
        parse_json(SIGNALS["logs"], body)


def test_undecodable_protobuf() -> None:
    good = log_request({"_name": "api_request", "model": "m"}).SerializeToString()
    for body in (good[: len(good) // 2], b"\xff\xff\xff\xff"):
        with pytest.raises(UndecodableBody):
            parse_protobuf(SIGNALS["logs"], body)


# -- metrics through the decoder -------------------------------------------------------


def _sum_request(
    points: list[tuple[int, int, float]], temporality: int, session: str | None = SESSION, instance: str = "a"
) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(KeyValue(key="service.instance.id", value=_value(instance)))
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "claude_code.token.usage"
    metric.sum.aggregation_temporality = temporality
    metric.sum.is_monotonic = True
    base = 1_800_000_000_000_000_000  # small offsets from a real moment (0 stays "unset")
    for start, time, value in points:
        start, time = start and base + start, time and base + time
        point = metric.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=time, as_double=value)
        if session:
            point.attributes.append(KeyValue(key="session.id", value=_value(session)))
        point.attributes.append(KeyValue(key="type", value=_value("input")))
    return request


def _total(decoder: OtlpDecoder, request: ExportMetricsServiceRequest) -> float:
    return sum(a.value for a in only(decoder.decode_metrics(request).records, Activity))


def test_metrics_delta_resent_batch_is_idempotent() -> None:
    decoder = OtlpDecoder()
    batch = _sum_request([(1, 2, 10.0), (2, 3, 5.0)], AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
    assert _total(decoder, batch) == 15.0
    assert _total(decoder, batch) == 0.0
    activity = only(
        decoder.decode_metrics(
            _sum_request([(3, 4, 1.0)], AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
        ).records,
        Activity,
    )[0]
    assert (activity.name, activity.session_id, activity.value) == (
        "claude_code.token.usage:input",
        SESSION,
        1.0,
    )


def test_metrics_cumulative_resume_counts_both_processes() -> None:
    decoder = OtlpDecoder()
    cumulative = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    first = _total(decoder, _sum_request([(100, 200, 10.0), (100, 300, 30.0)], cumulative))
    resend = _total(decoder, _sum_request([(100, 300, 30.0)], cumulative))
    resumed = _total(decoder, _sum_request([(1000, 1100, 4.0)], cumulative, instance="b"))
    assert (first, resend, resumed) == (30.0, 0.0, 4.0)


def test_metrics_non_finite_values_are_skipped() -> None:
    decoder = OtlpDecoder()
    delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    request = _sum_request([(1, 2, float("nan")), (2, 3, float("inf")), (3, 4, 2.0)], delta)
    assert [a.value for a in only(decoder.decode_metrics(request).records, Activity)] == [2.0]


def test_metrics_without_session_are_unattributed_not_dropped() -> None:
    decoder = OtlpDecoder()
    out = decoder.decode_metrics(_sum_request([(1, 2, 3.0)], 1, session=None))
    (activity,) = only(out.records, Activity)
    assert activity.session_id is None and activity.value == 3.0
    assert only(out.records, SessionMeta) == []


# -- the real capture ------------------------------------------------------------------


def test_capture_decodes_to_the_session_figures_it_holds() -> None:
    lines = [json.loads(line) for line in CAPTURE.read_text().splitlines() if line.strip()]
    decoder = OtlpDecoder()
    records: list = []
    for line in lines:
        request = parse_json(SIGNALS[line["kind"]], orjson.dumps(line["body"]))
        records += decoder.decode(line["kind"], request).records
    expected_cost, expected_tokens = 0.0, 0
    for line in lines:
        if line["kind"] != "logs":
            continue
        for rl in line["body"]["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for rec in sl["logRecords"]:
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in rec["attributes"]}
                    if attrs.get("event.name") == "api_request":
                        expected_cost += float(attrs["cost_usd"])
                        expected_tokens += sum(
                            int(attrs[k])
                            for k in (
                                "input_tokens",
                                "output_tokens",
                                "cache_read_tokens",
                                "cache_creation_tokens",
                            )
                        )
    calls = only(records, ApiCall)
    assert calls and len({c.request_id for c in calls}) == len(calls)
    assert sum(c.reported_cost_usd or 0 for c in calls) == pytest.approx(expected_cost)
    assert sum(c.prompt_tokens + c.output_tokens for c in calls) == expected_tokens
    assert {m.version for m in only(records, SessionMeta)} == {"2.1.197"}
    spans = [a for a in only(records, Activity) if a.name == "span:claude_code.llm_request"]
    assert len(spans) == len(calls)
    assert any(("ttft_ms", "15") in s.attributes for s in spans)
