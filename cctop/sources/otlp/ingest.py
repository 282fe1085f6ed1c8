"""What both transports share: auth, decoding to records, the sink, the counters."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from cctop.model.records import Record
from cctop.sources.otlp.codec import Signal
from cctop.sources.otlp.decode import Decoded, OtlpDecoder
from cctop.sources.otlp.values import clean

Sink = Callable[[Sequence[Record]], None]


class Ingest:
    """Thread-safe: every listener thread funnels its decoded requests through here."""

    def __init__(self, sink: Sink, token: str | None) -> None:
        self._sink = sink
        self._expected_auth = None if token is None else f"Bearer {token}".encode()
        self._decoder = OtlpDecoder()
        self._lock = threading.Lock()
        self.requests = 0
        self.items = 0
        self.records = 0
        self.rejected = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_request_at: float | None = None

    def authorized(self, authorization: str | None) -> bool:
        if self._expected_auth is None:
            return True
        if not authorization:
            return False
        given = authorization.strip().encode("utf-8", "replace")
        # The scheme is case-insensitive; compare_digest keeps the token check constant-time.
        if given[:7].lower() == b"bearer ":
            given = b"Bearer " + given[7:].lstrip()
        return hmac.compare_digest(given, self._expected_auth)

    def export(self, signal: Signal, request: Any) -> Decoded:
        """Decode one export request and hand its records to the sink."""
        decoded = self._decoder.decode(signal.name, request)
        if decoded.records:
            self._sink(decoded.records)
        with self._lock:
            self.requests += 1
            self.items += decoded.items
            self.records += len(decoded.records)
            self.rejected += decoded.rejected
            self.last_request_at = time.time()
        return decoded

    def failed(self, transport: str, reason: str) -> None:
        """Count a refused request; ``reason`` may hold client bytes, so it is cleaned."""
        with self._lock:
            self.errors += 1
            self.last_error = clean(f"{transport}: {reason}", 160)
