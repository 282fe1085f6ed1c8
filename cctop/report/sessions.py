"""``cctop --once``: a snapshot as a Rich table or as the stable JSON document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from cctop import format as fmt
from cctop.model.snapshot import SessionStats, Snapshot, sum_tokens
from cctop.report.text_table import Column, fitted

JSON_SCHEMA_VERSION = 1


class SessionFilter(msgspec.Struct, frozen=True):
    since: float | None = None
    project: str | None = None  # substring of project or cwd, case-insensitive
    session: str | None = None  # id prefix

    def accepts(self, stats: SessionStats) -> bool:
        if self.since is not None and (stats.last_ts is None or stats.last_ts < self.since):
            return False
        if self.project:
            needle = self.project.lower()
            if needle not in stats.project.lower() and needle not in (stats.cwd or "").lower():
                return False
        return not (self.session and not stats.id.startswith(self.session))


def select(snapshot: Snapshot, session_filter: SessionFilter) -> list[SessionStats]:
    """The sessions to show, most recently active first."""
    chosen = [s for s in snapshot.sessions.values() if session_filter.accepts(s)]
    chosen.sort(key=lambda s: (s.last_ts or 0.0, s.id), reverse=True)
    return chosen


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


def session_json(s: SessionStats) -> dict[str, Any]:
    t = s.tokens
    doc: dict[str, Any] = {
        "id": s.id,
        "project": s.project,
        "cwd": s.cwd,
        "git_branch": s.git_branch,
        "title": s.title,
        "version": s.version,
        "models": list(s.models),
        "first_ts": fmt.iso(s.first_ts),
        "last_ts": fmt.iso(s.last_ts),
        "requests": t.requests,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "output_tokens_is_lower_bound": s.output_is_lower_bound,
        "cache_read_tokens": t.cache_read_tokens,
        "cache_creation_tokens": t.cache_creation_tokens,
        "cache_creation_5m_tokens": s.cache_creation_5m_tokens,
        "cache_creation_1h_tokens": s.cache_creation_1h_tokens,
        "web_search_requests": s.web_search_requests,
        "cache_hit_rate": t.cache_hit_rate,
        "cost_usd": _round(s.cost_usd),
        "cost_usd_priced": _round(t.cost_usd),
        "unpriced_requests": t.unpriced_requests,
        "reported_cost_usd": _round(s.reported_cost_usd),
        # Compaction calls reach no transcript: without telemetry the figures leave them out.
        "excludes_unlogged_calls": s.excludes_unlogged_calls,
        "unlogged_compactions": s.unlogged_compactions,
        "forked_from": s.forked_from,
        "tool_calls": s.tool_calls,
        "tool_errors": s.tool_errors,
        "tools": {
            tool.name: {
                "calls": tool.calls,
                "errors": tool.errors,
                "mean_duration_ms": _round(tool.mean_duration_ms),
                "max_duration_ms": _round(tool.max_duration_ms) if tool.timed else None,
            }
            for tool in s.tools
        },
        "subagents": s.subagent_count,
        "agents": [
            {
                "id": a.agent_id,
                "type": a.agent_type,
                "description": a.description,
                "requests": a.requests,
                "cost_usd": _round(a.cost_usd),
                "compaction": a.is_compaction,
            }
            for a in s.subagents
        ],
        "prompts": s.prompts,
        "api_errors": s.api_errors,
        "compactions": s.compactions,
        "context_tokens": s.context_tokens,
        "context_window": s.context_window,
        "sources": sorted(src.value for src in s.sources),
        "files_deleted": s.files_deleted,
        "ttft_ms_median": _round(s.ttft_ms_median),  # from OTLP trace spans; null without them
    }
    if s.cache is not None:
        doc["cache"] = s.cache.to_json()
    if s.activity:
        doc["telemetry"] = dict(s.activity)
    return doc


def totals_json(sessions: Sequence[SessionStats]) -> dict[str, Any]:
    t = sum_tokens([s.tokens for s in sessions])
    return {
        "sessions": len(sessions),
        "requests": t.requests,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cache_read_tokens": t.cache_read_tokens,
        "cache_creation_tokens": t.cache_creation_tokens,
        "web_search_requests": sum(s.web_search_requests for s in sessions),
        "cache_hit_rate": t.cache_hit_rate,
        "cost_usd": _round(t.known_cost_usd),
        "cost_usd_priced": _round(t.cost_usd),
        "unpriced_requests": t.unpriced_requests,
        "tool_calls": sum(s.tool_calls for s in sessions),
        "tool_errors": sum(s.tool_errors for s in sessions),
    }


def document(snapshot: Snapshot, sessions: Sequence[SessionStats]) -> dict[str, Any]:
    return {
        "schema": JSON_SCHEMA_VERSION,
        "generated_at": fmt.iso(snapshot.generated_at),
        "sessions": [session_json(s) for s in sessions],
        "totals": totals_json(sessions),
        "warnings": list(snapshot.warnings),
    }


def table(snapshot: Snapshot, sessions: Sequence[SessionStats], width: int = 200):  # -> rich Text
    """The table of ``--once`` as one Rich Text (header and totals bold): plain fixed-width
    lines, nothing from a log is markup. On a narrow terminal the title, then the model,
    columns are left out, and the title column gives way before anything else; narrower than
    the figures (under ~70 columns), the lesser ones go whole (see ``_COLUMNS``)."""
    from rich.text import Text

    now = snapshot.generated_at
    dropped = {"title", "model"} if width < 90 else {"title"} if width < 110 else set()
    keep = [i for i, column in enumerate(_COLUMNS) if column.header not in dropped]
    columns = [_COLUMNS[i] for i in keep]
    rows = []
    for s in sessions:
        t = s.tokens
        output = fmt.tokens(t.output_tokens) + ("+" if s.output_is_lower_bound else "")
        tools = f"{s.tool_calls}" + (f" ({s.tool_errors}!)" if s.tool_errors else "")
        project, title = fmt.session_names(s)  # an OTLP-only session: its id and origin
        cells = (
            fmt.ago(s.last_ts, now),
            project,
            title,
            fmt.short_model(s.models),
            str(t.requests),
            fmt.tokens(t.input_tokens),
            output,
            fmt.tokens(t.cache_read_tokens),
            fmt.tokens(t.cache_creation_tokens),
            fmt.percent(t.cache_hit_rate),
            ("*" if _reported_differs(s) else "") + fmt.session_cost(s),
            tools,
        )
        rows.append([fmt.safe_text(cells[i]) for i in keep])
    totals = totals_json(sessions)
    cost_text = fmt.money(totals["cost_usd"], partial=totals["cost_usd_priced"])
    total_cells = (
        "total", "", "", "", str(totals["requests"]), fmt.tokens(totals["input_tokens"]),
        fmt.tokens(totals["output_tokens"]), fmt.tokens(totals["cache_read_tokens"]),
        fmt.tokens(totals["cache_creation_tokens"]), fmt.percent(totals["cache_hit_rate"]), cost_text,
        str(totals["tool_calls"]),
    )  # fmt: skip
    rows.append([total_cells[i] for i in keep])
    header, *body, total = fitted(columns, rows, width)
    text = Text(f"cctop: {len(sessions)} session(s)\n")
    text.append(header + "\n", style="bold")
    text.append("".join(line + "\n" for line in body))
    text.append(total, style="bold")
    caption = _reported_caption(sessions)
    if caption:
        text.append("\n" + caption)
    return text


def _reported_differs(s: SessionStats) -> bool:
    """Whether Claude Code's own cost (telemetry, old transcripts) shows differently from cctop's."""
    own = s.reported_cost_usd
    return own is not None and fmt.money(own) != fmt.money(s.cost_usd)


def _reported_caption(sessions: Sequence[SessionStats], most: int = 2) -> str | None:
    """A line under the table for the costs marked ``*``, so the table never gets wider."""
    differing = [s for s in sessions if _reported_differs(s)]
    if not differing:
        return None
    shown = ", ".join(f"{s.id[:8]} {fmt.money(s.reported_cost_usd)}" for s in differing[:most])
    more = f", +{len(differing) - most} more" if len(differing) > most else ""
    return f"* Claude Code's own cost: {shown}{more}"


# Numbers never shrink; the title gives way first, project and model are capped.
_COLUMNS = (
    Column("last", 4, numeric=True),
    Column("project", 7, max_width=18),
    Column("title", 8, flexible=True),
    Column("model", 6, max_width=18),
    Column("req", 3, numeric=True),
    # Narrower than the numbers (a pane under 70 columns), these go whole, highest first.
    Column("input", 5, numeric=True, drop=5),
    Column("output", 6, numeric=True, drop=3),
    Column("cache r", 6, numeric=True, drop=1),
    Column("cache w", 6, numeric=True, drop=4),
    Column("hit", 4, numeric=True),
    Column("cost", 6, numeric=True),
    Column("tools", 5, numeric=True, drop=2),
)


