"""``cctop --once``: read everything, print one table or JSON document, exit."""

from __future__ import annotations

import argparse
import os
import sys
import time
from types import MappingProxyType

import orjson

from cctop import format as fmt
from cctop.launch import Runtime, make_runtime, missing_roots_message, open_store, say_store_failed
from cctop.model.ledger import Ledger
from cctop.model.snapshot import Snapshot, Totals, WindowTotals
from cctop.report import sessions as report


def run_once(args: argparse.Namespace) -> int:
    if getattr(args, "requests", False):
        from cctop.report.requests import run_requests

        return run_requests(args)
    runtime = make_runtime(args)
    store = open_store(args, runtime.warn)
    try:
        snapshot, summaries, files = _read(runtime, store, args)
    finally:
        if store is not None:
            store.close()
    session_filter = report.SessionFilter(since=args.since, project=args.project, session=args.session)
    sessions = report.select(snapshot, session_filter)
    if args.json:
        if summaries is not None:
            warnings = list(snapshot.warnings)
            if not files:
                warnings.append(missing_roots_message(runtime.roots))
            sys.stdout.buffer.writelines(_json_chunks(snapshot, sessions, warnings))
            return 0
        document = report.document(snapshot, sessions)
        if not files:
            document["warnings"].append(missing_roots_message(runtime.roots))
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    from rich.console import Console
    from rich.text import Text

    out = Console()
    err = Console(stderr=True)
    if not files and not snapshot.sessions:  # the store may still hold history
        err.print(Text(missing_roots_message(runtime.roots)), soft_wrap=True)
        return 0
    out.print(report.table(snapshot, sessions, out.width), soft_wrap=True)
    for warning in snapshot.warnings:
        err.print(Text(f"warning: {fmt.safe_text(warning)}"), style="yellow", soft_wrap=True)
    return 0


def _read(runtime: Runtime, store, args: argparse.Namespace) -> tuple[Snapshot, list | None, list]:
    """Transcripts (through the store when there is one), then the telemetry the store kept.
    Returns (snapshot, summaries as in ``_from_store``, files: only their emptiness matters)."""
    if store is not None:
        import sqlite3

        try:
            snapshot, summaries, count, complete = _from_store(runtime, store, args)
        except sqlite3.DatabaseError as exc:  # damaged past what opening it could tell
            say_store_failed(store.path, exc)
            runtime = make_runtime(args)  # a clean ledger: the failed run may have filled some
        else:
            transcripts = _Transcripts(runtime, store=store)
            joined = _with_telemetry(
                runtime, store.path, snapshot, summaries is not None, complete, transcripts
            )
            return joined, summaries, [None] * count
    snapshot, files, complete = _read_fresh(runtime)
    if store is not None:
        transcripts = _Transcripts(runtime, files=files)
        snapshot = _with_telemetry(runtime, store.path, snapshot, False, complete, transcripts)
    return snapshot, None, files


def _with_telemetry(
    runtime: Runtime,
    store_path,
    snapshot: Snapshot,
    as_summaries: bool,
    complete: bool,
    transcripts: _Transcripts,
) -> Snapshot:
    """Join the telemetry a live ``cctop --otlp`` kept in the store, as the live view does:
    sessions seen only over OTLP are added, and a session with transcripts too gets the calls
    only telemetry saw, Claude Code's own cost and its API errors. ``complete`` says
    ``runtime.ledger`` holds every transcript record already; else the projects of the
    sessions with telemetry are read again into one ledger with it (and only those)."""
    from cctop.store.telemetry import kept_batches

    batches = kept_batches(store_path, runtime.warn)
    if not batches:
        return snapshot
    if complete:  # transcripts first, then telemetry: the order a fresh live ledger sees
        for records in batches:
            runtime.ledger.ingest(records)
        return runtime.ledger.snapshot(snapshot.generated_at)
    import sqlite3

    ledger = Ledger(runtime.pricebook, cache_summarizer=runtime.ledger.cache_summarizer)
    told = {r.session_id for records in batches for r in records if r.session_id}
    try:
        transcripts.feed(told, ledger)
    except sqlite3.Error as exc:
        runtime.warn(f"cannot join telemetry to transcripts from {store_path} ({exc})")
        return snapshot
    for records in batches:
        ledger.ingest(records)
    joined = ledger.snapshot(snapshot.generated_at)
    fresh = list(joined.sessions.values())
    if as_summaries:  # the saved-documents path: give each its finished document too
        fresh = [_Summary(s, _session_document(s)) for s in fresh]
    kept = [s for s in snapshot.sessions.values() if s.id not in joined.sessions]
    return _snapshot_of([*kept, *fresh], snapshot, [*snapshot.warnings, *joined.warnings])


