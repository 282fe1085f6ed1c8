"""``cctop --once``: read everything, print one table or JSON document, exit."""

from __future__ import annotations

import argparse
import sys
import time
from types import MappingProxyType

import orjson

from cctop import format as fmt
from cctop import report
from cctop.model.ledger import Ledger
from cctop.model.snapshot import Snapshot, Totals, WindowTotals
from cctop.runtime import Runtime, make_runtime, missing_roots_message, open_store


def run_once(args: argparse.Namespace) -> int:
    runtime = make_runtime(args)
    store = open_store(args, runtime.warn)
    summaries = None
    snapshot = None
    if store is not None:
        import sqlite3

        try:
            snapshot, summaries, count = _from_store(runtime, store, args)
            files = [None] * count  # only its emptiness matters below
        except sqlite3.DatabaseError as exc:  # damaged past what opening it could tell
            print(
                f"cctop: the store {store.path} failed ({exc}); reading the transcripts instead. "
                "Run 'cctop --once --rebuild' to rebuild it.",
                file=sys.stderr,
            )
            runtime = make_runtime(args)  # a clean ledger: the failed run may have filled some
    if snapshot is None:
        snapshot, files = _read_fresh(runtime)
    if store is not None:
        snapshot = _with_telemetry(runtime, store.path, snapshot, as_summaries=summaries is not None)
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
    out.print(report.table(snapshot, sessions, out.width))
    for warning in snapshot.warnings:
        err.print(Text(f"warning: {fmt.safe_text(warning)}"), style="yellow", soft_wrap=True)
    return 0


def _with_telemetry(runtime: Runtime, store_path, snapshot: Snapshot, as_summaries: bool) -> Snapshot:
    """Add the sessions seen only over OTLP, which a live ``cctop --otlp`` kept in the store.
    A session that also has transcripts keeps its transcript figures here (the live view
    reconciles the two call by call)."""
    import sqlite3

    from cctop.sources.otlp_archive import OtlpArchive

    try:
        archive = OtlpArchive(store_path)
        try:
            batches = list(archive.load())
        finally:
            archive.close()
    except sqlite3.Error as exc:
        runtime.warn(f"cannot read the telemetry kept in {store_path} ({exc})")
        return snapshot
    if not batches:
        return snapshot
    ledger = Ledger(runtime.pricebook, cache_summarizer=runtime.ledger.cache_summarizer)
    for records in batches:
        ledger.ingest(records)
    extra = [
        s for s in ledger.snapshot(snapshot.generated_at).sessions.values() if s.id not in snapshot.sessions
    ]
    if not extra:
        return snapshot
    if as_summaries:  # the saved-documents path: give each its finished document too
        extra = [_Summary(s, _session_document(s)) for s in extra]
    return _snapshot_of([*snapshot.sessions.values(), *extra], snapshot, snapshot.warnings)


class _Summary:
    """A SessionStats with its JSON document, as the saved-documents path expects."""

    def __init__(self, stats, document: bytes) -> None:
        self._stats = stats
        self.document = document

    def __getattr__(self, name: str):
        return getattr(self._stats, name)


def _read_fresh(runtime: Runtime) -> tuple[Snapshot, list]:
    """Every transcript read now, without the store: by project in worker processes when the
    tree is big enough for that to pay, else in this process."""
    from cctop.sources.discovery import find_transcripts
    from cctop.sources.parallel import sessions_by_project
    from cctop.sources.reader import read_all

    files = [f for root in runtime.roots for f in find_transcripts(root, runtime.warn)]
    ledger = runtime.ledger
    now = time.time()
    fanned_out = sessions_by_project(files, runtime.pricebook, ledger.cache_summarizer, now)
    if fanned_out is None:
        read_all(files, runtime.warn, ledger.ingest)
        return ledger.snapshot(now), files
    stats, worker_warnings = fanned_out
    own = ledger.snapshot(now)  # warnings said here (prices, unreadable dirs)
    return _snapshot_of(stats, own, [*own.warnings, *worker_warnings]), files


def _from_store(runtime: Runtime, store, args: argparse.Namespace):
    """Through the store: its saved aggregates when no transcript changed, else the ledger fed
    from stored records plus appended bytes. Returns (snapshot, summaries, file count);
    ``summaries`` (with --json and saved aggregates) are light stand-ins carrying finished
    JSON documents, else None."""
    from cctop.sources import history

    key = history.aggregate_key(
        runtime.pricebook, runtime.cache_summaries, report, fmt, sys.modules[__name__]
    )
    try:
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
    finally:
        store.close()
    snapshot = runtime.ledger.snapshot()
    if loaded.cached is None:
        return snapshot, None, loaded.files
    stand_ins = loaded.cached.summaries() if args.json else loaded.cached.sessions()
    snapshot = _snapshot_of(stand_ins, snapshot, [*snapshot.warnings, *loaded.cached.warnings])
    return snapshot, (stand_ins if args.json else None), loaded.files


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
