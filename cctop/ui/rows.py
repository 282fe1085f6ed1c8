"""Session rows for the main table: plain cell values, computed without touching widgets.

A cell is ``(text, role)``: the text is already safe (``format.safe_text``) and the role
names a theme colour the widget maps through the active theme. Comparing these tuples is
how the table decides which cells changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cctop import format as fmt
from cctop.model.snapshot import SessionStats, SubagentStats

LIVE_WINDOW_S = 120.0
IDLE_WINDOW_S = 6 * 3600.0

Cell = tuple[str, str]  # (text, role): role is "" | "live" | "muted" | "warn" | "error" | "accent"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # least content width; grows to the widest value (a number is never cut)
    numeric: bool
    sort: Callable[[SessionStats, float], Any] | None = None
    priority: int = 0  # 0 = always shown; higher numbers drop first when the width runs out
    max_width: int | None = None  # text columns: cut with "…" beyond this (None: no limit)


def _num(value: float | int | None) -> float:
    return float("-inf") if value is None else float(value)


def _ttl_left(stats: SessionStats, now: float) -> float | None:
    return stats.cache.seconds_left(now) if stats.cache is not None else None


def state_of(stats: SessionStats, now: float, day_start: float) -> str:
    """live: written in the last two minutes; idle: earlier today (or in the last hours);
    history: older, or every file of it deleted."""
    last = stats.last_ts
    if stats.files_deleted or last is None:
        return "hist"
    if now - last <= LIVE_WINDOW_S:
        return "live"
    if last >= day_start or now - last <= IDLE_WINDOW_S:
        return "idle"
    return "hist"


# Money and cache health first: when the width runs out (a split pane), whole columns drop,
# highest priority number first (token counts, then subagents, model, tools ...), like htop.
# The title takes whatever width is left (see cctop.ui.layout).
COLUMNS: tuple[Column, ...] = (
    Column("state", "st", 4, False, lambda s, now: _num(s.last_ts), priority=6),
    Column("project", "project", 7, False, lambda s, now: s.project.lower(), max_width=16),
    Column("title", "title", 8, False, lambda s, now: (s.title or "").lower()),
    Column("last", "last", 4, True, lambda s, now: _num(s.last_ts), priority=5),
    Column("cost", "cost", 5, True, lambda s, now: s.tokens.cost_usd),
    Column("hit", "hit", 4, True, lambda s, now: _num(s.tokens.cache_hit_rate), priority=4),
    Column("context", "ctx", 4, True, lambda s, now: _num(s.context_fill), priority=3),
    Column("ttl", "cache", 5, True, lambda s, now: _num(_ttl_left(s, now)), priority=2),
    Column("input", "in", 4, True, lambda s, now: s.tokens.input_tokens, priority=14),
    Column("output", "out", 5, True, lambda s, now: s.tokens.output_tokens, priority=11),
    Column("cache_read", "read", 5, True, lambda s, now: s.tokens.cache_read_tokens, priority=12),
    Column("cache_write", "write", 5, True, lambda s, now: s.tokens.cache_creation_tokens, priority=13),
    Column("tools", "tools", 5, True, lambda s, now: s.tool_calls, priority=7),
    Column("subagents", "sub", 3, True, lambda s, now: s.subagent_count, priority=9),
    Column(
        "model", "model", 5, False, lambda s, now: s.models[0] if s.models else "", priority=8, max_width=14
    ),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
SORTABLE = tuple(c.key for c in COLUMNS if c.sort is not None and c.key != "state")
DEFAULT_SORT = "last"


def next_change(stats: SessionStats, now: float, day_start: float) -> float:
    """The earliest time a clock-driven cell of this row (state, last, cache countdown) can
    read differently; until then a tick without new data need not look at the row."""
    last = stats.last_ts
    if last is None or stats.files_deleted:
        return float("inf")
    age = max(0.0, now - last)
    if age < 5:
        step_end = last + 5
    else:
        unit = 1 if age < 60 else 60 if age < 3600 else 3600 if age < 86400 else 86400
        step_end = last + (int(age // unit) + 1) * unit
    times = [step_end, last + LIVE_WINDOW_S, last + IDLE_WINDOW_S, day_start + 86400]
    left = _ttl_left(stats, now)
    if left is not None and left > 0:
        times.append(now + left - math.ceil(left) + 1)  # when the rounded-up second drops
    return min((t for t in times if t > now), default=float("inf"))


TEXT_LIMIT = 200  # text cells keep this much; the table cuts them to their column with "…"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def ttl_text(seconds_left: float | None) -> Cell:
    """A countdown: rounded up, so ``0:01`` is the last second before ``expired``."""
    if seconds_left is None:
        return ("-", "muted")
    if seconds_left <= 0:
        return ("expired", "muted")
    seconds = math.ceil(seconds_left)
    if seconds < 3600:
        text = f"{seconds // 60}:{seconds % 60:02d}"
    else:
        text = f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    return (text, "warn" if seconds_left <= 60 else "")


def hit_role(rate: float | None) -> str:
    """The one colour rule for a cache hit rate, wherever it is shown."""
    if rate is None:
        return "muted"
    if rate >= 0.8:
        return "live"
    return "" if rate >= 0.5 else "warn"


def fill_role(fill: float | None) -> str:
    if fill is None:
        return "muted"
    if fill >= 0.95:
        return "error"
    return "warn" if fill >= 0.8 else ""


# A running Claude Code process's state (sources/live_sessions) replaces the state column.
PROCESS_ROLES = {"busy": "live", "wait": "warn", "run": "live"}


def session_cells(
    stats: SessionStats, now: float, day_start: float, process: str | None = None
) -> tuple[Cell, ...]:
    t = stats.tokens
    project, title = fmt.session_names(stats)
    state = state_of(stats, now, day_start)
    output = fmt.tokens(t.output_tokens) + ("+" if stats.output_is_lower_bound else "")
    cost = fmt.session_cost(stats)
    tools = str(stats.tool_calls) + (f" {stats.tool_errors}!" if stats.tool_errors else "")
    cells = {
        "state": (
            (process, PROCESS_ROLES.get(process, ""))
            if process
            else (state, {"live": "live", "idle": "", "hist": "muted"}[state])
        ),
        "project": (clip(project, TEXT_LIMIT), "accent" if state == "live" else ""),
        "title": (clip(title, TEXT_LIMIT), ""),
        "model": (clip(fmt.safe_text(fmt.short_model(stats.models)), TEXT_LIMIT), ""),
        "last": (fmt.ago(stats.last_ts, now), ""),
        "input": (fmt.tokens(t.input_tokens), ""),
        "output": (output, ""),
        "cache_read": (fmt.tokens(t.cache_read_tokens), ""),
        "cache_write": (fmt.tokens(t.cache_creation_tokens), ""),
        "hit": (fmt.percent(t.cache_hit_rate), hit_role(t.cache_hit_rate)),
        "cost": (cost, "warn" if stats.cost_usd is None else ""),
        "tools": (tools, "error" if stats.tool_errors else ""),
        "subagents": (str(stats.subagent_count) if stats.subagent_count else "-", ""),
        "context": (fmt.percent(stats.context_fill), fill_role(stats.context_fill)),
        "ttl": ttl_text(_ttl_left(stats, now)),
    }
    return tuple(cells[key] for key in COLUMN_KEYS)


def subagent_cells(agent: SubagentStats, last: bool) -> tuple[Cell, ...]:
    branch = "└ " if last else "├ "
    kind = "compact" if agent.is_compaction else (agent.agent_type or "agent")
    about = agent.description or agent.agent_id
    cells = {
        "project": (clip(branch + fmt.safe_text(kind), TEXT_LIMIT), "muted"),
        "title": (clip(fmt.safe_text(f"{about} ({agent.requests} req)"), TEXT_LIMIT), "muted"),
        "cost": (fmt.money(agent.cost_usd), "muted"),
    }
    return tuple(cells.get(key, ("", "")) for key in COLUMN_KEYS)


def matches(stats: SessionStats, needle: str) -> bool:
    """The ``/`` filter: a case-insensitive substring of project, title, model, id or cwd."""
    if not needle:
        return True
    needle = needle.lower()
    haystack = (stats.project, stats.title or "", " ".join(stats.models), stats.id, stats.cwd or "")
    return any(needle in field.lower() for field in haystack)
