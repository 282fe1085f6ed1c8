"""``cctop report``'s output: the stable JSON document, CSV, or a plain table.

JSON (``"schema": 1``, fields only ever added) and CSV carry the same figures; the table
shows them rounded, with a sparkline of daily cost for weekly and monthly reports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from cctop import format as fmt
from cctop.model.periods import Figures, LocalTime, Report, Row, Usage, cost_by_day
from cctop.report.text_table import Column, fitted

JSON_SCHEMA_VERSION = 1

# Every row, breakdown entry and the totals carry these, in this order (CSV columns too).
FIGURES = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cost_usd",
    "cost_usd_priced",
    "unpriced_requests",
    "reported_cost_usd",
    "cache_hit_rate",
    "saved_usd",
    "break_cost_usd",
    "sessions",
    "tool_calls",
)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


def figures_json(f: Figures) -> dict[str, Any]:
    return {
        "requests": f.requests,
        "input_tokens": f.input_tokens,
        "output_tokens": f.output_tokens,
        "cache_read_tokens": f.cache_read_tokens,
        "cache_creation_tokens": f.cache_creation_tokens,
        "cost_usd": _round(f.cost_usd),  # null when some call could not be priced
        "cost_usd_priced": _round(f.cost_usd_priced),
        "unpriced_requests": f.unpriced_requests,
        "reported_cost_usd": _round(f.reported_cost_usd),
        "cache_hit_rate": f.cache_hit_rate,
        "saved_usd": _round(f.saved_usd),
        "break_cost_usd": _round(f.break_cost_usd),
        "sessions": f.sessions,
        "tool_calls": f.tool_calls,
    }


def row_json(row: Row, kind: str, breakdown: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"period": row.period}
    doc.update(figures_json(row.figures))
    if kind == "blocks":
        doc["start"] = fmt.iso(row.start)
        doc["end"] = fmt.iso(row.end)
        doc["first_ts"] = fmt.iso(row.first_ts)
        doc["last_ts"] = fmt.iso(row.last_ts)
    if kind == "sessions":
        doc["project"] = row.project
    if breakdown:
        doc[breakdown + "s"] = [{breakdown: name, **figures_json(f)} for name, f in row.breakdown]
    return doc


def document(
    report: Report, tz_name: str, breakdown: str | None, now: float, warnings: Sequence[str]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": JSON_SCHEMA_VERSION,
        "report": report.kind,
        "timezone": tz_name,
        "generated_at": fmt.iso(now),
        "rows": [row_json(r, report.kind, breakdown) for r in report.rows],
        "totals": figures_json(report.totals),
    }
    if report.kind == "blocks":
        active = report.active
        doc["active_block"] = None
        if active is not None:
            doc["active_block"] = {
                "period": active.period,
                "burn_rate_usd_per_hour": _round(active.burn_rate_usd_per_hour),
                "projected_cost_usd": _round(active.projected_cost_usd),
                "seconds_left": round(active.seconds_left, 3),
            }
    doc["warnings"] = list(warnings)
    return doc


# -- CSV ------------------------------------------------------------------------------------


def csv_text(report: Report, breakdown: str | None) -> str:
    """RFC 4180 (CRLF, header row): a row per period; with a breakdown, the period's rows
    by model (or project) follow it, the ``model`` column set. Null figures are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = ["period"]
    if report.kind == "blocks":
        head += ["start", "end"]
    if report.kind == "sessions":
        head.append("project")
    if breakdown:
        head.append(breakdown)
    writer.writerow([*head, *FIGURES])
    for row in report.rows:
        lead = [_cell(row.period)]
        if report.kind == "blocks":
            lead += [fmt.iso(row.start) or "", fmt.iso(row.end) or ""]
        if report.kind == "sessions":
            lead.append(_cell(row.project))
        writer.writerow([*lead, *([""] if breakdown else []), *_figure_cells(row.figures)])
        for name, figures in row.breakdown:
            writer.writerow([*lead, _cell(name), *_figure_cells(figures)])
    return out.getvalue()


def _cell(value: str | None) -> str:
    return "" if value is None else fmt.safe_text(value)


def _figure_cells(f: Figures) -> list[str]:
    values = figures_json(f)
    return [_number(values[name]) for name in FIGURES]


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.9f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    return str(value)


