"""OTLP/gRPC receiver on grpcio's thread-pool server.

The servicers subclass the ones shipped in opentelemetry-proto, but are registered
with a raw-bytes deserializer: grpcio answers INTERNAL when its own deserializer
fails, and OTLP wants INVALID_ARGUMENT for a body that does not parse. The message
size cap (RESOURCE_EXHAUSTED) is grpcio's, applied after decompression.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from cctop.sources.otlp.codec import SIGNALS, Signal, UndecodableBody, parse_protobuf
from cctop.sources.otlp.ingest import Ingest


class _Export:
    """The one Export behaviour, parametrised by signal."""

    def __init__(self, ingest: Ingest, signal: Signal) -> None:
        self._ingest = ingest
        self._signal = signal

    def __call__(self, body: bytes, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata() or ())
        if not self._ingest.authorized(metadata.get("authorization")):
            self._ingest.failed("gRPC", "missing or wrong bearer token")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            request = parse_protobuf(self._signal, body)
        except UndecodableBody as exc:
            self._ingest.failed("gRPC", str(exc))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            decoded = self._ingest.export(self._signal, request)
        except Exception as exc:  # noqa: BLE001 - report it; never kill the worker silently
            self._ingest.failed("gRPC", f"internal error: {type(exc).__name__}: {exc}")
            context.abort(grpc.StatusCode.INTERNAL, "internal error")
        response = self._signal.response()
        if decoded.rejected:
            partial = response.partial_success
            setattr(partial, self._signal.rejected_field, decoded.rejected)
            partial.error_message = decoded.note
        return response


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self.Export = _Export(ingest, SIGNALS["logs"])  # type: ignore[method-assign]


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self.Export = _Export(ingest, SIGNALS["metrics"])  # type: ignore[method-assign]


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self.Export = _Export(ingest, SIGNALS["traces"])  # type: ignore[method-assign]


def _handler(service: Any, servicer: Any) -> grpc.GenericRpcHandler:
    response_type = SIGNALS[_signal_of(service.full_name)].response
    return grpc.method_handlers_generic_handler(
        service.full_name,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                servicer.Export,
                request_deserializer=None,  # raw bytes: parsed (and refused) by _Export
                response_serializer=response_type.SerializeToString,
            )
        },
    )


def _signal_of(service_name: str) -> str:
    return {"LogsService": "logs", "MetricsService": "metrics", "TraceService": "traces"}[
        service_name.rsplit(".", 1)[1]
    ]


MAX_CONCURRENT_RPCS = 128


def start_grpc_server(bind: str, port: int, ingest: Ingest, max_body_bytes: int) -> tuple[grpc.Server, int]:
    """Start serving; returns (server, bound port). Raises OSError when the port is taken."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=8, thread_name_prefix="cctop-otlp-grpc"),
        # Calls beyond this are refused at once (RESOURCE_EXHAUSTED, which exporters retry)
        # instead of queueing without bound behind the 8 threads.
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
        options=[
            ("grpc.max_receive_message_length", max_body_bytes),
            # gRPC defaults to SO_REUSEPORT: a second listener would silently share the port.
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers(
        (
            _handler(logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"], _Logs(ingest)),
            _handler(metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"], _Metrics(ingest)),
            _handler(trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"], _Traces(ingest)),
        )
    )
    host = f"[{bind}]" if ":" in bind else bind
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:  # grpcio >= 1.60 raises instead of returning 0
        raise OSError(f"cannot bind {host}:{port}: {exc}") from exc
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    server.start()
    return server, bound
