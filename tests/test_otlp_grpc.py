"""The OTLP/gRPC receiver with a raw grpcio client: status codes and still serving after."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import grpc
import pytest
from helpers import RecordSink
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from cctop.sources.otlp import OtlpConfig, OtlpListener

MAX_BODY = 64 * 1024
EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


Sink = RecordSink

def api_request(request_id: str, padding: int = 0, session: str | None = "s-1") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "claude_code.api_request"
    attrs = {"request_id": request_id, "model": "claude-haiku-4-5", "input_tokens": "3", "pad": "x" * padding}
    if session:
        attrs["session.id"] = session
    for key, value in attrs.items():
        record.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return request


@pytest.fixture
def sink() -> Sink:
    return Sink()


def _start(sink: Sink, token: str | None = None) -> OtlpListener:
    otlp = OtlpListener(OtlpConfig(http_port=0, grpc_port=-1, token=token, max_body_bytes=MAX_BODY), sink)
    assert otlp.start() == []
    return otlp


@pytest.fixture
def listener(sink: Sink) -> Iterator[OtlpListener]:
    otlp = _start(sink)
    yield otlp
    otlp.stop()


@pytest.fixture
def channel(listener: OtlpListener) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{listener.status.grpc_port}") as chan:
        yield chan


def assert_serving(channel: grpc.Channel, sink: Sink, request_id: str = "req_after") -> None:
    response = LogsServiceStub(channel).Export(api_request(request_id), timeout=5)
    assert response == ExportLogsServiceResponse()
    assert request_id in sink.request_ids()


def test_export_with_gzip_compression(channel: grpc.Channel, sink: Sink) -> None:
    LogsServiceStub(channel).Export(api_request("req_gz"), timeout=5, compression=grpc.Compression.Gzip)
    assert sink.request_ids() == ["req_gz"]


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff\xff\xff", api_request("req_cut").SerializeToString()[:-9]],
    ids=["garbage", "truncated"],
)
def test_undecodable_is_invalid_argument(
    listener: OtlpListener, channel: grpc.Channel, sink: Sink, body: bytes
) -> None:
    raw_export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        raw_export(body, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert listener.status.errors == 1
    assert_serving(channel, sink)


def test_oversized_after_decompression_is_resource_exhausted(channel: grpc.Channel, sink: Sink) -> None:
    big = api_request("req_big", padding=4 * MAX_BODY)
    with pytest.raises(grpc.RpcError) as caught:
        # Compressed it is tiny: the cap must apply to the inflated message.
        LogsServiceStub(channel).Export(big, timeout=5, compression=grpc.Compression.Gzip)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "req_big" not in sink.request_ids()
    assert_serving(channel, sink)


def test_token_in_metadata(sink: Sink) -> None:
    otlp = _start(sink, token="grpc-t0ken")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{otlp.status.grpc_port}") as chan:
            stub = LogsServiceStub(chan)
            for metadata in ((), (("authorization", "Bearer nope"),), (("authorization", "grpc-t0ken"),)):
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Export(api_request("req_denied"), metadata=metadata, timeout=5)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.Export(api_request("req_ok"), metadata=(("authorization", "Bearer grpc-t0ken"),), timeout=5)
        assert sink.request_ids() == ["req_ok"]
    finally:
        otlp.stop()


def test_partial_success(channel: grpc.Channel, sink: Sink) -> None:
    response = LogsServiceStub(channel).Export(api_request("req_x", session=None), timeout=5)
    assert response.partial_success.rejected_log_records == 1
    assert sink.request_ids() == []


def test_busy_grpc_port_is_a_warning_and_http_still_works(sink: Sink) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    otlp = OtlpListener(OtlpConfig(http_port=-1, grpc_port=busy), sink)
    try:
        warnings = otlp.start()
        assert len(warnings) == 1 and str(busy) in warnings[0] and "gRPC" in warnings[0]
        assert otlp.status.grpc_port is None and otlp.status.http_port
        assert otlp.status.endpoints == (f"http://127.0.0.1:{otlp.status.http_port}",)
    finally:
        otlp.stop()
        blocker.close()


def test_a_failing_sink_is_internal_and_counted() -> None:
    def broken(_batch) -> None:
        raise RuntimeError("model \x1b[31mbroke")

    otlp = OtlpListener(OtlpConfig(http_port=-1, grpc_port=-1), broken)
    otlp.start()
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{otlp.status.grpc_port}") as chan,
            pytest.raises(grpc.RpcError) as caught,
        ):
            LogsServiceStub(chan).Export(api_request("req_1"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        connection = http.client.HTTPConnection("127.0.0.1", otlp.status.http_port, timeout=5)
        connection.request(
            "POST",
            "/v1/logs",
            body=api_request("req_2").SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert connection.getresponse().status == 500
        connection.close()
        status = otlp.status
        assert status.errors == 2 and "RuntimeError" in status.last_error and status.last_error.isprintable()
    finally:
        otlp.stop()
