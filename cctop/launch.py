"""Start-up wiring: prices, roots, the ledger and its sources for ``--once`` and the TUI,
and the live app with its tailer, store and OTLP listener."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cctop import format as fmt
from cctop.format import safe_text
from cctop.model.ledger import Ledger
from cctop.sources.prices import load_pricebook
from cctop.sources.transcripts.discovery import default_roots, unique_roots


@dataclass
class Runtime:
    ledger: Ledger
    roots: list[Path]
    warnings: list[str] = field(default_factory=list)
    pricebook: object = None
    cache_summaries: bool = False  # whether sessions carry a cache summary

    def warn(self, message: str) -> None:
        self.ledger.warn(message)


def make_runtime(args: argparse.Namespace) -> Runtime:
    pricebook, price_warnings = load_pricebook(args.prices)
    summarizer = _cache_summarizer(pricebook)
    ledger = Ledger(pricebook, cache_summarizer=summarizer)
    roots = unique_roots(args.claude_dir) if args.claude_dir else default_roots()
    runtime = Runtime(ledger, roots, pricebook=pricebook, cache_summaries=summarizer is not None)
    for message in price_warnings:
        runtime.warn(message)
    return runtime


def open_store(args: argparse.Namespace, warn):
    """The history store for these arguments, or None (``--no-store``, or unusable: said on stderr)."""
    if getattr(args, "no_store", False):
        return None
    from cctop.store.database import Store, StoreError, default_path

    path = args.store if getattr(args, "store", None) else default_path()
    try:
        return Store.open(path, warn, rebuild=getattr(args, "rebuild", False))
    except StoreError as exc:
        import sys

        print(f"cctop: {exc}; continuing without the store", file=sys.stderr)
        return None


def say_store_failed(path: Path, exc: Exception) -> None:
    """On stderr: the store broke mid-run (past what opening it could tell); the caller reads
    the transcripts instead."""
    import sys

    print(
        f"cctop: the store {safe_text(str(path))} failed ({exc}); reading the transcripts instead. "
        "Run 'cctop --once --rebuild' to rebuild it.",
        file=sys.stderr,
    )


def _cache_summarizer(pricebook):
    try:
        from cctop.model.cache import make_summarizer
    except ImportError:
        return None
    return make_summarizer(pricebook)


def missing_roots_message(roots: list[Path]) -> str:
    looked = "\n".join(f"  {safe_text(root)}" for root in roots)  # paths may hold anything
    return (
        "No Claude Code transcripts found. Looked in:\n"
        f"{looked}\n"
        "Point cctop elsewhere with --claude-dir PATH (repeatable) or CLAUDE_CONFIG_DIR, "
        "or receive telemetry with --otlp (see 'cctop otlp-env')."
    )

def _tailer_part(tailer) -> Callable[[], str | None]:
    def part() -> str | None:
        status = tailer.status
        text = f"transcripts: {status.files_watched} files"
        if status.backfill_total and status.backfill_done < status.backfill_total:
            text += f", backfill {status.backfill_done * 100 // status.backfill_total}%"
        if status.polling:
            text += " (polling)"
        return text

    return part


def _otlp_part(listener) -> Callable[[], str | None]:
    def part() -> str | None:
        status = listener.status
        if not status.endpoints:
            return "OTLP: not listening"
        text = "OTLP " + " ".join(status.endpoints) + f" ({status.requests} req)"
        if status.errors:
            text += f", {status.errors} refused"
        if status.last_request_at:
            text += f", last {fmt.ago(status.last_request_at)}"
        return text

    return part


def _start_transcripts(runtime, args: argparse.Namespace, stack: contextlib.ExitStack):
    from cctop.sources.transcripts.tailer import Tailer

    ledger = runtime.ledger
    store = open_store(args, runtime.warn)
    if store is not None:
        stack.callback(store.close)
    tailer = Tailer(
        runtime.roots,
        sink=ledger.ingest,
        warn=ledger.warn,
        store=store,
        on_deleted=ledger.mark_files_deleted,
    )
    tailer.start()
    stack.callback(tailer.stop)  # runs before the store closes (LIFO)
    return tailer, store


def _open_archive(store, ledger, stack: contextlib.ExitStack):
    """Telemetry kept from earlier runs, replayed into the ledger; None without a store."""
    if store is None:
        return None
    import sqlite3

    from cctop.store.telemetry import OtlpArchive

    try:
        archive = OtlpArchive(store.path)
        for records in archive.load(ledger.warn):
            ledger.ingest(records)
    except sqlite3.Error as exc:
        ledger.warn(f"cannot read the telemetry kept in {store.path} ({exc})")
        return None
    stack.callback(archive.close)
    return archive


def run_tui(args: argparse.Namespace) -> int:
    from cctop.ui.app import CctopApp

    runtime = make_runtime(args)
    warnings: list[str] = []
    with contextlib.ExitStack() as stack:
        tailer, store = _start_transcripts(runtime, args, stack)
        archive = _open_archive(store, runtime.ledger, stack)
        parts = [_tailer_part(tailer)]
        if getattr(args, "otlp", False):
            from cctop.sources.otlp.listener import OtlpConfig, OtlpListener
            from cctop.store.telemetry import archive_sink

            listener = OtlpListener(
                OtlpConfig(args.otlp_bind, args.otlp_grpc_port, args.otlp_http_port, args.otlp_token),
                sink=archive_sink(runtime.ledger.ingest, archive, runtime.ledger.warn),
            )
            warnings.extend(listener.start())
            stack.callback(listener.stop)
            parts.append(_otlp_part(listener))
        app = CctopApp(
            runtime.ledger,
            sources=parts,
            roots=runtime.roots,
            refresh=max(0.2, float(getattr(args, "refresh", 1.0) or 1.0)),
            open_session=getattr(args, "session", None),
            otlp=bool(getattr(args, "otlp", False)),
            startup_warnings=warnings,
            rates_for=getattr(runtime.pricebook, "rates_for", None),
            backfilling=lambda: tailer.status.backfilling,
        )
        app.run()
    return 0
