"""Start and stop the OTLP receivers (HTTP and gRPC) that feed cctop's model."""

from __future__ import annotations

import errno
import ipaddress
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cctop.model.records import Record
from cctop.sources.otlp.http_server import OtlpHttpServer
from cctop.sources.otlp.ingest import Ingest


@dataclass
class OtlpConfig:
    bind: str = "127.0.0.1"
    grpc_port: int = 4317  # 0 disables; a negative port lets the OS pick one (tests, benchmarks)
    http_port: int = 4318
    token: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    timeout_s: float = 10.0


@dataclass(frozen=True)
class OtlpStatus:
    endpoints: tuple[str, ...] = ()  # e.g. ("http://127.0.0.1:4318", "grpc://127.0.0.1:4317")
    http_port: int | None = None
    grpc_port: int | None = None
    requests: int = 0  # export requests accepted
    events: int = 0  # log records + data points + spans in them
    records: int = 0  # records handed to the sink
    rejected: int = 0  # items dropped (reported back as partial success)
    errors: int = 0  # requests refused (bad body, wrong token, too large, ...)
    last_error: str | None = None  # sanitised: safe to display
    last_request_at: float | None = None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OtlpListener:
    def __init__(self, config: OtlpConfig, sink: Callable[[Sequence[Record]], None]) -> None:
        self.config = config
        self._ingest = Ingest(sink, config.token)
        self._http: OtlpHttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: Any = None
        self._http_port: int | None = None
        self._grpc_port: int | None = None

    def start(self) -> list[str]:
        """Start what can be started. A busy port is a warning, not an error, so the
        other transport and the transcript view keep working. Refuses (ValueError) to
        listen beyond loopback without a token."""
        config = self.config
        if not config.token and not is_loopback(config.bind):
            raise ValueError(
                f"refusing to accept OTLP on {config.bind} without a token: "
                "give one with --otlp-token-file PATH or CCTOP_OTLP_TOKEN (or bind to 127.0.0.1)"
            )
        if config.token is not None and not config.token.strip():
            raise ValueError("the OTLP token must not be empty")
        warnings: list[str] = []
        if config.http_port:
            try:
                self._start_http()
            except OSError as exc:
                warnings.append(_bind_warning("HTTP", config.bind, config.http_port, exc))
        if config.grpc_port:
            try:
                self._start_grpc()
            except OSError as exc:
                warnings.append(_bind_warning("gRPC", config.bind, config.grpc_port, exc))
        return warnings

    def _start_http(self) -> None:
        port = max(self.config.http_port, 0)
        server = OtlpHttpServer(
            (self.config.bind, port), self._ingest, self.config.max_body_bytes, self.config.timeout_s
        )
        self._http = server
        self._http_port = server.server_address[1]
        self._http_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="cctop-otlp-http", daemon=True
        )
        self._http_thread.start()

    def _start_grpc(self) -> None:
        from cctop.sources.otlp.grpc_server import start_grpc_server  # grpcio is heavy: import when used

        self._grpc, self._grpc_port = start_grpc_server(
            self.config.bind, max(self.config.grpc_port, 0), self._ingest, self.config.max_body_bytes
        )

    def stop(self) -> None:
        if self._http is not None:
            self._http.close_all()
            if self._http_thread is not None:
                self._http_thread.join(timeout=2)
            self._http = None
            self._http_port = None
        if self._grpc is not None:
            self._grpc.stop(grace=0.5).wait(2)
            self._grpc = None
            self._grpc_port = None

    @property
    def status(self) -> OtlpStatus:
        host = f"[{self.config.bind}]" if ":" in self.config.bind else self.config.bind
        endpoints = []
        if self._http_port:
            endpoints.append(f"http://{host}:{self._http_port}")
        if self._grpc_port:
            endpoints.append(f"grpc://{host}:{self._grpc_port}")
        ingest = self._ingest
        return OtlpStatus(
            endpoints=tuple(endpoints),
            http_port=self._http_port,
            grpc_port=self._grpc_port,
            requests=ingest.requests,
            events=ingest.items,
            records=ingest.records,
            rejected=ingest.rejected,
            errors=ingest.errors,
            last_error=ingest.last_error,
            last_request_at=ingest.last_request_at,
        )


def _bind_warning(transport: str, bind: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE or transport == "gRPC":  # grpcio does not say why
        reason = "in use"
    else:
        reason = f"unavailable ({exc.strerror or 'cannot bind'})"
    return f"port {port} on {bind} {reason}: OTLP {transport} listener off"
