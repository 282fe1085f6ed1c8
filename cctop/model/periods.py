"""Calls summed by period (day, ISO week, month, 5-hour block) or by group (model, project,
session): the figures of ``cctop report`` and of the history screen.

Pure: the caller hands in the deduplicated, priced calls (``CallFact``) and the tool calls
and cache breaks (``Mark``) it got from the ledger, and a time zone. Every row sums the same
calls, so the rows of any report add up to its totals and to ``--once``'s.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from cctop.model.snapshot import hit_rate

BLOCK_SECONDS = 5 * 3600
PERIODS = ("daily", "weekly", "monthly", "blocks")
GROUPS = ("models", "projects", "sessions")
KINDS = PERIODS + GROUPS
BREAKDOWNS = ("model", "project")


class CallFact(NamedTuple):
    """One deduplicated API call as reports need it (a tuple: built by the hundred thousand)."""

    timestamp: float
    session_id: str
    project: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cost_usd: float | None  # cctop's price; None = unknown model
    reported_cost_usd: float | None  # Claude Code's own figure, when a source gave one
    saved_usd: float | None  # cache reads at the input rate minus the read rate; None = unpriced


class Mark(NamedTuple):
    """Something counted at a moment besides calls: a tool call (value 1.0) or a cache break
    (value: its extra cost, None when unpriced). ``model`` is the model of the agent's call
    that made it."""

    timestamp: float
    session_id: str
    project: str
    model: str
    value: float | None = 1.0


@dataclass(frozen=True, slots=True)
class Usage:
    calls: tuple[CallFact, ...]
    tool_calls: tuple[Mark, ...] = ()
    breaks: tuple[Mark, ...] = ()


@dataclass(frozen=True, slots=True)
class Figures:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd_priced: float = 0.0
    unpriced_requests: int = 0
    reported_cost_usd: float | None = None
    saved_usd: float = 0.0  # priced calls only
    break_cost_usd: float = 0.0  # priced breaks only
    sessions: int = 0
    tool_calls: int = 0

    @property
    def cost_usd(self) -> float | None:
        """The cost, or None when some call could not be priced (never a silent $0)."""
        return None if self.unpriced_requests else self.cost_usd_priced

    @property
    def cache_hit_rate(self) -> float | None:
        return hit_rate(self.input_tokens, self.cache_read_tokens, self.cache_creation_tokens)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_creation_tokens


@dataclass(frozen=True, slots=True)
class Row:
    period: str  # 2026-11-22, 2026-W47, 2026-11, a block's start, a model, project or session id
    figures: Figures
    breakdown: tuple[tuple[str, Figures], ...] = ()  # by model or project, largest cost first
    start: float | None = None  # blocks: the window [start, end)
    end: float | None = None
    first_ts: float | None = None
    last_ts: float | None = None
    project: str | None = None  # sessions: the session's project


@dataclass(frozen=True, slots=True)
class ActiveBlock:
    """The 5-hour block ``now`` falls in, with its pace."""

    period: str
    burn_rate_usd_per_hour: float  # priced cost over the time since the block's first call
    projected_cost_usd: float  # the cost at the block's end at that rate
    seconds_left: float


@dataclass(frozen=True, slots=True)
class Report:
    kind: str
    rows: tuple[Row, ...]  # oldest period first; groups by cost, largest first
    totals: Figures
    active: ActiveBlock | None = None


class _Sum:
    """A row being added up."""

    __slots__ = (
        "requests", "input", "output", "read", "write", "cost", "unpriced", "reported",
        "saved", "breaks", "sessions", "tools", "first", "last",
    )  # fmt: skip

    def __init__(self) -> None:
        self.requests = self.input = self.output = self.read = self.write = self.unpriced = self.tools = 0
        self.cost = self.saved = self.breaks = 0.0
        self.reported: float | None = None
        self.sessions: set[str] = set()
        self.first: float | None = None
        self.last: float | None = None

    def calls(self, calls: Sequence[CallFact]) -> None:
        """Add up ``calls`` (one loop over unpacked tuples: reports sum every call there is)."""
        requests, inp, out, read, write, cost, unpriced, saved = 0, 0, 0, 0, 0, 0.0, 0, 0.0
        reported = None
        if not calls:
            return
        sessions = self.sessions
        first = last = calls[0].timestamp
        for ts, sid, _, _, i, o, r, w, c, rep, sv in calls:
            requests += 1
            inp += i
            out += o
            read += r
            write += w
            if c is None:
                unpriced += 1
            else:
                cost += c
            if rep is not None:
                reported = rep if reported is None else reported + rep
            if sv is not None:
                saved += sv
            sessions.add(sid)
            if ts < first:
                first = ts
            elif ts > last:
                last = ts
        self.requests += requests
        self.input += inp
        self.output += out
        self.read += read
        self.write += write
        self.cost += cost
        self.unpriced += unpriced
        if reported is not None:
            self.reported = (self.reported or 0.0) + reported
        self.saved += saved
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)

    def marks(self, tools: Sequence[Mark], breaks: Sequence[Mark]) -> None:
        self.tools += len(tools)
        self.sessions.update(m.session_id for m in tools)
        self.breaks += sum(m.value for m in breaks if m.value is not None)

    def add(self, other: _Sum) -> None:
        """Another row's sums into this one (sessions counted once)."""
        self.requests += other.requests
        self.input += other.input
        self.output += other.output
        self.read += other.read
        self.write += other.write
        self.cost += other.cost
        self.unpriced += other.unpriced
        if other.reported is not None:
            self.reported = (self.reported or 0.0) + other.reported
        self.saved += other.saved
        self.breaks += other.breaks
        self.sessions |= other.sessions
        self.tools += other.tools
        for ts in (other.first, other.last):
            if ts is not None:
                self.first = ts if self.first is None else min(self.first, ts)
                self.last = ts if self.last is None else max(self.last, ts)

    def figures(self) -> Figures:
        return Figures(
            self.requests, self.input, self.output, self.read, self.write, self.cost, self.unpriced,
            self.reported, self.saved, self.breaks, len(self.sessions), self.tools,
        )  # fmt: skip


