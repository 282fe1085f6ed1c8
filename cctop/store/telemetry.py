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


def archive_sink(ingest, archive: OtlpArchive | None, warn):
    """The listener's sink: into the ledger first (what the screen shows), then the archive.
    A failing archive is reported once and the records still reach the screen."""
    failed = False

    def sink(records: Sequence[Record]) -> None:
        nonlocal failed
        ingest(records)
        if archive is None or failed:
            return
        try:
            archive.append(records)
        except sqlite3.Error as exc:
            failed = True
            warn(f"cannot keep telemetry in the store ({exc}); it is shown but not kept")

    return sink