class _Transcripts:
    """The transcript records of whole project directories, from the store (which holds every
    file under the roots once ``_from_store`` ran, deleted ones too) or, without a usable
    store, from the files. Whole directories, because replayed history (resumed and forked
    sessions) stays inside its project and the ledger decides its owner among all copies."""

    def __init__(self, runtime: Runtime, store=None, files: list | None = None) -> None:
        self._runtime = runtime
        self._store = store
        self._files = files or []

    def feed(self, session_ids: set[str], ledger: Ledger) -> None:
        """Into ``ledger``: every file of the projects holding one of ``session_ids``."""
        if self._store is None:
            self._feed_files(session_ids, ledger)
            return
        roots = self._runtime.roots
        stored = [f for f in self._store.files().values() if _project_of(f.path, roots) is not None]
        projects = {_project_of(f.path, roots) for f in stored if f.sessions & session_ids}
        chosen = [f for f in stored if _project_of(f.path, roots) in projects]
        chosen.sort(key=lambda f: f.mtime, reverse=True)  # newest first, as every read goes
        for records in self._store.load([f.path for f in chosen]):
            ledger.ingest(records)
        live = {s for f in chosen if not f.gone for s in f.sessions}
        for session_id in {s for f in chosen for s in f.sessions} - live:
            ledger.mark_files_deleted(session_id)  # as the live view marks them

    def _feed_files(self, session_ids: set[str], ledger: Ledger) -> None:
        from cctop.sources.transcripts.parallel import project_of
        from cctop.sources.transcripts.reader import read_all

        projects = {project_of(f) for f in self._files if f.role.session_id in session_ids}
        chosen = [f for f in self._files if project_of(f) in projects]
        read_all(chosen, ledger.warn, ledger.ingest)


def _project_of(path: str, roots) -> tuple[str, str] | None:
    """(root, project dir) of a stored path, as ``parallel.project_of``; None if under no root."""
    for root in roots:
        top = os.path.join(root, "")
        if path.startswith(top):
            return str(root), path[len(top) :].split(os.sep, 1)[0]
    return None


class _Summary:
    """A SessionStats with its JSON document, as the saved-documents path expects."""

    def __init__(self, stats, document: bytes) -> None:
        self._stats = stats
        self.document = document

    def __getattr__(self, name: str):
        return getattr(self._stats, name)


def _read_fresh(runtime: Runtime) -> tuple[Snapshot, list, bool]:
    """Every transcript read now, without the store: by project in worker processes when the
    tree is big enough for that to pay, else in this process. Returns (snapshot, files,
    whether ``runtime.ledger`` holds every record)."""
    from cctop.sources.transcripts.discovery import find_transcripts
    from cctop.sources.transcripts.parallel import sessions_by_project
    from cctop.sources.transcripts.reader import read_all

    files = [f for root in runtime.roots for f in find_transcripts(root, runtime.warn)]
    ledger = runtime.ledger
    now = time.time()
    fanned_out = sessions_by_project(files, runtime.pricebook, ledger.cache_summarizer, now)
    if fanned_out is None:
        read_all(files, runtime.warn, ledger.ingest)
        return ledger.snapshot(now), files, True
    stats, worker_warnings = fanned_out
    own = ledger.snapshot(now)  # warnings said here (prices, unreadable dirs)
    return _snapshot_of(stats, own, [*own.warnings, *worker_warnings]), files, False


def _from_store(runtime: Runtime, store, args: argparse.Namespace):
    """Through the store: its saved aggregates when no transcript changed, else the ledger fed
    from stored records plus appended bytes. Returns (snapshot, summaries, file count,
    whether ``runtime.ledger`` holds every record); ``summaries`` (with --json and saved
    aggregates) are light stand-ins carrying finished JSON documents, else None."""
    from cctop.sources import load as history

    key = history.aggregate_key(
        runtime.pricebook, runtime.cache_summaries, report, fmt, sys.modules[__name__]
    )
    loaded = history.load(
        runtime.roots,
        runtime.ledger,
        store,
        runtime.warn,
        key,
        _session_document,
        stats=not args.json,
        pricebook=runtime.pricebook,
    )
    snapshot = runtime.ledger.snapshot()
    if loaded.cached is None:
        return snapshot, None, loaded.files, True
    stand_ins = loaded.cached.summaries() if args.json else loaded.cached.sessions()
    snapshot = _snapshot_of(stand_ins, snapshot, [*snapshot.warnings, *loaded.cached.warnings])
    return snapshot, (stand_ins if args.json else None), loaded.files, False


def _session_document(stats) -> bytes:
    """One session as it sits in the --json document: indented two levels deeper."""
    return orjson.dumps(report.session_json(stats), option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    ")


def _json_chunks(snapshot: Snapshot, summaries: list, warnings: list[str]) -> list[bytes]:
    """Byte for byte what orjson writes for report.document, in pieces, with the saved session
    documents spliced in instead of rebuilt (and never copied into one big buffer)."""
    head = {
        "schema": report.JSON_SCHEMA_VERSION,
        "generated_at": fmt.iso(snapshot.generated_at),
        "sessions": [],
        "totals": report.totals_json(summaries),
        "warnings": warnings,
    }
    text = orjson.dumps(head, option=orjson.OPT_INDENT_2) + b"\n"
    if not summaries:
        return [text]
    # "sessions" precedes "warnings", so the first match is the key, not a warning's text.
    before, after = text.split(b'"sessions": []', 1)
    body = b",\n    ".join([s.document for s in summaries])
    return [before + b'"sessions": [\n    ', body, b"\n  ]" + after]


def _snapshot_of(sessions: list, base: Snapshot, warnings: list | tuple) -> Snapshot:
    """A snapshot of finished per-session figures (from workers or the store). The today and
    last-hour windows need the calls themselves, and --once never shows them."""
    totals = Totals(report.sum_tokens(sessions), WindowTotals(), WindowTotals(), 0.0, len(sessions))
    by_id = MappingProxyType({s.id: s for s in sessions})
    return Snapshot(base.version, base.generated_at, by_id, totals, tuple(dict.fromkeys(warnings)))
