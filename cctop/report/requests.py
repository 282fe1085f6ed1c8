"""``cctop --once --requests``: one row per deduplicated API call, for reconciling with billing.

CSV (RFC 4180, header row) by default, JSON Lines with ``--json``, oldest call first. Every
figure is the ledger's own (its dedupe, attribution and price): this module only fills a
ledger with every call record, picks the calls and writes them.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from cctop import format as fmt
from cctop.launch import Runtime, make_runtime, missing_roots_message, open_store, say_store_failed
from cctop.model.ledger import Ledger
from cctop.model.records import Prompt, Record, Source, ToolResult, ToolUse
from cctop.model.snapshot import PricedCall, SessionStats
from cctop.report.sessions import SessionFilter
from cctop.report.stdout import quiet_stdout
from cctop.sources import load

COLUMNS = (
    "timestamp",
    "session_id",
    "project",
    "agent",
    "model",
    "message_id",
    "request_id",
    "input_tokens",
    "output_tokens",
    "output_is_lower_bound",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "web_search_requests",
    "cost_usd",
    "reported_cost_usd",
    "sources",
)


def run_requests(args: argparse.Namespace) -> int:
    runtime = make_runtime(args)
    store = open_store(args, runtime.warn)
    try:
        # Every call record, not the saved per-session aggregates (those are --once's).
        loaded = load.history(runtime.roots, _ledger_for(runtime), store, keep=_row_needs)
    finally:
        if store is not None:
            store.close()
    if loaded.store_failed:
        say_store_failed(loaded.store_failed)
    ledger = loaded.ledger
    session_filter = SessionFilter(project=args.project, session=args.session)
    rows = (_row(stats, priced) for stats, priced in _calls(ledger, session_filter, args.since))
    try:
        if args.json:
            _write_jsonl(rows, sys.stdout.buffer)
        else:
            _write_csv(rows, sys.stdout.buffer)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        quiet_stdout()
        return 0
    for warning in ledger.snapshot().warnings:
        print(f"warning: {fmt.safe_text(warning)}", file=sys.stderr)
    if not loaded.files and not ledger.session_ids():  # the header alone on stdout, and why on stderr
        print(missing_roots_message(runtime.roots), file=sys.stderr)  # its paths are made safe
    return 0


# The bulk of a transcript's records that no row needs and no call's dedupe, attribution or
# price depends on: left out, they cost neither ingest time nor memory.
_UNUSED = (ToolUse, ToolResult, Prompt)


def _row_needs(record: Record) -> bool:
    return not isinstance(record, _UNUSED)


def _ledger_for(runtime: Runtime) -> Callable[[], Ledger]:
    """Ledgers without the cache summarizer, which rows never need."""

    def new_ledger() -> Ledger:
        ledger = Ledger(runtime.pricebook)
        for message in runtime.warnings:
            ledger.warn(message)
        return ledger

    return new_ledger


# -- rows ---------------------------------------------------------------------------------


def _calls(
    ledger: Ledger, session_filter: SessionFilter, since: float | None
) -> list[tuple[SessionStats, PricedCall]]:
    """The selected sessions' calls, oldest first (calls without a time last); ``since`` keeps
    calls made at or after it. A call belongs to the session the ledger counts it in."""
    snapshot = ledger.snapshot()
    chosen: list[tuple[SessionStats, PricedCall]] = []
    for stats in snapshot.sessions.values():
        if not session_filter.accepts(stats):
            continue
        detail = ledger.session_detail(stats.id, snapshot.generated_at)
        for priced in detail.calls if detail is not None else ():
            ts = priced.call.timestamp
            if since is None or (ts is not None and ts >= since):
                chosen.append((stats, priced))
    chosen.sort(key=_order)
    return chosen


def _order(item: tuple[SessionStats, PricedCall]) -> tuple:
    stats, priced = item
    call = priced.call
    ts = call.timestamp
    # Ties broken by ids, so every reading order (store or not) writes the same file.
    return (ts is None, ts or 0.0, stats.id, call.message_id or "", call.request_id or "")


def _row(stats: SessionStats, priced: PricedCall) -> dict[str, Any]:
    call = priced.call
    # Writes the log did not split into 5m/1h count as 5m, as cctop prices them, so the two
    # columns add up to the cache writes --once reports.
    write_1h = call.cache_creation_1h_tokens
    write_5m = max(call.cache_creation_5m_tokens, call.cache_creation_tokens - write_1h)
    sources = priced.sources
    return {
        "timestamp": fmt.iso(call.timestamp),
        "session_id": stats.id,
        "project": stats.project,
        "agent": call.agent_id,
        "model": call.model,
        "message_id": call.message_id,
        "request_id": call.request_id,
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "output_is_lower_bound": not call.final,
        "cache_read_tokens": call.cache_read_tokens,
        "cache_write_5m_tokens": write_5m,
        "cache_write_1h_tokens": write_1h,
        "web_search_requests": call.web_search_requests,
        "cost_usd": _round(priced.cost_usd),
        "reported_cost_usd": _round(priced.reported_cost_usd),
        "sources": "both" if len(sources) > 1 else next(iter(sources), Source.TRANSCRIPT).value,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


# -- writers ------------------------------------------------------------------------------


def _write_csv(rows: Iterable[dict[str, Any]], out) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    try:
        writer = csv.writer(text, lineterminator="\r\n")  # RFC 4180: CRLF, minimal quoting
        writer.writerow(COLUMNS)
        writer.writerows(map(_csv_cells, rows))
        text.flush()
    finally:
        text.detach()  # leave sys.stdout's buffer open


def _csv_cells(row: dict[str, Any]) -> list[str]:
    """One row's cells, in COLUMNS order: null is empty, booleans true/false."""
    cost, reported = row["cost_usd"], row["reported_cost_usd"]
    return [
        row["timestamp"] or "",
        _text(row["session_id"]),
        _text(row["project"]),
        _text(row["agent"]),
        _text(row["model"]),
        _text(row["message_id"]),
        _text(row["request_id"]),
        str(row["input_tokens"]),
        str(row["output_tokens"]),
        "true" if row["output_is_lower_bound"] else "false",
        str(row["cache_read_tokens"]),
        str(row["cache_write_5m_tokens"]),
        str(row["cache_write_1h_tokens"]),
        str(row["web_search_requests"]),
        "" if cost is None else _decimal(cost),
        "" if reported is None else _decimal(reported),
        row["sources"],
    ]


def _text(value: str | None) -> str:
    """Text from a log; control characters shown as visible escapes (fmt.safe_text, which
    leaves printable text as it is: the check first skips its work for almost every id)."""
    if value is None:
        return ""
    return value if value.isprintable() else fmt.safe_text(value)


def _decimal(value: float) -> str:
    """Plain decimal notation (no exponent), as spreadsheets and billing exports use."""
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _write_jsonl(rows: Iterable[dict[str, Any]], out) -> None:
    out.writelines(_json_lines(rows))


def _json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield fmt.json_safe(orjson.dumps(row)) + b"\n"
