"""One-shot loading through the store: the warm path of ``--once``.

If no transcript changed since the store's last full build (same identities and sizes, none
new, none gone) and the prices and output code are the same, the per-session aggregates saved
then are the answer: no transcript and no call row is read. Otherwise the stored records are
replayed into the ledger, only the bytes appended since the stored offsets are read, and the
aggregates are saved again for next time.

The quick check is most of a warm run, so it avoids pathlib and imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cctop import __version__
from cctop.model.snapshot import SessionStats
from cctop.sources.transcripts.discovery import TranscriptFile, Warn
from cctop.store.database import CachedSessions, Store, session_row

if TYPE_CHECKING:
    from cctop.model.ledger import Ledger

# Bump when what an aggregate means changes in a way the code hash below cannot see.
AGGREGATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class History:
    files: int  # transcripts found on disk
    cached: CachedSessions | None  # the saved aggregates; None = everything is in the ledger
    bytes_read: int


def aggregate_key(pricebook: object, summarizer: bool, *modules: ModuleType) -> str:
    """What saved aggregates depend on besides the transcripts: the prices, and the source of
    the code that turns records into output (the ledger, the cache summary, ``modules``...),
    so a price fix or an edited formula invalidates them."""
    models = getattr(pricebook, "models", {})
    text = repr((__version__, AGGREGATE_FORMAT, summarizer, sorted(models.items())))
    digest = hashlib.sha256(text.encode())
    shaping = [sys.modules.get(name) for name in _SHAPING_MODULES]
    for module in (*shaping, *modules):
        path = getattr(module, "__file__", None)
        if path:
            try:
                with open(path, "rb") as handle:
                    digest.update(handle.read())
            except OSError:
                digest.update(path.encode())
    return digest.hexdigest()


_SHAPING_MODULES = (
    "cctop.model.ledger",
    "cctop.model.snapshot",
    "cctop.model.pricing",
    "cctop.model.cache",
    "cctop.store.stats_codec",
    "cctop.store.database",
    "cctop.sources.load",
)


# Past this share of changed files a full rebuild is as cheap as following the changes.
PARTIAL_MAX_SHARE = 0.2


def load(
    roots: Sequence[Path],
    ledger: Ledger,
    store: Store,
    warn: Warn,
    key: str,
    document: Callable[[SessionStats], bytes],
    stats: bool = True,
    pricebook: object | None = None,
) -> History:
    """Sessions for a one-shot report, from the saved aggregates where they still hold.

    - nothing changed since they were saved: they are the answer;
    - a few files changed: only the sessions those files feed (and the sessions sharing dedupe
      keys with them) are rebuilt, from their stored records plus the appended bytes;
    - else (no aggregates, other prices or code): everything is rebuilt into ``ledger``.

    ``document`` renders one session's finished report document, saved beside it; ``stats``
    False skips decoding full SessionStats from the saved aggregates. With ``pricebook`` (the
    one ``ledger`` prices with), a store holding nothing of ``roots`` is filled by worker
    processes (see ``_fill``)."""
    # Saved aggregates answer for the roots they were built from, and only those.
    key = hashlib.sha256(repr((key, sorted(str(r) for r in roots))).encode()).hexdigest()
    on_disk = quick_scan(roots)
    if on_disk is not None and store.cache_key() == key:
        saved = _under(store.cache_files(), roots)
        if saved == on_disk:
            cached = store.cached_sessions(key, stats)
            if cached is not None:
                return History(len(on_disk), cached, 0)
        changed = {p for p, v in on_disk.items() if saved.get(p) != v} | (saved.keys() - on_disk.keys())
        if len(changed) <= max(20, PARTIAL_MAX_SHARE * len(on_disk)):
            bytes_read = _follow_changes(roots, ledger, store, warn, key, document, on_disk, changed)
            cached = store.cached_sessions(key, stats)
            if cached is not None:
                return History(len(on_disk), cached, bytes_read)
    return _rebuild(roots, ledger, store, warn, key, document, pricebook)


def _follow_changes(roots, ledger, store, warn, key, document, on_disk, changed: set[str]) -> int:
    """Rebuild only the sessions that ``changed`` files touch, in ``ledger`` (still empty);
    returns bytes read."""
    from cctop.sources.transcripts.tracker import FileTracker

    before = set(ledger.snapshot().warnings)
    touched: set[str] = set()

    def note(records: list) -> None:
        touched.update(r.session_id for r in records if r.session_id)

    stored = store.files()
    tracker = FileTracker(list(roots), note, warn, store)
    tracker.adopt([stored[p] for p in changed if p in stored and not stored[p].gone])
    for path in sorted(changed):
        if path in on_disk:
            tracker.update(path)
        else:
            tracker.forget(path)
        known = stored.get(path)
        if known is not None:
            touched |= known.sessions
    # Every session sharing a key or a file with a touched one is rebuilt with it.
    stored = store.files()
    affected = store.linked_sessions(touched)
    while True:
        files = [f for f in stored.values() if f.sessions & affected and _is_under(f.path, roots)]
        more = set().union(*(f.sessions for f in files)) - affected
        if not more:
            break
        affected = store.linked_sessions(affected | more)
    files.sort(key=lambda f: f.mtime, reverse=True)
    for records in store.load([f.path for f in files]):
        ledger.ingest(records)
    for session_id in affected:
        if not any(not f.gone for f in files if session_id in f.sessions):
            ledger.mark_files_deleted(session_id)
    snapshot = ledger.snapshot()
    sessions = [snapshot.sessions[s] for s in affected if s in snapshot.sessions]
    states = {p: on_disk.get(p) for p in changed}
    warnings = [w for w in snapshot.warnings if w not in before]
    store.save_sessions(key, sessions, warnings, document, states, replace_all=False)
    return tracker.bytes_read


def _rebuild(roots, ledger, store, warn, key, document, pricebook=None) -> History:
    """Everything again: projects that changed since they were stored into ``ledger`` (stored
    records, then what the files gained since); with ``pricebook``, projects the store holds
    nothing of (all of them on a first run) or holds unchanged (new prices or code) by worker
    processes instead, see ``_fill``."""
    from cctop.sources.transcripts import parallel
    from cctop.sources.transcripts.discovery import find_transcripts

    # Warnings already given (prices, the store itself) belong to this run, not to the data.
    before = set(ledger.snapshot().warnings)
    files = [f for root in roots for f in find_transcripts(root, warn)]
    known, unknown, replay = files, [], frozenset()
    if pricebook is not None:
        stored = store.files()
        changed = _changed_projects(files, stored, roots)
        unknown = [f for f in files if parallel.project_of(f) not in changed]
        if parallel.pays(unknown):
            known = [f for f in files if parallel.project_of(f) in changed]
            replay = frozenset(stored) & {str(f.path) for f in unknown}
        else:
            unknown = []
    bytes_read = feed_through_store(roots, files, known, ledger, store, warn, skip=replay)
    snapshot = ledger.snapshot()
    warnings = [w for w in snapshot.warnings if w not in before]
    states = {str(f.path): (f.device, f.inode, f.size) for f in files}
    if not unknown:
        store.save_sessions(key, list(snapshot.sessions.values()), warnings, document, states)
        return History(len(files), None, bytes_read)
    sessions = {s.id: session_row(s, document) for s in snapshot.sessions.values()}
    rows, more_warnings, more_bytes = _fill(unknown, ledger, store, document, pricebook, replay)
    for row in rows:  # row[4]: requests; the rule sessions_by_project merges projects with
        known_row = sessions.get(row[0])
        if known_row is None or known_row[4] < row[4]:
            sessions[row[0]] = row
    warnings = list(dict.fromkeys([*warnings, *more_warnings]))
    store.save_rows(key, list(sessions.values()), warnings, states)
    return History(len(files), CachedSessions(warnings, list(sessions.values())), bytes_read + more_bytes)


def feed_through_store(
    roots: Sequence[Path],
    files: Sequence[TranscriptFile],
    known: Sequence[TranscriptFile],
    ledger: Ledger,
    store: Store,
    warn: Warn,
    skip: frozenset[str] = frozenset(),
) -> int:
    """Into ``ledger``: the stored records of every stored file under ``roots`` but ``skip``
    (gone ones too: history; those not among ``files`` are marked gone), then what the files
    of ``known`` gained since. A file of ``known`` the store lacks, or holds replaced or
    shrunk, is read whole (in worker processes when it pays) and stored. Returns bytes read."""
    from cctop.sources.transcripts import parallel
    from cctop.sources.transcripts.reader import FileResult
    from cctop.sources.transcripts.tracker import FileTracker

    tracker = FileTracker(
        list(roots), ledger.ingest, warn, store, ledger.mark_files_deleted, include_tail=True
    )
    tracker.load_store(present={str(f.path) for f in files}, skip=skip)
    fresh = [f for f in known if tracker.needs_full_read(f)]
    fresh_paths = {f.path for f in fresh}

    def commit(file: TranscriptFile, result: FileResult) -> None:
        store.commit(
            str(file.path), file.device, file.inode, file.size, file.mtime, 0, result.offset, result.records
        )

    # Discovery order, as the --no-store path reads: the ledger keeps the same first sightings.
    bytes_read = parallel.read_many(fresh, warn, ledger.ingest, on_file=commit)
    for file in sorted(known, key=lambda f: f.mtime, reverse=True):
        if file.path not in fresh_paths:
            tracker.update(str(file.path), file.role)
    return bytes_read + tracker.bytes_read


def _fill(files, ledger, store, document, pricebook, replay) -> tuple[list[tuple], list[str], int]:
    """Projects the store holds nothing of (the first run, --rebuild, the rest of a first run
    that was killed): worker processes read them, each project in one ledger (replayed history
    never leaves its project), and hand back every file's records encoded for the store plus
    finished session rows; this process only writes them, a group of projects per transaction.
    Files in ``replay`` (projects stored whole and unchanged) are read back from the store by
    the workers instead. Returns (session rows, warnings, bytes read)."""
    import time

    from cctop.sources.transcripts.parallel import fill_by_project

    bytes_read = 0

    def write(group: list, keys: list) -> None:
        nonlocal bytes_read
        store.commit_whole_files(group, keys)
        bytes_read += sum(f.offset for f in group)

    filled = fill_by_project(
        files, pricebook, ledger.cache_summarizer, time.time(), document, write, replay, str(store.path)
    )
    assert filled is not None, "only called when workers pay"
    rows, warnings = filled
    return rows, warnings, bytes_read


def _changed_projects(files, stored: dict, roots: Sequence[Path]) -> set[tuple[str, str] | None]:
    """Projects the store holds something of that is not exactly what is on disk: a file new,
    replaced, grown, gone or with a last line not stored yet. The others are either unknown
    to the store or stored whole."""
    on_disk = {str(f.path): f for f in files}
    changed: set[tuple[str, str] | None] = set()
    for path, known in stored.items():
        project = _project_of(path, roots)
        if project is None:
            continue  # another root's history
        now = on_disk.get(path)
        if (
            known.gone
            or now is None
            or (now.device, now.inode, now.size) != (known.device, known.inode, known.size)
            or known.offset != known.size
        ):
            changed.add(project)
    stored_projects = {_project_of(path, roots) for path in stored}
    for path in on_disk:
        if path not in stored and _project_of(path, roots) in stored_projects:
            changed.add(_project_of(path, roots))
    return changed


def _project_of(path: str, roots: Sequence[Path]) -> tuple[str, str] | None:
    """parallel.project_of for a stored path: (root, project dir), None if under no root."""
    for root in roots:
        top = os.path.join(root, "")
        if path.startswith(top):
            return str(root), path[len(top) :].split(os.sep, 1)[0]
    return None


def is_transcript(parts: tuple[str, ...]) -> bool:
    """``jsonl.classify(...) is not None`` on path parts relative to a root, without building
    paths (tests check the two agree)."""
    name = parts[-1]
    if not name.endswith(".jsonl") or name == "journal.jsonl" or len(parts) < 2:
        return False
    return len(parts) == 2 or (name.startswith("agent-") and parts[2] in ("subagents", "workflows"))


def quick_scan(roots: Sequence[Path]) -> dict[str, tuple[int, int, int]] | None:
    """path -> (device, inode, size) of every transcript; None if some dir could not be read
    (then the careful path runs, with its warnings)."""
    found: dict[str, tuple[int, int, int]] = {}
    for root in roots:
        top = str(root)
        if not os.path.isdir(top):
            continue
        stack: list[tuple[str, tuple[str, ...]]] = [(top, ())]
        while stack:
            directory, parts = stack.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append((entry.path, (*parts, entry.name)))
                        elif entry.name.endswith(".jsonl") and is_transcript((*parts, entry.name)):
                            st = entry.stat(follow_symlinks=False)
                            found[entry.path] = (st.st_dev, st.st_ino, st.st_size)
            except OSError:
                return None
    return found


def _is_under(path: str, roots: Sequence[Path]) -> bool:
    return path.startswith(tuple(os.path.join(root, "") for root in roots))


def _under(files: dict[str, tuple[int, int, int]], roots: Sequence[Path]) -> dict[str, tuple[int, int, int]]:
    prefixes = tuple(os.path.join(root, "") for root in roots)
    return {path: state for path, state in files.items() if path.startswith(prefixes)}
