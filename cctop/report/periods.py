"""``cctop report daily|weekly|monthly|blocks|models|projects|sessions``.

Reads every deduplicated call (the store's records, or one scan with ``--no-store``), sums
them by period in a time zone (``cctop.model.periods``) and prints a table, JSON or CSV.
Never imports Textual.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

from cctop.model.periods import BREAKDOWNS, KINDS, summarize, within

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

# The options every command takes, accepted before ``report`` as well as after it.
_COMMON_WITH_VALUE = ("--claude-dir", "--prices", "--store")
_COMMON_FLAGS = ("--no-store", "--rebuild")


def report_argv(argv: Sequence[str]) -> list[str] | None:
    """``argv`` rearranged for the report parser when it is a ``report`` command (the common
    options may come before the word), else None."""
    head: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "report":
            return [*argv[index + 1 :], *head]
        name = token.split("=", 1)[0]
        if name in _COMMON_WITH_VALUE:
            step = 1 if "=" in token else 2
            head.extend(argv[index : index + step])
            index += step
        elif token in _COMMON_FLAGS:
            head.append(token)
            index += 1
        else:
            return None
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctop report",
        description="Tokens, cost and cache figures summed by period, model, project or session.",
    )
    parser.add_argument(
        "kind",
        choices=KINDS,
        help="daily, weekly (ISO weeks), monthly, blocks (5-hour windows), models, projects, sessions",
    )
    parser.add_argument("--since", metavar="WHEN", help="calls made since: 30m, 2h, 7d, 1w, 2026-11-01")
    parser.add_argument(
        "--until", metavar="WHEN", help="calls made before: a time, or a date (that whole day included)"
    )
    parser.add_argument("--project", metavar="TEXT", help="only projects whose name or cwd contains TEXT")
    parser.add_argument("--breakdown", choices=BREAKDOWNS, help="one sub-row per model (or project)")
    parser.add_argument("--tz", metavar="ZONE", help="time zone of days and weeks (default: local), e.g. UTC")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON document (see README)")
    out.add_argument("--csv", action="store_true", help="CSV, a row per period (and per model)")
    parser.add_argument("--claude-dir", action="append", type=Path, metavar="PATH", help="as for cctop")
    parser.add_argument("--prices", type=Path, metavar="PATH", help="price overrides (TOML)")
    parser.add_argument("--store", type=Path, metavar="PATH", help="SQLite store path")
    parser.add_argument("--no-store", action="store_true", help="read the transcripts, keep nothing")
    parser.add_argument("--rebuild", action="store_true", help="discard the store and re-read everything")
    return parser


def resolve_tz(name: str | None) -> tuple[tzinfo | None, str]:
    """(zone, its name); None = the system's zone, named after $TZ or /etc/localtime."""
    if name:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if name.upper() == "UTC":
            from datetime import timezone

            return timezone.utc, "UTC"
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            hint = "use a name like Europe/Berlin, or UTC"
            raise ValueError(f"--tz {name!r}: not a time zone ({hint})") from None
    return None, _local_name()


def _local_name() -> str:
    env = os.environ.get("TZ", "").lstrip(":")
    if env and "/" in env and not env.startswith("/"):
        return env
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return time.tzname[0] or "local"


def parse_when(text: str, tz: tzinfo | None, now: float, end_of_day: bool = False) -> float:
    """``30m``/``2h``/``7d``/``1w`` ago, a date (its start, or with ``end_of_day`` the next
    day's start) or an ISO datetime; dates and times without an offset are in ``tz``."""
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end_of_day:
                day += timedelta(days=1)
            moment = datetime(day.year, day.month, day.day)
        else:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        hint = "use a duration like 30m, 2h, 7d, 1w, or a date like 2026-11-01"
        raise ValueError(f"{text!r}: {hint}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return moment.timestamp()


def run_report(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    now = time.time()
    try:
        tz, tz_name = resolve_tz(args.tz)
        since = parse_when(args.since, tz, now) if args.since else None
        until = parse_when(args.until, tz, now, end_of_day=True) if args.until else None
    except ValueError as exc:
        parser.error(str(exc))
    from cctop.report import period_facts

    # A one-shot run making a few hundred thousand small tuples that live until it exits:
    # the cycle collector would only walk them again and again (a third of a warm report).
    gc.disable()
    loaded = period_facts.load(args)
    usage = within(loaded.usage, since, until)
    breakdown = args.breakdown if args.kind not in ("models", "projects") else None
    report = summarize(usage, args.kind, tz, now, breakdown)
    warnings = list(loaded.warnings)
    if loaded.undated:
        warnings.append(f"{loaded.undated} call(s) without a time are in no period")
    if not loaded.files and not loaded.usage.calls:
        from cctop.launch import missing_roots_message

        warnings.append(missing_roots_message(list(loaded.roots)))
    from cctop.report import period_output

    try:
        if args.json:
            import orjson

            doc = period_output.document(report, tz_name, breakdown, now, warnings)
            sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
            return 0
        if args.csv:
            sys.stdout.write(period_output.csv_text(report, breakdown))
        else:
            _print_table(report, usage, breakdown, tz, tz_name)
        sys.stdout.flush()
    except BrokenPipeError:
        from cctop.report.stdout import quiet_stdout

        quiet_stdout()
        return 0
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)  # paths and names in them are made safe
    return 0


def _print_table(report, usage, breakdown, tz, tz_name: str) -> None:
    """Plain lines (thousands of sessions print in a blink; Rich would measure every cell),
    the header and totals in bold on a terminal. Every cell is safe text already."""
    import shutil

    from cctop import format as fmt
    from cctop.report import period_output

    width = shutil.get_terminal_size((120, 24)).columns
    sparks = period_output.daily_costs(usage, report.kind, tz)
    header, *body, total = period_output.table(report, breakdown, width, sparks, tz)
    bold = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    on, off = ("\x1b[1m", "\x1b[0m") if bold else ("", "")
    lines = [
        f"cctop report {report.kind} ({fmt.safe_text(tz_name)})",
        on + header + off,
        *body,
        on + total + off,
    ]
    active = report.active
    if active is not None:
        lines.append(
            f"active block {active.period}: {fmt.money(active.burn_rate_usd_per_hour)}/h, "
            f"{fmt.duration(active.seconds_left)} left, projected {fmt.money(active.projected_cost_usd)}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
