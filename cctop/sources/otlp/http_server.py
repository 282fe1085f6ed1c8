"""OTLP/HTTP receiver on the standard library's threading HTTP server.

One thread per connection, so a stalled client only ties up its own thread until the
socket timeout. ``BaseHTTPRequestHandler`` does not de-chunk request bodies, and
Claude Code 2.1.191-2.1.211 sends chunked bodies, so that is done here; so is the
incremental, capped gzip inflation (a gzip bomb stops at the cap, it never allocates
the whole output).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cctop.sources.otlp.codec import (
    JSON,
    PROTOBUF,
    SIGNALS,
    UndecodableBody,
    encode_response,
    encode_status,
    parse,
)
from cctop.sources.otlp.ingest import Ingest

_PATHS = {"/v1/logs": SIGNALS["logs"], "/v1/metrics": SIGNALS["metrics"], "/v1/traces": SIGNALS["traces"]}
_CONTENT_TYPES = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}
# gRPC status codes, reused in the google.rpc.Status bodies of HTTP errors.
_GRPC_CODE = {400: 3, 401: 16, 404: 12, 405: 12, 411: 3, 413: 8, 415: 3, 408: 4, 500: 13}


MAX_CONNECTIONS = 128
_BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, close: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close  # the body was not fully read: the connection cannot be reused


class OtlpHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog (socketserver's default is 5): a burst of clients waits to be
    # accepted, and past MAX_CONNECTIONS gets a 503, instead of a connection reset.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], ingest: Ingest, max_body_bytes: int, timeout_s: float
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ingest = ingest
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            full = len(self._connections) >= MAX_CONNECTIONS
            if not full:
                self._connections.add(request)
        if full:
            # Too many open connections (stalled or hostile clients): a retryable
            # answer without spending a thread on it.
            with contextlib.suppress(OSError):
                request.sendall(_BUSY_REPLY)
            self.ingest.failed("HTTP", f"503 more than {MAX_CONNECTIONS} connections")
            super().shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback to stderr here, which would land on the TUI's
        screen. A client that drops its connection is normal; anything else is counted."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            self.ingest.failed("HTTP", f"{type(exc).__name__}: {exc}")

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Stop accepting, then end kept-alive connections so no thread keeps serving."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cctop-otlp"
    sys_version = ""
    server: OtlpHttpServer

    def setup(self) -> None:
        self.timeout = self.server.timeout_s  # type: ignore[misc]  # StreamRequestHandler applies it
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: client bytes must never reach the terminal under the TUI."""

    def do_POST(self) -> None:
        declared = self.headers.get("Content-Type") or ""
        supported = _content_type(declared)
        # Errors are answered in the request's content type, or the nearest guess.
        content_type = supported or (JSON if "json" in declared.lower() else PROTOBUF)
        try:
            signal = self._signal()
            if not self.server.ingest.authorized(self.headers.get("Authorization")):
                raise HttpError(401, "missing or wrong bearer token")
            if supported is None:
                raise HttpError(415, "content type must be application/x-protobuf or application/json")
            body = self._inflate(self._read_body())
            try:
                request = parse(signal, body, content_type)
            except UndecodableBody as exc:
                raise HttpError(400, str(exc), close=False) from exc
            decoded = self.server.ingest.export(signal, request)
            payload = encode_response(signal, content_type, decoded.rejected, decoded.note)
            self._reply(200, payload, content_type)
        except HttpError as exc:
            self.server.ingest.failed("HTTP", f"{exc.status} {exc.message}")
            if exc.close:
                self.close_connection = True
            self._reply(
                exc.status,
                encode_status(_GRPC_CODE.get(exc.status, 2), exc.message, content_type),
                content_type,
            )
            if exc.close:
                self._linger()
        except TimeoutError:
            self.server.ingest.failed("HTTP", "client too slow: timed out")
            self.close_connection = True
        except ConnectionError:
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the listener thread silently
            self.server.ingest.failed("HTTP", f"internal error: {type(exc).__name__}: {exc}")
            self.close_connection = True
            self._reply(500, encode_status(13, "internal error", content_type), content_type)

    def _not_allowed(self) -> None:
        self.close_connection = True
        status, message = (405, "use POST") if self.path.split("?", 1)[0] in _PATHS else (404, "unknown path")
        self.server.ingest.failed("HTTP", f"{status} {message}")
        self._reply(status, encode_status(_GRPC_CODE[status], message, JSON), JSON, allow=status == 405)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _signal(self) -> Any:
        signal = _PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            raise HttpError(404, "unknown path")
        return signal

    def _read_body(self) -> bytes:
        """The raw request body, chunked or sized; capped, and with an overall deadline
        so a client trickling bytes cannot hold its thread forever."""
        limit = self.server.max_body_bytes + 65536  # gzip may slightly exceed its input
        deadline = time.monotonic() + self.server.timeout_s * 3
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit, deadline)
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError as exc:
            raise HttpError(400, "bad Content-Length") from exc
        if length < 0:
            raise HttpError(400, "bad Content-Length")
        if length > limit:
            raise HttpError(413, f"body larger than {self.server.max_body_bytes} bytes")
        return self._read_exact(length, deadline)

    def _read_chunked(self, limit: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise HttpError(400, "bad chunk header")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise HttpError(400, "bad chunk size") from exc
            if size < 0:
                raise HttpError(400, "bad chunk size")
            if size == 0:
                break
            total += size
            if total > limit:
                raise HttpError(413, f"body larger than {self.server.max_body_bytes} bytes")
            parts.append(self._read_exact(size, deadline))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise HttpError(400, "bad chunk terminator")
        for _ in range(64):  # trailers, up to the blank line
            line = self.rfile.readline(8192)
            if line in (b"\r\n", b"\n", b""):
                break
            if time.monotonic() > deadline:
                raise TimeoutError
        return b"".join(parts)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        remaining = size
        while remaining:
            data = self.rfile.read1(min(remaining, 1 << 20))
            if not data:
                raise ConnectionError("client closed mid-body")
            parts.append(data)
            remaining -= len(data)
            if remaining and time.monotonic() > deadline:
                raise TimeoutError
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def _inflate(self, body: bytes) -> bytes:
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding in ("identity", ""):
            if len(body) > self.server.max_body_bytes:
                raise HttpError(413, f"body larger than {self.server.max_body_bytes} bytes", close=False)
            return body
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise HttpError(415, "content encoding must be gzip, deflate or none", close=False)
        try:
            return inflate(body, self.server.max_body_bytes, gzip=encoding != "deflate")
        except BodyTooLarge as exc:
            raise HttpError(
                413, f"body larger than {self.server.max_body_bytes} bytes once inflated", close=False
            ) from exc
        except zlib.error as exc:
            raise HttpError(400, f"bad {encoding} data", close=False) from exc

    def _linger(self) -> None:
        """Read and drop what the client is still sending before closing: closing with
        unread data makes the kernel send a reset, which can destroy the error reply
        before the client reads it."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + self.server.timeout_s
            budget = 4 * self.server.max_body_bytes
            while budget > 0 and time.monotonic() < deadline:
                data = self.rfile.read1(65536)
                if not data:
                    break
                budget -= len(data)

    def _reply(self, status: int, payload: bytes, content_type: str, allow: bool = False) -> None:
        try:
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if allow:
                self.send_header("Allow", "POST")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


class BodyTooLarge(Exception):
    pass


def inflate(data: bytes, cap: int, *, gzip: bool = True) -> bytes:
    """Decompress with at most ``cap + 1`` bytes of output ever held; multi-member gzip ok."""
    wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    while True:
        chunk = inflater.decompress(pending, cap + 1 - len(out))
        out += chunk
        if len(out) > cap:
            raise BodyTooLarge
        pending = inflater.unconsumed_tail
        if inflater.eof:
            rest = inflater.unused_data
            if not gzip or not rest.strip(b"\x00"):
                return bytes(out)
            inflater = zlib.decompressobj(wbits)  # next gzip member
            pending = rest
        elif not pending and not chunk:
            raise zlib.error("truncated compressed data")


def _content_type(header: str) -> str | None:
    return _CONTENT_TYPES.get(header.split(";", 1)[0].strip().lower())
