"""Telemetry kept in the history store's database, so sessions seen only over OTLP survive a
restart and show up in ``--once`` like transcript sessions do.

Batches are stored as they arrived (the record codec's compact rows). Replaying them is safe:
the ledger dedupes calls by request id, prompts and tools by id, and the decoder already
turned metrics into deltas that were counted once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from cctop.model.records import Record
from cctop.store import record_codec
from cctop.store.connection import connect
from cctop.store.database import migrate


class OtlpArchive:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        # Listener threads append; one connection guarded by a lock is plenty for the rate
        # Claude Code exports at (a batch every few seconds per session).
        self._db = connect(self.path, threads=True)
        try:
            migrate(self._db)  # the otlp_batches table is one of the store's
        except BaseException:
            self._db.close()
            raise

    def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        data = record_codec.encode(records)
        with self._lock:
            self._db.execute(
                "INSERT INTO otlp_batches (received, data) VALUES (?, ?)", (time.time(), data)
            )

    def load(self, warn: Callable[[str], None] | None = None) -> Iterator[list[Record]]:
        """Every stored batch, oldest first. One that no longer decodes (damaged, or written
        by a newer cctop) is skipped; ``warn`` hears how many."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM otlp_batches ORDER BY id").fetchall()
        skipped = 0
        for (data,) in rows:
            try:
                records = record_codec.decode(data)
            except (ValueError, TypeError, IndexError, KeyError):  # orjson's errors are ValueErrors
                skipped += 1
                continue
            yield records
        if skipped and warn is not None:
            warn(f"skipped {skipped} kept telemetry batch(es) that could not be decoded")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def kept_batches(store_path: Path, warn: Callable[[str], None]) -> list[list[Record]]:
    """Every telemetry batch kept in the store at ``store_path``, oldest first; [] and a
    warning if it cannot be read."""
    try:
        archive = OtlpArchive(store_path)
        try:
            return list(archive.load(warn))
        finally:
            archive.close()
    except sqlite3.Error as exc:
        warn(f"cannot read the telemetry kept in {store_path} ({exc})")
        return []


# A failing archive (disk full) keeps what it could not write in memory, up to this many
# batches, and tries again this often; what arrives meanwhile still reaches the screen.
PENDING_BATCHES = 5000
RETRY_S = 5.0


def archive_sink(ingest, archive: OtlpArchive | None, warn, clock=time.monotonic):
    """The listener's sink: into the ledger first (what the screen shows), then the archive.
    A failing archive is reported once; the batches it could not keep wait (bounded) and are
    written when it works again, which is said too."""
    pending: deque[Sequence[Record]] = deque()
    lock = threading.Lock()
    failing = False
    retry_at = 0.0
    dropped = 0

    def sink(records: Sequence[Record]) -> None:
        nonlocal failing, retry_at, dropped
        ingest(records)
        if archive is None or not records:
            return
        with lock:
            pending.append(records)
            if len(pending) > PENDING_BATCHES:
                pending.popleft()
                dropped += 1
            if failing and clock() < retry_at:
                return
            try:
                while pending:
                    archive.append(pending[0])
                    pending.popleft()
            except sqlite3.Error as exc:
                if not failing:
                    warn(f"cannot keep telemetry in the store ({exc}); shown but not kept until it works")
                failing, retry_at = True, clock() + RETRY_S
                return
            if failing:
                failing = False
                lost = f"; {dropped} batch(es) could not be kept" if dropped else ""
                warn(f"telemetry is kept in the store again{lost}")

    return sink
