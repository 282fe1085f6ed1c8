"""Start-up wiring: prices, roots, the ledger and its sources for ``--once`` and the TUI,
and the live app with its tailer, store and OTLP listener."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cctop import format as fmt
from cctop.format import safe_text
from cctop.model.cache import make_summarizer
from cctop.model.ledger import CacheSummarizer, Ledger
from cctop.model.pricing import PriceBook
from cctop.sources.prices import load_pricebook
from cctop.sources.transcripts.discovery import default_roots, unique_roots

if TYPE_CHECKING:
    from cctop.sources.transcripts.tailer import Tailer
    from cctop.store.database import Store
    from cctop.store.telemetry import OtlpArchive


@dataclass
class Runtime:
    """What every front end starts from: the price book, where transcripts live, and what was
    said so far (price file, store), which every ledger made here starts with."""

    pricebook: PriceBook
    roots: list[Path]
    summarizer: CacheSummarizer
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def new_ledger(self) -> Ledger:
        ledger = Ledger(self.pricebook, cache_summarizer=self.summarizer)
        for message in self.warnings:
            ledger.warn(message)
        return ledger


def make_runtime(args: argparse.Namespace) -> Runtime:
    pricebook, price_warnings = load_pricebook(args.prices)
    roots = unique_roots(args.claude_dir) if args.claude_dir else default_roots()
    return Runtime(pricebook, roots, make_summarizer(pricebook), list(price_warnings))


def open_store(args: argparse.Namespace, warn: Callable[[str], None]) -> Store | None:
    """The history store for these arguments, or None (``--no-store``, or unusable: said on stderr)."""
    if args.no_store:
        return None
    from cctop.store.database import Store, StoreError, default_path  # noqa: F811 - lazily

    path = args.store or default_path()
    try:
        return Store.open(path, warn, rebuild=args.rebuild)
    except StoreError as exc:
        import sys

        print(f"cctop: {safe_text(str(exc))}; continuing without the store", file=sys.stderr)
        return None


def say_store_failed(why: str) -> None:
    """On stderr: the store broke mid-run (past what opening it could tell); the transcripts
    were read instead."""
    import sys

    print(
        f"cctop: {safe_text(why)}; read the transcripts instead. "
        "Run 'cctop --once --rebuild' to rebuild it.",
        file=sys.stderr,
    )


def missing_roots_message(roots: list[Path]) -> str:
    looked = "\n".join(f"  {safe_text(root)}" for root in roots)  # paths may hold anything
    return (
        "No Claude Code transcripts found. Looked in:\n"
        f"{looked}\n"
        "Point cctop elsewhere with --claude-dir PATH (repeatable) or CLAUDE_CONFIG_DIR, "
        "or receive telemetry with --otlp (see 'cctop otlp-env')."
    )


def _tailer_part(tailer) -> Callable[[], tuple[str, str] | None]:
    """``transcripts: 12 files, backfill 40% (polling)``, or ``12 files 40% poll`` when narrow."""

    def part() -> tuple[str, str] | None:
        status = tailer.status
        text = f"transcripts: {status.files_watched} files"
        short = f"{status.files_watched} files"
        if status.backfill_total and status.backfill_done < status.backfill_total:
            percent = status.backfill_done * 100 // status.backfill_total
            text += f", backfill {percent}%"
            short += f" {percent}%"
        if status.polling:
            text += " (polling)"
            short += " poll"
        return text, short

    return part


def _otlp_part(listener) -> Callable[[], tuple[str, str] | None]:
    def part() -> tuple[str, str] | None:
        status = listener.status
        if not status.endpoints:
            return "OTLP: not listening", "OTLP off"
        text = "OTLP " + " ".join(status.endpoints) + f" ({status.requests} req)"
        short = f"OTLP {status.requests} req"
        if status.errors:
            text += f", {status.errors} refused"
            short += f" {status.errors}!"
        if status.last_request_at:
            text += f", last {fmt.ago(status.last_request_at)}"
        return text, short

    return part


def _start_transcripts(
    runtime: Runtime, ledger: Ledger, store: Store | None, stack: contextlib.ExitStack
) -> Tailer:
    from cctop.sources.transcripts.tailer import Tailer

    tailer = Tailer(
        runtime.roots,
        sink=ledger.ingest,
        warn=ledger.warn,
        store=store,
        on_deleted=ledger.mark_files_deleted,
    )
    tailer.start()
    stack.callback(tailer.stop)  # runs before the store closes (LIFO)
    return tailer


def _open_archive(store: Store | None, ledger: Ledger, stack: contextlib.ExitStack) -> OtlpArchive | None:
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


def _start_limits(app, store_path, warn, stack: contextlib.ExitStack) -> None:
    """Statusline samples from the store, polled by a thread that posts them to the app."""
    from cctop.sources.limits_poll import LimitsPoller
    from cctop.ui.messages import LimitSamples

    poller = LimitsPoller(
        store_path, lambda samples, dropped: app.post_message(LimitSamples(samples, dropped)), warn
    )
    poller.start()
    stack.callback(poller.stop)


def _start_live_sessions(app, roots, stack: contextlib.ExitStack) -> None:
    """Running Claude Code processes (sessions/<pid>.json), polled by a thread that posts them."""
    from cctop.sources.live_sessions import LiveSessionsPoller
    from cctop.ui.messages import LiveProcesses

    poller = LiveSessionsPoller(roots, lambda found: app.post_message(LiveProcesses(found)))
    poller.start()
    stack.callback(poller.stop)


def _thresholds(args: argparse.Namespace, default: tuple[float, ...]) -> tuple[float, ...]:
    chosen = getattr(args, "limit_alerts", None)
    return default if chosen is None else chosen


def run_tui(args: argparse.Namespace) -> int:
    from cctop.model.limits import DEFAULT_THRESHOLDS
    from cctop.ui.app import CctopApp

    runtime = make_runtime(args)
    warnings: list[str] = []
    with contextlib.ExitStack() as stack:
        store = open_store(args, runtime.warn)
        if store is not None:
            stack.callback(store.close)
        ledger = runtime.new_ledger()  # after the store: it starts with what opening it said
        tailer = _start_transcripts(runtime, ledger, store, stack)
        archive = _open_archive(store, ledger, stack)
        parts = [_tailer_part(tailer)]
        if args.otlp:
            from cctop.sources.otlp.listener import OtlpConfig, OtlpListener
            from cctop.store.telemetry import archive_sink

            listener = OtlpListener(
                OtlpConfig(args.otlp_bind, args.otlp_grpc_port, args.otlp_http_port, args.otlp_token),
                sink=archive_sink(ledger.ingest, archive, ledger.warn),
            )
            warnings.extend(listener.start())
            stack.callback(listener.stop)
            parts.append(_otlp_part(listener))
        app = CctopApp(
            ledger,
            sources=parts,
            roots=runtime.roots,
            refresh=max(0.2, float(args.refresh or 1.0)),
            open_session=args.session,
            otlp=bool(args.otlp),
            startup_warnings=warnings,
            backfilling=lambda: tailer.status.backfilling,
            limit_thresholds=_thresholds(args, DEFAULT_THRESHOLDS),
        )
        if store is not None:
            _start_limits(app, store.path, ledger.warn, stack)
        _start_live_sessions(app, runtime.roots, stack)
        app.run()
    return 0
