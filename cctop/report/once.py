"""``cctop --once``: read everything, print one table or JSON document, exit."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from types import MappingProxyType

import orjson

from cctop import format as fmt
from cctop.launch import Runtime, make_runtime, missing_roots_message, open_store, say_store_failed
from cctop.model.snapshot import SessionStats, Snapshot, Totals, WindowTotals, sum_tokens
from cctop.report import limits as limits_report
from cctop.report import sessions as report
from cctop.sources import load


def run_once(args: argparse.Namespace) -> int:
    if args.requests:
        from cctop.report.requests import run_requests

        return run_requests(args)
    # A one-shot run: the figures it unpickles from the workers and the document it builds
    # live until it prints; the cycle collector would only walk them again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run_once(args)
    finally:
        if collecting:
            gc.enable()


def _run_once(args: argparse.Namespace) -> int:
    runtime = make_runtime(args)
    store = open_store(args, runtime.warn)
    # The key says whether a store's saved aggregates still hold; without a store it is never
    # read, and hashing the code that shapes them costs a cold read ~4 ms before it starts.
    key = _aggregate_key(runtime) if store is not None else ""
    saved = load.Saved(key, _session_document, stats=not args.json)
    limits_said: list[str] = []
    try:
        loaded = load.history(runtime.roots, runtime.new_ledger, store, saved=saved)
        limits = _limits(runtime, loaded, store, limits_said, shares=args.json)
    finally:
        if store is not None:
            store.close()
    if loaded.store_failed:
        say_store_failed(loaded.store_failed)
    snapshot, documents = _snapshot(loaded, runtime.warnings, as_json=args.json)
    session_filter = report.SessionFilter(since=args.since, project=args.project, session=args.session)
    sessions = report.select(snapshot, session_filter)
    if args.json:
        try:
            _write_json(runtime, loaded, snapshot, sessions, documents, limits, limits_said)
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            from cctop.report.stdout import quiet_stdout

            quiet_stdout()
        return 0
    from rich.console import Console
    from rich.text import Text

    out = Console()
    err = Console(stderr=True)
    if not loaded.files and not snapshot.sessions:  # the store may still hold history
        err.print(Text(missing_roots_message(runtime.roots)), soft_wrap=True)
        return 0
    out.print(report.table(snapshot, sessions, out.width), soft_wrap=True)
    said = limits_report.limits_line(limits, time.time())
    if said:
        out.print(Text(said), soft_wrap=True)
    for warning in [*snapshot.warnings, *limits_said]:
        err.print(Text(f"warning: {fmt.safe_text(warning)}"), style="yellow", soft_wrap=True)
    return 0


def _write_json(runtime: Runtime, loaded: load.History, snapshot: Snapshot, sessions, documents: bool, limits,
                limits_said: list[str]) -> None:  # fmt: skip
    if documents:  # the saved documents are spliced in, not rebuilt
        warnings = [*snapshot.warnings, *limits_said]
        if not loaded.files:
            warnings.append(missing_roots_message(runtime.roots))
        sys.stdout.buffer.writelines(_json_chunks(snapshot, sessions, warnings, limits))
        return
    document = report.document(snapshot, sessions)
    document["warnings"].extend(limits_said)
    limits_report.add_to_document(document, limits)
    if not loaded.files:
        document["warnings"].append(missing_roots_message(runtime.roots))
    sys.stdout.buffer.write(fmt.json_safe(orjson.dumps(document, option=orjson.OPT_INDENT_2)) + b"\n")


def _limits(runtime: Runtime, loaded: load.History, store, warnings: list[str], shares: bool = True):
    """The subscription limits from the statusline samples the store kept (None without a
    store or samples). Rises are attributed (``shares``) to the calls the ledger holds or,
    when the answer came from saved aggregates, to the calls of the stored files written since."""
    if store is None:
        return None
    import sqlite3

    def calls(since: float) -> list:
        if not shares:
            return []
        if loaded.complete:
            return loaded.ledger.calls_since(since)
        ledger = runtime.new_ledger()
        tops = [os.path.join(root, "") for root in runtime.roots]
        recent = [
            f.path for f in store.files().values()
            if f.mtime >= since and any(f.path.startswith(top) for top in tops)
        ]  # fmt: skip
        try:
            for records in store.load(recent):
                ledger.ingest(records)
        except sqlite3.Error as exc:
            warnings.append(f"cannot read the calls to share the limits among ({exc})")
        return ledger.calls_since(since)

    return limits_report.load_view(store.path, time.time(), calls, warnings.append)


def _aggregate_key(runtime: Runtime) -> str:
    """What the saved aggregates depend on: prices, and the code that shapes the output."""
    return load.aggregate_key(runtime.pricebook, True, report, fmt, sys.modules[__name__])


def _snapshot(loaded: load.History, said: list[str], as_json: bool) -> tuple[Snapshot, bool]:
    """One snapshot of what ``history`` loaded, and whether its sessions carry their finished
    JSON documents (the saved aggregates answered a --json run). Sessions in the ledger
    (projects joined to telemetry) replace those of the same id."""
    own = loaded.ledger.snapshot()
    if loaded.complete:
        return own, False
    joined: list = list(own.sessions.values())
    if loaded.cached is not None:
        others: list = loaded.cached.summaries() if as_json else loaded.cached.sessions()
        if as_json:
            joined = [_Summary(s, _session_document(s)) for s in joined]
        warnings = [*said, *loaded.cached.warnings, *own.warnings]
    else:
        others = loaded.finished or []
        warnings = list(own.warnings)
    kept = [s for s in others if s.id not in own.sessions]
    return _snapshot_of([*kept, *joined], own, warnings), loaded.cached is not None and as_json


class _Summary:
    """A SessionStats with its JSON document, as the saved-documents path expects."""

    def __init__(self, stats: SessionStats, document: bytes) -> None:
        self._stats = stats
        self.document = document

    def __getattr__(self, name: str) -> object:
        return getattr(self._stats, name)


def _session_document(stats) -> bytes:
    """One session as it sits in the --json document: indented two levels deeper, and safe for
    a terminal (it is saved so, and spliced in as it is)."""
    document = orjson.dumps(report.session_json(stats), option=orjson.OPT_INDENT_2)
    return fmt.json_safe(document.replace(b"\n", b"\n    "))


def _json_chunks(
    snapshot: Snapshot, summaries: list, warnings: list[str], limits=None
) -> list[bytes | memoryview]:
    """Byte for byte what orjson writes for report.document, in pieces to write one after the
    other, with the saved session documents spliced in instead of rebuilt (and never copied
    into one big buffer: joining 22 MB of them cost more than writing the pieces). Safe for
    a terminal: the session documents were made safe when saved, the rest is made so here."""
    head = {
        "schema": report.JSON_SCHEMA_VERSION,
        "generated_at": fmt.iso(snapshot.generated_at),
        "sessions": [],
        "totals": report.totals_json(summaries),
        "limits": limits_report.limits_json(limits),
        "warnings": warnings,
    }
    text = orjson.dumps(head, option=orjson.OPT_INDENT_2) + b"\n"
    if not summaries:
        return [fmt.json_safe(text)]
    # "sessions" precedes "warnings", so the first match is the key, not a warning's text.
    before, after = text.split(b'"sessions": []', 1)
    pieces: list[bytes | memoryview] = [fmt.json_safe(before + b'"sessions": [\n    ')]
    for summary in summaries:
        pieces += limits_report.with_share(summary.document, limits, summary.id)
        pieces.append(b",\n    ")
    pieces[-1] = fmt.json_safe(b"\n  ]" + after)
    return pieces


def _snapshot_of(sessions: list, base: Snapshot, warnings: list | tuple) -> Snapshot:
    """A snapshot of finished per-session figures (from workers or the store). The today and
    last-hour windows need the calls themselves, and --once never shows them."""
    all_time = sum_tokens([s.tokens for s in sessions])
    totals = Totals(all_time, WindowTotals(), WindowTotals(), 0.0, len(sessions))
    by_id = MappingProxyType({s.id: s for s in sessions})
    return Snapshot(base.version, base.generated_at, by_id, totals, tuple(dict.fromkeys(warnings)))