# -- table ----------------------------------------------------------------------------------

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One cell per value, scaled to the largest; a blank where nothing was spent."""
    top = max((v for v in values if v), default=0.0)
    if not top:
        return " " * len(values)
    cells = []
    for v in values:
        if not v:
            cells.append(" ")
        else:
            cells.append(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))])
    return "".join(cells)


def daily_costs(usage: Usage, kind: str, tz: tzinfo | None) -> dict[str, str]:
    """Weekly and monthly rows: a sparkline of their days' cost (Monday first; the 1st first)."""
    if kind not in ("weekly", "monthly"):
        return {}
    by_period: dict[str, list[float]] = {}
    for d, cost in cost_by_day(usage.calls, tz).items():
        if kind == "weekly":
            year, week, weekday = d.isocalendar()
            slots, index = by_period.setdefault(f"{year}-W{week:02d}", [0.0] * 7), weekday - 1
        else:
            slots, index = by_period.setdefault(f"{d.year:04d}-{d.month:02d}", [0.0] * 31), d.day - 1
        slots[index] += cost
    return {period: sparkline(values) for period, values in by_period.items()}


# Where the terminal is too narrow for every figure, these go first (highest first); the
# period, requests, hit rate and cost always stay.
_DROP = {"sess": 8, "saved": 7, "input": 6, "lost": 5, "cache w": 4, "tools": 3, "output": 2, "cache r": 1}


def table(
    report: Report, breakdown: str | None, width: int, sparks: dict[str, str], tz: tzinfo | None
) -> list[str]:
    """The report as plain fixed-width lines (header first, totals last)."""
    local = LocalTime(tz)
    first = {"blocks": "block", "models": "model", "projects": "project", "sessions": "session"}
    # The label column gives way down to a whole period name (a block's is its start and end).
    least = {"daily": 10, "weekly": 8, "monthly": 7, "blocks": 22}.get(report.kind, 8)
    columns = [Column(first.get(report.kind, "period"), least, max_width=36)]
    if report.kind == "sessions":
        columns.append(Column("project", 7, max_width=18))
    numbers = ["req", "input", "output", "cache r", "cache w", "hit", "cost", "saved", "lost", "tools"]
    if report.kind != "sessions":  # one session a row: its count would say 1 and nothing else
        numbers.append("sess")
    columns += [Column(name, 3, numeric=True, drop=_DROP.get(name, 0)) for name in numbers]
    with_spark = bool(sparks) and width >= 110
    if with_spark:
        columns.append(Column("daily cost", 7))
    rows = []
    for row in report.rows:
        label = row.period
        if report.kind == "blocks" and row.start is not None and row.end is not None:
            label = local.datetime(row.start).strftime("%Y-%m-%d %H:%M")
            label += "-" + local.datetime(row.end).strftime("%H:%M")
        rows.append(_cells(report.kind, label, row, row.figures, sparks if with_spark else None))
        blank_spark: dict[str, str] | None = {} if with_spark else None  # sub-rows and totals: an empty cell
        for name, figures in row.breakdown:
            rows.append(_cells(report.kind, "  " + name, row, figures, blank_spark, blank=True))
    total = _cells(report.kind, "total", None, report.totals, {} if with_spark else None)
    rows.append(total)
    return fitted(columns, rows, width)


def _cells(
    kind: str,
    label: str,
    row: Row | None,
    f: Figures,
    sparks: dict[str, str] | None,
    blank: bool = False,
) -> list[str]:
    cells = [fmt.safe_text(label)]
    if kind == "sessions":
        cells.append("" if row is None or blank else fmt.safe_text(row.project or ""))
    cells += [
        str(f.requests),
        fmt.tokens(f.input_tokens),
        fmt.tokens(f.output_tokens),
        fmt.tokens(f.cache_read_tokens),
        fmt.tokens(f.cache_creation_tokens),
        fmt.percent(f.cache_hit_rate),
        fmt.money(f.cost_usd, partial=f.cost_usd_priced),
        fmt.money(f.saved_usd),
        fmt.money(f.break_cost_usd),
        str(f.tool_calls),
    ]
    if kind != "sessions":
        cells.append(str(f.sessions))
    if sparks is not None:
        cells.append(sparks.get(row.period, "") if row is not None else "")
    return cells
