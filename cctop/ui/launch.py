"""``cctop`` with no arguments: wire the runtime and its sources to the app, run it."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable

from cctop import format as fmt


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
    from cctop.runtime import open_store
    from cctop.sources.tailer import Tailer

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

    from cctop.sources.otlp_archive import OtlpArchive

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
    from cctop.runtime import make_runtime
    from cctop.ui.app import CctopApp

    runtime = make_runtime(args)
    warnings: list[str] = []
    with contextlib.ExitStack() as stack:
        tailer, store = _start_transcripts(runtime, args, stack)
        archive = _open_archive(store, runtime.ledger, stack)
        parts = [_tailer_part(tailer)]
        if getattr(args, "otlp", False):
            from cctop.sources.otlp.listener import OtlpConfig, OtlpListener
            from cctop.sources.otlp_archive import archive_sink

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
