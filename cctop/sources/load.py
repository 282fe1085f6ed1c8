"""The one way history reaches a ledger, for every front end that reads it once and prints
(``--once``, ``--once --requests``, and any report to come). The live view follows files with
the tailer instead (``sources/transcripts/tailer.py``), which replays the same store.

``history()`` takes the choices as arguments:

- ``store``: an open Store, or None (``--no-store``). Through the store, only the bytes the
  transcripts gained since the last run are read; files it never saw are read whole and
  stored. A store that fails mid-read is dropped for this run (``History.store_failed``
  says why) and the transcripts are read instead, with the same outcome.
- ``saved``: the per-session aggregates ``--once`` saved at its last run. If no transcript
  changed since (same identities and sizes, none new, none gone) and the prices and the code
  that shapes them are the same, they are the answer and no record is read; if a few files
  changed, only the sessions those files feed are rebuilt.
- ``workers``: worker processes may read whole projects (replayed history never leaves its
  project) and hand back finished session figures instead of records.
- ``keep``: a record filter; every kept record then reaches the ledger (no finished figures).

Telemetry that a live ``cctop --otlp`` kept in the store is joined in the same ledger, after
the transcripts (the order a live ledger sees): where the sessions came back as finished
figures, the projects of the sessions with telemetry are read into the ledger first.

So ``History.ledger`` holds either every record (``finished`` is None) or only the projects
telemetry joined, whose sessions then replace the same ids among ``finished``.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import msgspec

from cctop import __version__
from cctop.model.ledger import Ledger
from cctop.model.records import Record
from cctop.model.snapshot import SessionStats
from cctop.sources.transcripts.discovery import (
    TranscriptFile,
    Warn,
    find_transcripts,
    project_of,
    quick_scan,
)
from cctop.store.database import (
    CachedSessions,
    SessionRow,
    Store,
    StoredFile,
    StoreError,
    is_corruption,
    session_row,
    set_aside,
)
from cctop.store.telemetry import kept_batches

if TYPE_CHECKING:
    from cctop.sources.transcripts.reader import FileResult

# The warm path (saved aggregates still valid) imports none of the readers, trackers or worker
# pools: they are imported where a read happens.

NewLedger = Callable[[], Ledger]
Sink = Callable[[list[Record]], None]

# Bump when what an aggregate means changes in a way the code hash below cannot see.
AGGREGATE_FORMAT = 1
# Past this share of changed files a full rebuild is as cheap as following the changes.
PARTIAL_MAX_SHARE = 0.2


class Saved(msgspec.Struct, frozen=True):
    """The saved per-session aggregates a report may answer from: ``key`` (see
    ``aggregate_key``) says what they depend on, ``document`` renders one session's finished
    report document (saved beside it), ``stats`` False skips decoding full SessionStats."""

    key: str
    document: Callable[[SessionStats], bytes]
    stats: bool = True


class History(msgspec.Struct):
    ledger: Ledger
    files: int  # transcripts found on disk
    # Finished figures of the sessions not in ``ledger``: from worker processes
    # (``finished``) or the saved aggregates (``cached``); both None = all is in the ledger.
    finished: list[SessionStats] | None = None
    cached: CachedSessions | None = None
    bytes_read: int = 0
    store_failed: str | None = None  # the store broke mid-read: why (the files were read)

    @property
    def complete(self) -> bool:
        return self.finished is None and self.cached is None


def history(
    roots: Sequence[Path],
    new_ledger: NewLedger,
    store: Store | None,
    *,
    saved: Saved | None = None,
    workers: bool = True,
    keep: Callable[[Record], bool] | None = None,
) -> History:
    """History under ``roots`` into a ledger made by ``new_ledger`` (see the module doc)."""
    workers = workers and keep is None
    failed = None
    if store is not None:
        try:
            loaded = _through_store(roots, new_ledger, store, saved, workers, keep)
            return _with_telemetry(loaded, roots, store.path, new_ledger, store, keep)
        except sqlite3.DatabaseError as exc:  # damaged past what opening it could tell
            failed = f"the store {store.path} failed ({exc})"
            if is_corruption(exc):  # set aside now, so the next run rebuilds it
                try:
                    aside = set_aside(store.path)
                except (OSError, StoreError) as again:
                    failed += f"; could not move it aside ({again})"
                else:
                    failed = f"the store {store.path} is damaged ({exc}); moved it to {aside.name}"
    ledger = new_ledger()  # a clean one: a failed run may have filled some
    files = _walk(roots, ledger.warn)
    loaded = _from_files(files, ledger, workers, keep, saved)
    loaded.store_failed = failed
    if store is None:
        return loaded
    return _with_telemetry(loaded, roots, store.path, new_ledger, None, keep, files)


def _sink(ledger: Ledger, keep: Callable[[Record], bool] | None) -> Sink:
    if keep is None:
        return ledger.ingest
    return lambda records: ledger.ingest([r for r in records if keep(r)])


def _walk(roots: Sequence[Path], warn: Warn) -> list[TranscriptFile]:
    return [f for root in roots for f in find_transcripts(root, warn)]


# -- without the store --------------------------------------------------------------------


def _from_files(
    files: list[TranscriptFile],
    ledger: Ledger,
    workers: bool,
    keep: Callable[[Record], bool] | None,
    saved: Saved | None = None,
) -> History:
    """Every transcript read now: by project in worker processes when that pays, else here.
    A report that wants only the finished documents (``saved`` without stats) gets them
    rendered by the workers, as the saved aggregates would give them."""
    from cctop.sources.transcripts import parallel
    from cctop.sources.transcripts.forked import WorkerLost
    from cctop.sources.transcripts.reader import read_all

    fanned_out = None
    try:
        if workers and saved is not None and not saved.stats:
            rendered = parallel.documents_by_project(files, ledger.fresh, time.time(), saved.document)
            if rendered is not None:
                rows, warnings = rendered
                for message in warnings:  # in the ledger, in the order the stats path gives them
                    ledger.warn(message)
                cached = CachedSessions([], rows)
                return History(ledger, len(files), cached=cached, bytes_read=sum(f.size for f in files))
        fanned_out = parallel.sessions_by_project(files, ledger.fresh, time.time()) if workers else None
    except WorkerLost as lost:  # e.g. the OOM killer took one: nothing of theirs is kept
        ledger.warn(f"{lost}; read in this process instead")
    if fanned_out is None:
        bytes_read = read_all(files, ledger.warn, _sink(ledger, keep))
        return History(ledger, len(files), bytes_read=bytes_read)
    stats, warnings = fanned_out
    for message in warnings:
        ledger.warn(message)
    return History(ledger, len(files), finished=stats, bytes_read=sum(f.size for f in files))


# -- through the store --------------------------------------------------------------------


def _through_store(
    roots: Sequence[Path],
    new_ledger: NewLedger,
    store: Store,
    saved: Saved | None,
    workers: bool,
    keep: Callable[[Record], bool] | None,
) -> History:
    if saved is None:  # every record, through the store; the saved aggregates are left alone
        ledger = new_ledger()
        files = _walk(roots, ledger.warn)
        bytes_read = feed_through_store(roots, files, files, ledger, _sink(ledger, keep), store)
        return History(ledger, len(files), bytes_read=bytes_read)
    # Saved aggregates answer for the roots they were built from, and only those.
    import hashlib  # here: it loads OpenSSL (~2.5 ms), which a read without a store never needs

    key = hashlib.sha256(repr((saved.key, sorted(str(r) for r in roots))).encode()).hexdigest()
    on_disk = quick_scan(roots)
    if on_disk is not None and store.cache_key() == key:
        known = _under(store.cache_files(), roots)
        if known == on_disk:
            cached = store.cached_sessions(key, saved.stats)
            if cached is not None:
                return History(new_ledger(), len(on_disk), cached=cached)
        changed = {p for p, v in on_disk.items() if known.get(p) != v} | (known.keys() - on_disk.keys())
        if len(changed) <= max(20, PARTIAL_MAX_SHARE * len(on_disk)):
            bytes_read = _follow_changes(roots, new_ledger, store, saved, key, on_disk, changed)
            cached = store.cached_sessions(key, saved.stats)
            if cached is not None:
                return History(new_ledger(), len(on_disk), cached=cached, bytes_read=bytes_read)
    from cctop.sources.transcripts.forked import WorkerLost  # as _rebuild's pools do, not before

    try:
        return _rebuild(roots, new_ledger, store, saved, key, workers)
    except WorkerLost as lost:  # e.g. the OOM killer took a worker mid-fill
        # What the workers stored is whole files, committed group by group: read the rest here.
        said = f"{lost}; read in this process instead"

        def saying() -> Ledger:
            ledger = new_ledger()
            ledger.warn(said)
            return ledger

        return _rebuild(roots, saying, store, saved, key, False)


def _follow_changes(
    roots: Sequence[Path],
    new_ledger: NewLedger,
    store: Store,
    saved: Saved,
    key: str,
    on_disk: dict[str, tuple[int, int, int]],
    changed: set[str],
) -> int:
    """Rebuild and save again only the sessions that ``changed`` files touch (in a ledger of
    their own: the answer is the saved aggregates); returns bytes read."""
    from cctop.sources.transcripts.tracker import FileTracker

    ledger = new_ledger()
    before = set(ledger.snapshot().warnings)
    touched: set[str] = set()

    def note(records: list[Record]) -> None:
        touched.update(r.session_id for r in records if r.session_id)

    stored = store.files()
    tracker = FileTracker(list(roots), note, ledger.warn, store)
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
    affected, files = _linked(store, touched, roots)
    _replay(files, ledger, ledger.ingest, store, affected)
    snapshot = ledger.snapshot()
    sessions = [snapshot.sessions[s] for s in affected if s in snapshot.sessions]
    warnings = [w for w in snapshot.warnings if w not in before]
    states = _unless_unreadable({p: on_disk.get(p) for p in changed}, warnings)
    store.save_sessions(key, sessions, warnings, saved.document, states, replace_all=False)
    return tracker.bytes_read


def _rebuild(
    roots: Sequence[Path], new_ledger: NewLedger, store: Store, saved: Saved, key: str, workers: bool
) -> History:
    """Everything again, and saved: projects that changed since they were stored through the
    store into a ledger (stored records, then what the files gained since); with ``workers``,
    projects the store holds nothing of (all of them on a first run) or holds unchanged (new
    prices or code) by worker processes instead, see ``_fill``."""
    from cctop.sources.transcripts import parallel

    ledger = new_ledger()
    # Warnings already given (prices, the store itself) belong to this run, not to the data.
    before = set(ledger.snapshot().warnings)
    files = _walk(roots, ledger.warn)
    known, unknown, replay = files, [], frozenset[str]()
    if workers:
        stored = store.files()
        changed = _changed_projects(files, stored, roots)
        unknown = [f for f in files if f.project not in changed]
        if parallel.pays(unknown):
            known = [f for f in files if f.project in changed]
            replay = frozenset(stored) & {f.path for f in unknown}
        else:
            unknown = []
    bytes_read = feed_through_store(roots, files, known, ledger, ledger.ingest, store, skip=replay)
    snapshot = ledger.snapshot()
    warnings = [w for w in snapshot.warnings if w not in before]
    states = _unless_unreadable({f.path: (f.device, f.inode, f.size) for f in files}, warnings)
    if not unknown:
        store.save_sessions(key, list(snapshot.sessions.values()), warnings, saved.document, states)
        return History(ledger, len(files), bytes_read=bytes_read)
    rows = {s.id: session_row(s, saved.document) for s in snapshot.sessions.values()}
    filled, more_warnings, more_bytes = _fill(unknown, ledger, store, saved.document, replay)
    parallel.keep_bigger(rows, [(row.id, row) for row in filled], lambda row: row.requests)
    from_workers = {row.id for row in filled}
    here = set(rows) - from_workers
    rows.update(_across_the_split(roots, new_ledger, store, saved.document, here, from_workers))
    warnings = list(dict.fromkeys([*warnings, *more_warnings]))
    states = _unless_unreadable(states, warnings)
    store.save_rows(key, list(rows.values()), warnings, states)
    cached = CachedSessions(warnings, list(rows.values()))
    return History(new_ledger(), len(files), cached=cached, bytes_read=bytes_read + more_bytes)


def _unless_unreadable(
    states: dict[str, tuple[int, int, int] | None], warnings: list[str]
) -> dict[str, tuple[int, int, int] | None]:
    """File states to save with the aggregates, but a file that could not be read is saved
    as unknown: the next run tries it again (a chmod changes no size), and its warning is
    replaced by whatever that run finds."""
    unreadable = [w for w in warnings if w.startswith("cannot read ")]
    if not unreadable:
        return states
    return {p: (None if any(w.startswith(f"cannot read {p}:") for w in unreadable) else v)
            for p, v in states.items()}  # fmt: skip


def _across_the_split(
    roots: Sequence[Path],
    new_ledger: NewLedger,
    store: Store,
    document: Callable[[SessionStats], bytes],
    here: set[str],
    workers: set[str],
) -> dict[str, SessionRow]:
    """Sessions read in this process (``here``) that share a call with sessions the workers
    read (``workers``) were counted by two ledgers: such sessions, and every session linked
    to them, are summed again in one ledger from the stored records (all stored by now).
    Returns their rows (usually none)."""
    seeds = store.linked_sessions(here) & workers if here else set()
    if not seeds:
        return {}
    affected, files = _linked(store, seeds, roots)
    joint = new_ledger()
    _replay(files, joint, joint.ingest, store, affected)
    snapshot = joint.snapshot()
    return {s.id: session_row(s, document) for s in snapshot.sessions.values() if s.id in affected}


def feed_through_store(
    roots: Sequence[Path],
    files: Sequence[TranscriptFile],
    known: Sequence[TranscriptFile],
    ledger: Ledger,
    sink: Sink,
    store: Store,
    skip: frozenset[str] = frozenset(),
) -> int:
    """Into ``sink``: the stored records of every stored file under ``roots`` but ``skip``
    (gone ones too: history; those not among ``files`` are marked gone in ``ledger``), then
    what the files of ``known`` gained since. A file of ``known`` the store lacks, or holds
    replaced or shrunk, is read whole (in worker processes when it pays) and stored. Returns
    bytes read."""
    from cctop.sources.transcripts import parallel
    from cctop.sources.transcripts.tracker import FileTracker

    warn = ledger.warn
    tracker = FileTracker(list(roots), sink, warn, store, ledger.mark_files_deleted, include_tail=True)
    tracker.retract = ledger.forget_sessions  # a file rewritten since it was stored
    tracker.load_store(present={f.path for f in files}, skip=skip)
    fresh = [f for f in known if tracker.needs_full_read(f)]
    fresh_paths = {f.path for f in fresh}
    for file in fresh:  # replaced or shrunk since stored: its stored records no longer hold
        tracker.take_back(file.path)

    def commit(file: TranscriptFile, result: FileResult) -> None:
        if result.failed:
            return  # unknown to the store, so the next run reads it again
        store.commit(
            file.path, file.device, file.inode, file.size, file.mtime, 0, result.offset, result.records
        )

    # Discovery order, as the --no-store path reads: the ledger keeps the same first sightings.
    bytes_read = parallel.read_many(fresh, warn, sink, on_file=commit)
    for file in sorted(known, key=lambda f: f.mtime, reverse=True):
        if file.path not in fresh_paths:
            tracker.update(file.path, file.role)
    return bytes_read + tracker.bytes_read


def _fill(
    files: list[TranscriptFile], ledger: Ledger, store: Store, document: Callable[[SessionStats], bytes],
    replay: frozenset[str],
) -> tuple[list[SessionRow], list[str], int]:  # fmt: skip
    """Projects the store holds nothing of (the first run, --rebuild, the rest of a first run
    that was killed): worker processes read them, each project in one ledger, and hand back
    every file's records encoded for the store plus finished session rows; this process only
    writes them, a group of projects per transaction. Files in ``replay`` (projects stored
    whole and unchanged) are read back from the store by the workers instead. Returns
    (session rows, warnings, bytes read)."""
    from cctop.sources.transcripts import parallel

    bytes_read = 0

    def write(group: list, keys: list) -> None:
        nonlocal bytes_read
        store.commit_whole_files(group, keys)
        bytes_read += sum(f.offset for f in group)

    filled = parallel.fill_by_project(
        files, ledger.fresh, time.time(), document, write, replay, str(store.path)
    )
    assert filled is not None, "only called when workers pay"
    rows, warnings = filled
    return rows, warnings, bytes_read


def _changed_projects(
    files: list[TranscriptFile], stored: dict[str, StoredFile], roots: Sequence[Path]
) -> set[tuple[str, str] | None]:
    """Projects the store holds something of that is not exactly what is on disk: a file new,
    replaced, grown, gone or with a last line not stored yet. The others are either unknown
    to the store or stored whole."""
    on_disk = {f.path: f for f in files}
    changed: set[tuple[str, str] | None] = set()
    for path, known in stored.items():
        project = project_of(path, roots)
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
    stored_projects = {project_of(path, roots) for path in stored}
    for path in on_disk:
        if path not in stored and project_of(path, roots) in stored_projects:
            changed.add(project_of(path, roots))
    return changed


def _under(files: dict[str, tuple[int, int, int]], roots: Sequence[Path]) -> dict[str, tuple[int, int, int]]:
    return {path: state for path, state in files.items() if project_of(path, roots)}


def _linked(store: Store, seeds: set[str], roots: Sequence[Path]) -> tuple[set[str], list[StoredFile]]:
    """``seeds`` and every session sharing a dedupe key or a file with one of them, closed
    over both (the ledger decides between such sessions, so they are rebuilt together), and
    the stored files under ``roots`` that feed them."""
    stored = store.files()
    affected = store.linked_sessions(seeds)
    while True:
        files = [f for f in stored.values() if f.sessions & affected and project_of(f.path, roots)]
        more = set().union(*(f.sessions for f in files)) - affected
        if not more:
            return affected, files
        affected = store.linked_sessions(affected | more)


def _replay(
    files: list[StoredFile], ledger: Ledger, sink: Sink, store: Store, sessions: set[str]
) -> None:
    """Stored files' records into ``sink``, newest first (as every read goes); ``sessions``
    none of whose files is left on disk are marked deleted, as the live view marks them."""
    files = sorted(files, key=lambda f: f.mtime, reverse=True)
    for records in store.load([f.path for f in files]):
        sink(records)
    for session_id in sessions:
        if not any(not f.gone for f in files if session_id in f.sessions):
            ledger.mark_files_deleted(session_id)


# -- telemetry kept in the store -----------------------------------------------------------


def _with_telemetry(
    loaded: History,
    roots: Sequence[Path],
    store_path: Path,
    new_ledger: NewLedger,
    store: Store | None,
    keep: Callable[[Record], bool] | None,
    files: list[TranscriptFile] | None = None,
) -> History:
    """Join the telemetry a live ``cctop --otlp`` kept, as the live view does: sessions seen
    only over OTLP are added, and a session with transcripts too gets the calls only
    telemetry saw, Claude Code's own cost and its API errors. Where ``loaded`` holds finished
    figures, the whole projects of the sessions with telemetry are read into its (empty)
    ledger first, from ``store`` or else from ``files``: replayed history (resumed and forked
    sessions) stays inside its project and the ledger decides its owner among all copies."""
    batches = kept_batches(store_path, loaded.ledger.warn)
    if not batches:
        return loaded
    ledger = loaded.ledger
    sink = _sink(ledger, keep)
    if not loaded.complete:
        told = {r.session_id for records in batches for r in records if r.session_id}
        try:
            if store is not None:
                _projects_from_store(told, roots, ledger, sink, store)
            else:
                from cctop.sources.transcripts.reader import read_all

                chosen = {f.project for f in files or () if f.role.session_id in told}
                read_all([f for f in files or () if f.project in chosen], ledger.warn, sink)
        except sqlite3.Error as exc:
            clean = new_ledger()  # the join is left out whole, never half done
            clean.warn(f"cannot join telemetry to transcripts from {store_path} ({exc})")
            return History(clean, loaded.files, loaded.finished, loaded.cached, loaded.bytes_read)
    for records in batches:  # after the transcripts: the order a fresh live ledger sees
        sink(records)
    return loaded


def _projects_from_store(
    session_ids: set[str], roots: Sequence[Path], ledger: Ledger, sink: Sink, store: Store
) -> None:
    """Every stored file (the store holds every file under the roots by now, deleted ones
    too) of the projects holding one of ``session_ids``."""
    stored = [f for f in store.files().values() if project_of(f.path, roots) is not None]
    projects = {project_of(f.path, roots) for f in stored if f.sessions & session_ids}
    chosen = [f for f in stored if project_of(f.path, roots) in projects]
    sessions = {s for f in chosen for s in f.sessions}
    _replay(chosen, ledger, sink, store, sessions)


# -- what saved aggregates depend on -------------------------------------------------------


def aggregate_key(pricebook: object, summarizer: bool, *modules: ModuleType) -> str:
    """What saved aggregates depend on besides the transcripts: the prices, and the source of
    the code that turns records into output (the ledger, the cache summary, ``modules``...),
    so a price fix or an edited formula invalidates them."""
    import hashlib  # as in _through_store

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
