"""``cctop --once``: read everything, print one table or JSON document, exit."""

from __future__ import annotations

import argparse
import sys
from types import MappingProxyType

import orjson

from cctop import report
from cctop.model.snapshot import SessionStats, Snapshot, TokenTotals, Totals, WindowTotals
from cctop.runtime import Runtime, make_runtime, missing_roots_message, open_store
from cctop.sources.discovery import find_transcripts
from cctop.sources.parallel import read_many


def run_once(args: argparse.Namespace) -> int:
    runtime = make_runtime(args)
    ledger = runtime.ledger
    store = open_store(args, runtime.warn)
    if store is None:
        files = [f for root in runtime.roots for f in find_transcripts(root, runtime.warn)]
        read_many(files, runtime.warn, ledger.ingest)
        snapshot = ledger.snapshot()
    else:
        snapshot, files = _from_store(runtime, store)
    session_filter = report.SessionFilter(since=args.since, project=args.project, session=args.session)
    sessions = report.select(snapshot, session_filter)
    if args.json:
        document = report.document(snapshot, sessions)
        if not files:
            document["warnings"].append(missing_roots_message(runtime.roots))
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    from rich.console import Console
    from rich.text import Text

    out = Console()
    err = Console(stderr=True)
    if not files:
        err.print(Text(missing_roots_message(runtime.roots)))
        return 0
    out.print(report.table(snapshot, sessions, out.width))
    for warning in snapshot.warnings:
        err.print(Text(f"warning: {warning}"), style="yellow")
    return 0


def _from_store(runtime: Runtime, store) -> tuple[Snapshot, list]:
    """Through the store: its saved aggregates when nothing changed, else the ledger fed from
    stored records plus appended bytes. ``files`` is only checked for emptiness."""
    from cctop.sources import history

    key = history.price_key(runtime.pricebook, runtime.cache_summaries)
    try:
        loaded = history.load(runtime.roots, runtime.ledger, store, runtime.warn, key)
    finally:
        store.close()
    snapshot = runtime.ledger.snapshot()
    files = [None] * loaded.files
    if loaded.sessions is None:
        return snapshot, files
    # Saved aggregates: today/last-hour windows need the calls, and --once never shows them.
    warnings = list(dict.fromkeys([*snapshot.warnings, *loaded.warnings]))
    sessions = {s.id: s for s in loaded.sessions}
    totals = Totals(report_totals(loaded.sessions), WindowTotals(), WindowTotals(), 0.0, len(sessions))
    return Snapshot(
        snapshot.version, snapshot.generated_at, MappingProxyType(sessions), totals, tuple(warnings)
    ), files


def report_totals(sessions: list[SessionStats]) -> TokenTotals:
    return TokenTotals(
        sum(s.tokens.requests for s in sessions),
        sum(s.tokens.input_tokens for s in sessions),
        sum(s.tokens.output_tokens for s in sessions),
        sum(s.tokens.cache_read_tokens for s in sessions),
        sum(s.tokens.cache_creation_tokens for s in sessions),
        sum(s.tokens.cost_usd for s in sessions),
        sum(s.tokens.unpriced_requests for s in sessions),
    )
