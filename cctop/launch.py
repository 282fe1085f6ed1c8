"""Start-up wiring: prices, roots, the ledger and its sources for ``--once`` and the TUI,
and the live app with its tailer, store and OTLP listener."""

from __future__ import annotations

import argparse
import contextlib
import gc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

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
    from cctop.ui.app import CctopApp


class Runtime(msgspec.Struct):
    """What every front end starts from: the price book, where transcripts live, and what was
    said so far (price file, store), which every ledger made here starts with."""

    pricebook: PriceBook
    roots: list[Path]
    summarizer: CacheSummarizer
    warnings: list[str] = msgspec.field(default_factory=list)

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


def open_store(
    args: argparse.Namespace,
    warn: Callable[[str], None],
    check: bool = True,
    on_error: Callable[[str], None] | None = None,
) -> Store | None:
    """The history store for these arguments, or None (``--no-store``, or unusable: said on
    stderr). ``check``: look for damage that queries may not touch (a chunk under saved
    aggregates; ~40 ms for 30 MB) and set a damaged store aside now; the live view checks in
    its tailer thread instead. ``on_error`` hears why the store is unusable instead of stderr."""
    if args.no_store:
        return None
    from cctop.store.database import Store, StoreError, default_path  # noqa: F811 - lazily

    path = args.store or default_path()
    try:
        store = Store.open(path, warn, rebuild=args.rebuild)
        damage = store.damage() if check else None
        return store if damage is None else store.replace_damaged(damage, warn)
    except StoreError as exc:
        import sys

        message = f"{safe_text(str(exc))}; continuing without the store"
        if on_error is not None:  # the live view: stderr is under the screen
            on_error(message)
            return None
        print(f"cctop: {message}", file=sys.stderr)
        return None


def say_store_failed(why: str) -> None:
    """On stderr: the store broke mid-run (past what opening it could tell); the transcripts
    were read instead. A damaged one was set aside already (the next run rebuilds it)."""
    import sys

    hint = "" if "moved it to" in why else " Run 'cctop --once --rebuild' to rebuild it."
    print(f"cctop: {safe_text(why)}; read the transcripts instead.{hint}", file=sys.stderr)


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
        if status.store_state:  # "store: disk full — running in memory"
            text += f"; {status.store_state}"
            short += f"; {status.store_state.split(' — ')[0]}"
        if status.errors:
            text += f"; {status.errors} skipped after errors"
            short += f" {status.errors} err"
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
    runtime: Runtime, ledger: Ledger, store: Store | None, stack: contextlib.ExitStack,
    store_state: str | None = None,
) -> Tailer:  # fmt: skip
    from cctop.sources.transcripts.tailer import Tailer

    tailer = Tailer(
        runtime.roots,
        sink=ledger.ingest,
        warn=ledger.warn,
        store=store,
        on_deleted=ledger.mark_files_deleted,
        store_state=store_state,
        unwarn=ledger.withdraw,
        retract=ledger.forget_sessions,
        on_history_loaded=_collect_from_now_on,
    )
    tailer.start()
    stack.callback(tailer.store_close)  # the store in use then (a damaged one may be replaced)
    stack.callback(tailer.stop)  # runs before the store closes (LIFO)
    return tailer


def _collect_from_now_on() -> None:
    """The history is in: the cycle collector was off while it loaded (entry.py turns it off
    at start), as each full pass over the growing ledger held the GIL longer (up to 0.2 s, the
    UI frozen, on 1 GB of 2.1.197 history, and 18% of the load's time). Its objects live as
    long as the process: frozen, no later pass walks them again. The few cycles made
    meanwhile stay (~27k objects there, a few MB at most)."""
    gc.freeze()
    gc.enable()


def _store_state(args: argparse.Namespace, store: Store | None, said: list[str]) -> str | None:
    """The header's word on a store that opening did not go smoothly for."""
    if args.no_store:
        return None
    if store is None:
        return "store: unusable (see the warnings) — running in memory"
    if any("moved it to" in message for message in said):
        return "store damaged — rebuilt"
    return None


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


def _statusline_installed(roots: Sequence[Path]) -> bool:
    """Whether a watched config dir (a ``projects/`` root's parent) runs cctop's status line."""
    from cctop.report.statusline_install import is_installed

    return any(is_installed(root.parent / "settings.json") for root in roots)


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


LIVE_FIRST_WAIT_S = 0.25  # at most this long, the UI's start waits for the live sessions


def run_tui(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        tui_app(args, stack).run()
    return 0


def tui_app(args: argparse.Namespace, stack: contextlib.ExitStack) -> CctopApp:
    """The live view with its sources started (the tailer first: the history loads while the
    app starts), each stopped by ``stack``. bench/tui_start_bench.py runs it headless."""
    runtime = make_runtime(args)
    warnings: list[str] = []
    said: list[str] = []

    def warn(message: str) -> None:
        said.append(message)
        runtime.warn(message)

    # The tailer checks the store for damage, off the UI's path; an unusable store is said
    # in the warnings, as stderr is under the screen.
    store = open_store(args, warn, check=False, on_error=warn)
    ledger = runtime.new_ledger()  # after the store: it starts with what opening it said
    tailer = _start_transcripts(runtime, ledger, store, stack, _store_state(args, store, said))
    # The UI's imports (Textual: ~0.1 s of the interpreter) once the tailer has read the live
    # sessions: sharing it, the walk before them took 0.17 s instead of 0.02 (2.1.332 bench
    # tree) and they reached the screen later. A huge tree does not hold the UI back for long.
    tailer.wait_live(LIVE_FIRST_WAIT_S)
    from cctop.model.limit_sample import DEFAULT_THRESHOLDS
    from cctop.ui.app import CctopApp

    archive = _open_archive(store, ledger, stack)
    parts = [_tailer_part(tailer)]
    if args.otlp:
        from cctop.sources.otlp.listener import OtlpConfig, OtlpListener
        from cctop.store.telemetry import archive_sink

        listener = OtlpListener(
            OtlpConfig(args.otlp_bind, args.otlp_grpc_port, args.otlp_http_port, args.otlp_token),
            sink=archive_sink(ledger.ingest, archive, ledger.warn),
        )
        try:
            warnings.extend(listener.start())
        except ValueError as exc:  # no token beyond loopback: one clear line, no traceback
            raise SystemExit(f"cctop: {fmt.safe_text(str(exc))}") from None
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
        statusline_installed=_statusline_installed(runtime.roots),
    )
    if store is not None:
        _start_limits(app, store.path, ledger.warn, stack)
    _start_live_sessions(app, runtime.roots, stack)
    return app
