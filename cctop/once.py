"""``cctop --once``: read everything, print one table or JSON document, exit."""

from __future__ import annotations

import argparse
import sys

import orjson

from cctop import report
from cctop.runtime import make_runtime, missing_roots_message
from cctop.sources.discovery import find_transcripts
from cctop.sources.parallel import read_many


def run_once(args: argparse.Namespace) -> int:
    runtime = make_runtime(args)
    ledger = runtime.ledger
    files = [f for root in runtime.roots for f in find_transcripts(root, runtime.warn)]
    read_many(files, runtime.warn, ledger.ingest)
    snapshot = ledger.snapshot()
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
