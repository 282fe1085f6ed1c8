"""A first start's history read in worker processes.

On a first start the store knows none of the history, and one thread parsing a gigabyte of
transcripts takes tens of seconds. ``Prefill`` hands those files to ``parallel.encode_many``
and writes what comes back to the store from a thread of its own; the tailer then replays each
file from the store when its turn in the backfill comes, as on any warm start. Without a store
(``--no-store``) the encoded records wait in memory for their turn instead: the tailer replays
them in the order they come, so about as fast as the workers make them. The tailer keeps
serving live files meanwhile: prefill never touches the tailer's state, it only reports which
files it read.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cctop.sources.transcripts import parallel
from cctop.sources.transcripts.discovery import TranscriptFile, Warn
from cctop.store.database import Store, StoredFile, WholeFile


def worth_it(files: Sequence[TranscriptFile]) -> bool:
    """Enough unread history, and more than one core, for worker processes to pay."""
    return (
        parallel.worker_count() >= 2
        and sum(f.size for f in files) >= parallel.PARALLEL_MIN_BYTES
    )


@dataclass(frozen=True, slots=True)
class Prefilled:
    """One file the workers read: its state as stored, and its encoded records when there is
    no store to read them back from (``held``; None for no records)."""

    stored: StoredFile
    in_store: bool
    held: bytes | None = None


class Prefill:
    """Reads ``files`` (newest first) into the store at ``store_path``, or into memory when it
    is None. State is guarded by ``lock``, the tailer's own condition, which is notified
    whenever files were read."""

    def __init__(
        self, store_path: Path | None, files: Sequence[TranscriptFile], warn: Warn, lock: threading.Condition
    ) -> None:
        self._store_path = store_path
        self._files = list(files)
        self._warn = warn
        self._lock = lock
        self._pending = {f.path for f in self._files}
        self._stored: list[Prefilled] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="cctop-prefill", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        with self._lock:
            self._stopping = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    # Called with ``lock`` held.

    def pending(self, path: str) -> bool:
        """Still to be stored by the workers: the tailer should wait for it, not read it."""
        return path in self._pending

    def has_stored(self) -> bool:
        return bool(self._stored)

    def take_stored(self) -> list[Prefilled]:
        stored, self._stored = self._stored, []
        return stored

    # The thread.

    def _run(self) -> None:
        store = None
        try:
            if self._store_path is not None:
                store = Store.attach(self._store_path)  # a connection of its own
            for batch, warnings in parallel.encode_many(self._files, self._stop_requested):
                for message in warnings:
                    self._warn(message)
                if store is not None:
                    written = store.commit_whole_files(batch, only_new=True)
                    read = [Prefilled(_as_stored(f), True) for f in written]
                else:
                    read = [Prefilled(_as_stored(f), False, f.data) for f in batch]
                with self._lock:
                    self._stored.extend(read)
                    self._pending.difference_update(f.path for f in batch)
                    self._lock.notify_all()
        except Exception as exc:  # noqa: BLE001 - the tailer reads what is left itself
            self._warn(
                f"reading history in worker processes failed ({type(exc).__name__}: {exc}); "
                "reading it in one thread instead"
            )
        finally:
            if store is not None:
                store.close()
            with self._lock:
                self._pending.clear()
                self._lock.notify_all()

    def _stop_requested(self) -> bool:
        with self._lock:
            return self._stopping


def _as_stored(whole: WholeFile) -> StoredFile:
    return StoredFile(
        whole.path, whole.device, whole.inode, whole.size, whole.offset, whole.mtime,
        frozenset(whole.sessions.split()), False,
    )  # fmt: skip