class LocalTime:
    """POSIX seconds -> local date in ``tz`` (None = the system's zone), cached per quarter
    hour: every zone's offset is a multiple of 15 minutes, so a quarter hour is one date."""

    def __init__(self, tz: tzinfo | None) -> None:
        self.tz = tz
        self._dates: dict[int, date] = {}

    def date(self, ts: float) -> date:
        quarter = int(ts // 900)
        found = self._dates.get(quarter)
        if found is None:
            found = self._dates[quarter] = self.datetime(quarter * 900.0).date()
        return found

    def datetime(self, ts: float) -> datetime:
        if self.tz is None:
            return datetime.fromtimestamp(ts).astimezone()
        return datetime.fromtimestamp(ts, self.tz)


def _day(d: date) -> str:
    return d.isoformat()


def _week(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


_PERIOD_OF = {"daily": _day, "weekly": _week, "monthly": _month}


# A row's calls, tool calls and cache breaks (lists of CallFact, Mark, Mark).
_Group = tuple[list[Any], list[Any], list[Any]]


def _summed(calls: list[CallFact], tools: list[Mark], breaks: list[Mark]) -> _Sum:
    s = _Sum()
    s.calls(calls)
    s.marks(tools, breaks)
    return s


def _period_keys(period_of: Callable[[date], str], local: LocalTime) -> Callable[[CallFact | Mark], str]:
    """The period name of anything, looked up once per quarter hour (see LocalTime)."""
    names: dict[int, str] = {}

    def key_of(item: CallFact | Mark) -> str:
        quarter = int(item.timestamp // 900)
        name = names.get(quarter)
        if name is None:
            name = names[quarter] = period_of(local.date(quarter * 900.0))
        return name

    return key_of


_GROUP_OF: dict[str, Callable[[CallFact | Mark], str]] = {
    "models": lambda c: c.model,
    "projects": lambda c: c.project,
    "sessions": lambda c: c.session_id,
}
_PART_OF: dict[str, Callable[[CallFact | Mark], str]] = {
    "model": lambda c: c.model,
    "project": lambda c: c.project,
}


def summarize(
    usage: Usage,
    kind: str,
    tz: tzinfo | None,
    now: float,
    breakdown: str | None = None,
) -> Report:
    """``usage`` summed into the rows of report ``kind`` (one of KINDS), each split by
    ``breakdown`` (``model`` or ``project``) when asked."""
    if kind not in KINDS:
        raise ValueError(f"unknown report {kind!r}")
    part_of = _PART_OF[breakdown] if breakdown else None
    if kind == "blocks":
        key_of = _block_keys(usage.calls)
    elif kind in _GROUP_OF:
        key_of = _GROUP_OF[kind]
    else:
        key_of = _period_keys(_PERIOD_OF[kind], LocalTime(tz))
    # Each row's (and breakdown part's) calls, tool calls and breaks, then their sums.
    groups: dict[str, _Group] = {}
    parts: dict[tuple[str, str], _Group] = {}
    kinds: tuple[Sequence[CallFact | Mark], ...] = (usage.calls, usage.tool_calls, usage.breaks)
    for index, items in enumerate(kinds):
        for item in items:
            key = key_of(item)
            group = groups.get(key)
            if group is None:
                group = groups[key] = ([], [], [])
            group[index].append(item)
            if part_of is not None:
                part_key = (key, part_of(item))
                part = parts.get(part_key)
                if part is None:
                    part = parts[part_key] = ([], [], [])
                part[index].append(item)
    rows = {key: _summed(*group) for key, group in groups.items()}
    projects = {c.session_id: c.project for c in reversed(usage.calls)} if kind == "sessions" else {}
    total = _Sum()
    for s in rows.values():
        total.add(s)

    split: dict[str, list[tuple[str, Figures]]] = {}
    for (key, name), group in parts.items():
        split.setdefault(key, []).append((name, _summed(*group).figures()))
    out = []
    for key, s in rows.items():
        figures = s.figures()
        pieces = sorted(split.get(key, ()), key=lambda p: (-p[1].cost_usd_priced, p[0]))
        start = end = None
        if kind == "blocks":
            start = float(key)
            end = start + BLOCK_SECONDS
        out.append(Row(key, figures, tuple(pieces), start, end, s.first, s.last, projects.get(key)))
    if kind in _GROUP_OF:
        out.sort(key=lambda r: (-r.figures.cost_usd_priced, r.period))
    elif kind == "blocks":
        out.sort(key=lambda r: r.start or 0.0)
    else:
        out.sort(key=lambda r: r.period)
    active = None
    if kind == "blocks":
        local = LocalTime(tz)
        out = [_named_block(r, local) for r in out]
        block = _active_block(out, now)
        if block is not None:
            active = ActiveBlock(block.period, *_pace(block, now))
    return Report(kind, tuple(out), total.figures(), active)


def within(usage: Usage, since: float | None, until: float | None) -> Usage:
    """The facts made at or after ``since`` and before ``until``."""
    if since is None and until is None:
        return usage
    low = float("-inf") if since is None else since
    high = float("inf") if until is None else until

    calls = tuple(c for c in usage.calls if low <= c.timestamp < high)
    tools = tuple(m for m in usage.tool_calls if low <= m.timestamp < high)
    breaks = tuple(m for m in usage.breaks if low <= m.timestamp < high)
    return Usage(calls, tools, breaks)


# -- 5-hour blocks --------------------------------------------------------------------------


def block_starts(timestamps: Sequence[float]) -> list[float]:
    """Claude Code's 5-hour windows over sorted ``timestamps``: a window opens at the first
    call after the previous one closed, floored to the (UTC) hour, and lasts 5 hours."""
    starts: list[float] = []
    end = float("-inf")
    for ts in timestamps:
        if ts >= end:
            start = ts - ts % 3600
            starts.append(start)
            end = start + BLOCK_SECONDS
    return starts


def _block_keys(calls: Sequence[CallFact]) -> Callable[[CallFact | Mark], str]:
    """The block key of anything: the start of the last block opened at or before it (tool
    calls and breaks after a block closed belong to the block of the call that made them)."""
    starts = block_starts(sorted(c.timestamp for c in calls))
    keys = [repr(s) for s in starts]

    def key_of(item: CallFact | Mark) -> str:
        index = bisect.bisect_right(starts, item.timestamp) - 1
        return keys[max(index, 0)] if keys else repr(item.timestamp - item.timestamp % 3600)

    return key_of


def _active_block(rows: Sequence[Row], now: float) -> Row | None:
    last = rows[-1] if rows else None
    if last is not None and last.start is not None and last.end is not None and last.start <= now < last.end:
        return last
    return None


def _pace(block: Row, now: float) -> tuple[float, float, float]:
    """(burn rate $/h, projected cost at the block's end, seconds left). The rate is over the
    time since the block's first call, at least a minute, so one call does not project wild."""
    assert block.end is not None
    first = block.first_ts if block.first_ts is not None else block.start or now
    elapsed = max(now - first, 60.0)
    cost = block.figures.cost_usd_priced
    rate = cost * 3600.0 / elapsed
    left = max(block.end - now, 0.0)
    return rate, cost + rate * left / 3600.0, left


def _block_name(start: float, local: LocalTime) -> str:
    return local.datetime(start).isoformat(timespec="minutes")


def _named_block(row: Row, local: LocalTime) -> Row:
    """A block row named by its start in the report's zone (its key was the POSIX start)."""
    return Row(
        _block_name(float(row.period), local), row.figures, row.breakdown, row.start, row.end,
        row.first_ts, row.last_ts, row.project,
    )  # fmt: skip


def cost_by_day(calls: Sequence[CallFact], tz: tzinfo | None) -> dict[date, float]:
    """The priced cost of ``calls`` per local day."""
    local = LocalTime(tz)
    days: dict[int, date] = {}
    out: dict[date, float] = {}
    for call in calls:
        if call.cost_usd is None:
            continue
        quarter = int(call.timestamp // 900)
        day = days.get(quarter)
        if day is None:
            day = days[quarter] = local.date(quarter * 900.0)
        out[day] = out.get(day, 0.0) + call.cost_usd
    return out


# -- charts ---------------------------------------------------------------------------------


def period_range(first: date, last: date, kind: str) -> list[str]:
    """Every period name from ``first``'s to ``last``'s, gaps included (a chart's x axis)."""
    period_of = _PERIOD_OF[kind]
    names: list[str] = []
    day = first
    step = timedelta(days=1)
    while day <= last:
        name = period_of(day)
        if not names or names[-1] != name:
            names.append(name)
        day += step
    return names
