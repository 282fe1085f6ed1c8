"""One-shot loading through the store: the warm path of ``--once``.

If no transcript changed since the store's last full build (same identities and sizes, none
new, none gone) and the prices are the same, the per-session aggregates saved then are the
answer: no transcript and no call row is read. Otherwise the stored records are replayed into
the ledger, only the bytes appended since the stored offsets are read, and the aggregates are
saved again for next time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cctop import __version__
from cctop.model.ledger import Ledger
from cctop.model.snapshot import SessionStats
from cctop.sources.discovery import TranscriptFile, Warn, find_transcripts
from cctop.sources.parallel import read_many
from cctop.sources.reader import FileResult
from cctop.sources.store import Store, StoredFile
from cctop.sources.tracker import FileTracker

# Bump when what an aggregate means changes (stats_codec, ledger semantics).
AGGREGATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class History:
    files: int  # transcripts found on disk
    sessions: list[SessionStats] | None  # from the aggregate cache; None = read into the ledger
    warnings: list[str]
    bytes_read: int


def price_key(pricebook: object, summarizer: bool) -> str:
    """What the saved aggregates depend on besides the transcripts themselves."""
    models = getattr(pricebook, "models", {})
    text = repr((__version__, AGGREGATE_FORMAT, summarizer, sorted(models.items())))
    return hashlib.sha256(text.encode()).hexdigest()


def load(roots: Sequence[Path], ledger: Ledger, store: Store, warn: Warn, key: str) -> History:
    files = [f for root in roots for f in find_transcripts(root, warn)]
    generation = store.generation()
    stored = store.files()
    if _unchanged(files, stored, roots):
        cached = store.cached_sessions(generation, key)
        if cached is not None:
            sessions, warnings = cached
            return History(len(files), sessions, warnings, 0)
    tracker = FileTracker(
        list(roots), ledger.ingest, warn, store, ledger.mark_files_deleted, include_tail=True
    )
    tracker.load_store(present={str(f.path) for f in files})
    fresh = [f for f in files if tracker.needs_full_read(f)]
    fresh_paths = {f.path for f in fresh}

    def commit(file: TranscriptFile, result: FileResult) -> None:
        store.commit(
            str(file.path), file.device, file.inode, file.size, file.mtime, 0, result.offset, result.records
        )

    ordered = sorted(fresh, key=lambda f: f.mtime, reverse=True)
    bytes_read = read_many(ordered, warn, ledger.ingest, on_file=commit)
    for file in sorted(files, key=lambda f: f.mtime, reverse=True):
        if file.path not in fresh_paths:
            tracker.update(str(file.path), file.role)
    bytes_read += tracker.bytes_read
    generation = store.generation()
    snapshot = ledger.snapshot()
    store.save_sessions(generation, key, list(snapshot.sessions.values()), snapshot.warnings)
    return History(len(files), None, [], bytes_read)


def _unchanged(files: Sequence[TranscriptFile], stored: dict[str, StoredFile], roots: Sequence[Path]) -> bool:
    live = 0
    for file in files:
        known = stored.get(str(file.path))
        if (
            known is None
            or known.gone
            or (known.device, known.inode, known.size)
            != (
                file.device,
                file.inode,
                file.size,
            )
        ):
            return False
        live += 1
    # A stored live file under these roots that is no longer on disk is a change too.
    under = [p for p, f in stored.items() if not f.gone and _under(p, roots)]
    return len(under) == live


def _under(path: str, roots: Sequence[Path]) -> bool:
    return any(path.startswith(os.path.join(root, "")) for root in roots)
