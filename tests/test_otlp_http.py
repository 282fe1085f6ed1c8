"""The OTLP/HTTP receiver over real sockets: the capture replayed chunked, and every
bad input answered correctly with the listener still serving afterwards."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pytest
from helpers import RecordSink
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from cctop.model.records import Activity
from cctop.sources.otlp import OtlpConfig, OtlpListener, http_server
from cctop.sources.otlp.http_server import BodyTooLarge, inflate

CAPTURE = Path(__file__).resolve().parent / "samples/claude-code-2.1.197/otlp-http-json-capture.jsonl"
PB = "application/x-protobuf"
MAX_BODY = 1 << 20


Sink = RecordSink

@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def listener(sink: Sink) -> Iterator[OtlpListener]:
    otlp = OtlpListener(OtlpConfig(http_port=-1, grpc_port=0, max_body_bytes=MAX_BODY, timeout_s=0.5), sink)
    assert otlp.start() == []
    yield otlp
    otlp.stop()


def api_request_body(request_id: str = "req_1", session: str = "s-1", tokens: int = 10) -> bytes:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.time_unix_nano = 1_800_000_000_000_000_000
    record.body.string_value = "claude_code.api_request"
    for key, value in {
        "session.id": session,
        "request_id": request_id,
        "model": "claude-sonnet-4-5",
        "input_tokens": str(tokens),
        "output_tokens": "5",
        "cost_usd": "0.01",
    }.items():
        record.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return request.SerializeToString()


def post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": PB, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def assert_serving(listener: OtlpListener, sink: Sink, request_id: str = "req_after") -> None:
    status, body, _ = post(listener.status.http_port, "/v1/logs", api_request_body(request_id))
    assert status == 200, body
    assert ExportLogsServiceResponse.FromString(body) == ExportLogsServiceResponse()
    assert request_id in {c.request_id for c in sink.calls()}


def rpc_status(body: bytes) -> tuple[int, str]:
    """google.rpc.Status fields 1 (code) and 2 (message), read back with a real parser."""
    from google.rpc import status_pb2  # googleapis-common-protos comes with the OTLP exporters

    status = status_pb2.Status.FromString(body)
    return status.code, status.message


# -- good traffic ----------------------------------------------------------------------


def _capture_lines() -> list[dict]:
    return [json.loads(line) for line in CAPTURE.read_text().splitlines() if line.strip()]


def test_capture_replayed_chunked_on_one_kept_alive_connection(listener: OtlpListener, sink: Sink) -> None:
    lines = _capture_lines()
    connection = http.client.HTTPConnection("127.0.0.1", listener.status.http_port, timeout=5)
    sockets = set()
    for line in lines:
        body = json.dumps(line["body"]).encode()
        chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))  # no Content-Length, like CC 2.1.197
        connection.request(
            "POST",
            f"/v1/{line['kind']}",
            body=chunks,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        assert json.loads(response.read()) == {}
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1  # keep-alive: one connection served every request

    # Expected figures straight from the capture's api_request events.
    expected: dict[str, dict[str, float]] = {}
    for line in lines:
        for resource_logs in line["body"].get("resourceLogs", []):
            for scope_logs in resource_logs["scopeLogs"]:
                for record in scope_logs["logRecords"]:
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in record["attributes"]}
                    if attrs.get("event.name") != "api_request":
                        continue
                    figures = expected.setdefault(attrs["session.id"], {})
                    for key in (
                        "input_tokens",
                        "output_tokens",
                        "cache_read_tokens",
                        "cache_creation_tokens",
                    ):
                        figures[key] = figures.get(key, 0) + int(attrs[key])
                    figures["cost"] = figures.get("cost", 0.0) + float(attrs["cost_usd"])
    assert expected
    got: dict[str, dict[str, float]] = {}
    for call in sink.calls():
        figures = got.setdefault(call.session_id, {})
        for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
            figures[key] = figures.get(key, 0) + getattr(call, key)
        figures["cost"] = figures.get("cost", 0.0) + (call.reported_cost_usd or 0.0)
    assert got.keys() == expected.keys()
    for session, figures in expected.items():
        assert got[session].pop("cost") == pytest.approx(figures.pop("cost"))
        assert got[session] == figures
    # The metrics of the same run agree with the events on cost.
    metric_cost = sum(
        r.value for r in sink.records if isinstance(r, Activity) and r.name == "claude_code.cost.usage"
    )
    assert metric_cost == pytest.approx(sum(c.reported_cost_usd or 0 for c in sink.calls()), rel=1e-6)
    status = listener.status
    assert status.requests == len(lines) and status.errors == 0 and status.last_error is None


def test_gzip_protobuf_gets_protobuf_response(listener: OtlpListener, sink: Sink) -> None:
    status, body, headers = post(
        listener.status.http_port,
        "/v1/logs",
        gzip.compress(api_request_body("req_gz")),
        {"Content-Encoding": "gzip"},
    )
    assert status == 200 and headers["Content-Type"] == PB
    assert ExportLogsServiceResponse.FromString(body) == ExportLogsServiceResponse()
    assert [c.request_id for c in sink.calls()] == ["req_gz"]


def test_partial_success_reports_rejected_events(listener: OtlpListener, sink: Sink) -> None:
    request = ExportLogsServiceRequest.FromString(api_request_body())
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    del record.attributes[0]  # no session.id: cannot be attributed
    status, body, _ = post(listener.status.http_port, "/v1/logs", request.SerializeToString())
    assert status == 200
    partial = ExportLogsServiceResponse.FromString(body).partial_success
    assert partial.rejected_log_records == 1 and "session.id" in partial.error_message
    assert listener.status.rejected == 1


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\xff\xff\xff\xff\xff", {}),  # garbage
        (api_request_body()[:-7], {}),  # truncated protobuf
        (b'{"resourceLogs": [', {"Content-Type": "application/json"}),
        (b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}),
        (gzip.compress(api_request_body())[:-12], {"Content-Encoding": "gzip"}),  # truncated gzip
    ],
    ids=["garbage", "truncated-protobuf", "bad-json", "bad-gzip", "truncated-gzip"],
)
def test_undecodable_body_is_400(listener: OtlpListener, sink: Sink, body: bytes, headers: dict) -> None:
    status, reply, _ = post(listener.status.http_port, "/v1/logs", body, headers)
    assert status == 400
    if headers.get("Content-Type") == "application/json":
        assert json.loads(reply)["code"] == 3
    else:
        assert rpc_status(reply)[0] == 3  # INVALID_ARGUMENT
    assert listener.status.errors == 1 and listener.status.last_error.startswith("HTTP: 400")
    assert_serving(listener, sink)


def test_wrong_content_type_is_415(listener: OtlpListener, sink: Sink) -> None:
    status, _, _ = post(listener.status.http_port, "/v1/logs", b"hello", {"Content-Type": "text/plain"})
    assert status == 415
    connection = http.client.HTTPConnection("127.0.0.1", listener.status.http_port, timeout=5)
    connection.putrequest("POST", "/v1/logs")  # no Content-Type at all
    connection.putheader("Content-Length", "5")
    connection.endheaders(b"hello")
    response = connection.getresponse()
    assert response.status == 415 and response.getheader("Content-Type") == PB
    assert rpc_status(response.read())[0] == 3
    connection.close()
    assert_serving(listener, sink)


def test_unknown_path_is_404_and_other_method_405(listener: OtlpListener, sink: Sink) -> None:
    port = listener.status.http_port
    assert post(port, "/v1/profiles", api_request_body())[0] == 404
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/v1/logs")
    response = connection.getresponse()
    assert response.status == 405 and response.getheader("Allow") == "POST"
    connection.close()
    assert_serving(listener, sink)


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """1 GiB of zeros in about 1 MB: 16 gzip members of 64 MiB each."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9)
    return member * 16


