"""Bytes <-> OTLP export messages, for both protobuf and OTLP/JSON bodies."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass(frozen=True)
class Signal:
    name: str  # "logs" | "metrics" | "traces"
    request: type[Message]
    response: type[Message]
    rejected_field: str  # the partial_success counter of the response


SIGNALS: dict[str, Signal] = {
    "logs": Signal(
        "logs",
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        "rejected_log_records",
    ),
    "metrics": Signal(
        "metrics",
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
    "traces": Signal(
        "traces",
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        "rejected_spans",
    ),
}


class UndecodableBody(ValueError):
    """The body is not a valid export request of the declared kind."""


def parse_protobuf(signal: Signal, body: bytes) -> Message:
    message = signal.request()
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise UndecodableBody(f"bad protobuf {signal.name} request") from exc
    return message


def parse_json(signal: Signal, body: bytes) -> Message:
    """OTLP/JSON differs from the protobuf JSON mapping in its hex ids; fix those, then
    let json_format do the rest (camelCase or snake_case, int64 as text or number)."""
    try:
        document = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise UndecodableBody(f"bad JSON {signal.name} request") from exc
    if not isinstance(document, dict):
        raise UndecodableBody(f"JSON {signal.name} request is not an object")
    message = signal.request()
    try:
        json_format.ParseDict(_otlp_json_fixups(document), message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise UndecodableBody(f"bad JSON {signal.name} request") from exc
    return message


def parse(signal: Signal, body: bytes, content_type: str) -> Message:
    return parse_json(signal, body) if content_type == JSON else parse_protobuf(signal, body)


_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _otlp_json_fixups(node: Any, depth: int = 0) -> Any:
    """Hex ids -> base64, and the ``{"low", "high"}`` int64 objects an old OTel JS sent -> ints."""
    if depth > 64:
        raise UndecodableBody("JSON nested too deeply")
    if isinstance(node, dict):
        if node.keys() == {"low", "high"}:
            low, high = node["low"], node["high"]
            if isinstance(low, int) and isinstance(high, int):
                return ((high & 0xFFFFFFFF) << 32) | (low & 0xFFFFFFFF)
        fixed = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                fixed[key] = _hex_id_to_base64(value)
            else:
                fixed[key] = _otlp_json_fixups(value, depth + 1)
        return fixed
    if isinstance(node, list):
        return [_otlp_json_fixups(item, depth + 1) for item in node]
    return node


def _hex_id_to_base64(text: str) -> str:
    try:
        raw = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        return text  # not hex: maybe already base64; json_format decides
    return base64.b64encode(raw).decode("ascii")


def encode_response(signal: Signal, content_type: str, rejected: int = 0, error_message: str = "") -> bytes:
    response = signal.response()
    if rejected or error_message:
        partial = response.partial_success
        setattr(partial, signal.rejected_field, rejected)
        partial.error_message = error_message
    if content_type == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def encode_status(code: int, message: str, content_type: str) -> bytes:
    """A ``google.rpc.Status`` (code = gRPC code number, message) for error replies.

    Hand-encoded: two fields do not justify a googleapis-common-protos dependency.
    """
    if content_type == JSON:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