def test_gzip_bomb_is_413_without_inflating_it(listener: OtlpListener, sink: Sink) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 2 << 20
    status, reply, _ = post(listener.status.http_port, "/v1/logs", bomb, {"Content-Encoding": "gzip"})
    assert status == 413
    assert rpc_status(reply)[0] == 8  # RESOURCE_EXHAUSTED
    assert_serving(listener, sink)


def test_inflate_never_holds_more_than_the_cap() -> None:
    single_member = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = single_member.compress(bytes(128 << 20)) + single_member.flush()
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            inflate(bomb, MAX_BODY)
        with pytest.raises(BodyTooLarge):
            inflate(gzip_bomb(), MAX_BODY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_BODY
    # Within the cap, several members inflate to their concatenation.
    assert inflate(gzip.compress(b"ab") + gzip.compress(b"cd"), MAX_BODY) == b"abcd"


def test_oversized_body_is_413(listener: OtlpListener, sink: Sink) -> None:
    port = listener.status.http_port
    assert post(port, "/v1/logs", bytes(2 * MAX_BODY))[0] == 413
    # Chunked, with no Content-Length to check up front.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(
        "POST",
        "/v1/logs",
        body=(bytes(65536) for _ in range(40)),
        headers={"Content-Type": PB},
        encode_chunked=True,
    )
    assert connection.getresponse().status == 413
    connection.close()
    assert_serving(listener, sink)


def test_token_is_required_when_set(sink: Sink) -> None:
    otlp = OtlpListener(OtlpConfig(http_port=-1, grpc_port=0, token="s3cret-token", timeout_s=0.5), sink)
    otlp.start()
    try:
        port = otlp.status.http_port
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            status, reply, _ = post(port, "/v1/logs", api_request_body("req_denied"), headers)
            assert status == 401
            assert rpc_status(reply)[0] == 16  # UNAUTHENTICATED
        assert sink.calls() == []
        status, _, _ = post(
            port, "/v1/logs", api_request_body("req_ok"), {"Authorization": "Bearer s3cret-token"}
        )
        assert status == 200
        assert [c.request_id for c in sink.calls()] == ["req_ok"]
    finally:
        otlp.stop()


def test_stalled_clients_time_out_without_blocking_others(listener: OtlpListener, sink: Sink) -> None:
    port = listener.status.http_port
    body = api_request_body("req_stalled")
    stalled_body = socket.create_connection(("127.0.0.1", port))
    stalled_body.sendall(
        f"POST /v1/logs HTTP/1.1\r\nContent-Type: {PB}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[: len(body) // 2]
    )
    stalled_headers = socket.create_connection(("127.0.0.1", port))
    stalled_headers.sendall(b"POST /v1/logs HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    assert_serving(listener, sink)  # served while the other two hang
    assert time.monotonic() - started < 0.5
    for stalled in (stalled_body, stalled_headers):
        stalled.settimeout(5)
        assert stalled.recv(1024) == b""  # the server gave up on it and closed
        stalled.close()
    assert "req_stalled" not in {c.request_id for c in sink.calls()}
    assert "timed out" in (listener.status.last_error or "")


def test_clients_that_reset_mid_request_print_nothing(listener: OtlpListener, sink: Sink, capfd) -> None:
    """socketserver would print a traceback to stderr: under the TUI, onto the screen."""
    import struct

    port = listener.status.http_port
    for partial in (b"POST /v1/lo", b"POST /v1/logs HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"):
        client = socket.create_connection(("127.0.0.1", port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        client.sendall(partial)
        time.sleep(0.05)
        client.close()
    time.sleep(0.2)
    assert_serving(listener, sink)
    assert capfd.readouterr().err == ""


def test_connection_flood_gets_503_and_frees_up(
    listener: OtlpListener, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server, "MAX_CONNECTIONS", 4)
    port = listener.status.http_port
    hogs = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    accepted = time.monotonic() + 10  # on a loaded machine accepting can lag: wait for it
    while len(listener._http._connections) < 4 and time.monotonic() < accepted:
        time.sleep(0.01)
    flooded = socket.create_connection(("127.0.0.1", port))
    flooded.settimeout(5)
    reply = flooded.recv(4096)  # answered at once, before the request is even sent
    assert reply.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in reply  # retryable per OTLP
    flooded.close()
    for hog in hogs:
        hog.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the server notices the closed sockets
        with contextlib.suppress(OSError):
            if post(port, "/v1/logs", api_request_body("req_later"))[0] == 200:
                break
        time.sleep(0.05)
    assert "req_later" in {c.request_id for c in sink.calls()}
    assert "req_flooded" not in {c.request_id for c in sink.calls()}


def test_hostile_bytes_in_status_are_sanitised(listener: OtlpListener, sink: Sink) -> None:
    raw = socket.create_connection(("127.0.0.1", listener.status.http_port))
    raw.sendall(
        b"POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\x1b[2J\r\n"
    )
    raw.settimeout(5)
    assert raw.recv(1024).startswith(b"HTTP/1.1 400")
    raw.close()
    assert listener.status.last_error and listener.status.last_error.isprintable()
    assert_serving(listener, sink)


# -- starting ------------------------------------------------------------------------


def test_busy_port_is_a_warning_and_the_other_transport_still_works(sink: Sink) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    otlp = OtlpListener(OtlpConfig(http_port=busy, grpc_port=-1), sink)
    try:
        warnings = otlp.start()
        assert len(warnings) == 1 and str(busy) in warnings[0] and "HTTP" in warnings[0]
        assert otlp.status.http_port is None and otlp.status.grpc_port
    finally:
        otlp.stop()
        blocker.close()


def test_non_loopback_bind_needs_a_token(sink: Sink) -> None:
    with pytest.raises(ValueError, match="token"):
        OtlpListener(OtlpConfig(bind="0.0.0.0", http_port=-1, grpc_port=0), sink).start()
    otlp = OtlpListener(OtlpConfig(bind="0.0.0.0", http_port=-1, grpc_port=0, token="t0ken"), sink)
    try:
        assert otlp.start() == []
        assert otlp.status.http_port
    finally:
        otlp.stop()


def test_stop_releases_the_port(sink: Sink) -> None:
    otlp = OtlpListener(OtlpConfig(http_port=-1, grpc_port=0), sink)
    otlp.start()
    port = otlp.status.http_port
    kept_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    kept_alive.request("POST", "/v1/logs", body=api_request_body(), headers={"Content-Type": PB})
    assert kept_alive.getresponse().read() == b""
    otlp.stop()
    assert otlp.status.endpoints == ()
    again = OtlpListener(OtlpConfig(http_port=port, grpc_port=0), sink)
    try:
        assert again.start() == []
    finally:
        again.stop()
        kept_alive.close()


def test_ipv6_loopback(sink: Sink) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    otlp = OtlpListener(OtlpConfig(bind="::1", http_port=-1, grpc_port=0), sink)
    try:
        if otlp.start():
            pytest.skip("IPv6 loopback unavailable here")
        assert otlp.status.endpoints == (f"http://[::1]:{otlp.status.http_port}",)
        connection = http.client.HTTPConnection("::1", otlp.status.http_port, timeout=5)
        connection.request("POST", "/v1/logs", body=api_request_body("req_v6"), headers={"Content-Type": PB})
        assert connection.getresponse().status == 200
        connection.close()
        assert [c.request_id for c in sink.calls()] == ["req_v6"]
    finally:
        otlp.stop()
