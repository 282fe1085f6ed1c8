"""SessionStats <-> JSON-able dicts, for the store's per-session aggregate cache.

A warm ``--once`` whose transcripts did not change since the last run prints these instead of
rebuilding the ledger call by call. The cache summary (computed by cctop.model.cache, when
present) is kept as its JSON form and read back into a CacheSummary.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, NamedTuple

from cctop.model.records import Source
from cctop.model.snapshot import CacheSummary, SessionStats, SubagentStats, TokenTotals, ToolStats

_PLAIN = (
    "id", "cwd", "project", "git_branch", "title", "version", "first_ts", "last_ts",
    "cache_creation_5m_tokens", "cache_creation_1h_tokens", "web_search_requests",
    "output_is_lower_bound", "reported_cost_usd", "tool_calls", "tool_errors", "prompts",
    "api_errors", "compactions", "context_tokens", "context_window", "files_deleted",
    "ttft_ms_median",
)  # fmt: skip
# Added later: read with a default, so aggregates saved before them still decode.
_ADDED = ("forked_from", "unlogged_compactions")


def stats_to_json(stats: SessionStats) -> dict[str, Any]:
    doc: dict[str, Any] = {name: getattr(stats, name) for name in (*_PLAIN, *_ADDED)}
    t = stats.tokens
    doc["tokens"] = [
        t.requests, t.input_tokens, t.output_tokens, t.cache_read_tokens,
        t.cache_creation_tokens, t.cost_usd, t.unpriced_requests,
    ]  # fmt: skip
    doc["models"] = list(stats.models)
    doc["tools"] = [
        [x.name, x.calls, x.errors, x.timed, x.total_duration_ms, x.max_duration_ms] for x in stats.tools
    ]
    doc["subagents"] = [
        [a.agent_id, a.agent_type, a.description, a.requests, a.cost_usd, a.is_compaction]
        for a in stats.subagents
    ]
    doc["sources"] = sorted(s.value for s in stats.sources)
    doc["origin"] = stats.origin
    doc["activity"] = dict(stats.activity)
    doc["cache"] = stats.cache.to_json() if stats.cache is not None else None
    return doc


def stats_from_json(doc: dict[str, Any]) -> SessionStats:
    cache = doc["cache"]
    return SessionStats(
        **{name: doc[name] for name in _PLAIN},
        **{name: doc[name] for name in _ADDED if name in doc},
        tokens=TokenTotals(*doc["tokens"]),
        models=tuple(doc["models"]),
        tools=tuple(ToolStats(*row) for row in doc["tools"]),
        subagents=tuple(SubagentStats(*row) for row in doc["subagents"]),
        sources=frozenset(Source(s) for s in doc["sources"]),
        activity=MappingProxyType(doc["activity"]),
        cache=None if cache is None else CacheSummary.from_json(cache),
        origin=doc.get("origin"),  # absent from documents stored before it existed
    )


class SessionRow(NamedTuple):
    """One row of the store's session_cache table, in its column order."""

    id: str
    project: str
    cwd: str | None
    last_ts: float | None
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cost_usd: float
    unpriced_requests: int
    web_search_requests: int
    tool_calls: int
    tool_errors: int
    stats: bytes | None  # the whole SessionStats as JSON (None when not fetched)
    document: bytes  # the session's finished --once --json document


class SessionSummary:
    """What ``--once`` filters, sorts and totals on (duck-types SessionStats for
    report.SessionFilter and report.totals_json), plus the session's finished JSON document."""

    __slots__ = ("id", "project", "cwd", "last_ts", "tokens", "web_search_requests", "tool_calls",
                 "tool_errors", "document")  # fmt: skip

    def __init__(self, row: SessionRow) -> None:
        self.id, self.project, self.cwd, self.last_ts = row.id, row.project, row.cwd, row.last_ts
        self.tokens = TokenTotals(
            row.requests, row.input_tokens, row.output_tokens, row.cache_read_tokens,
            row.cache_creation_tokens, row.cost_usd, row.unpriced_requests,
        )  # fmt: skip
        self.web_search_requests, self.tool_calls, self.tool_errors = (
            row.web_search_requests, row.tool_calls, row.tool_errors,
        )  # fmt: skip
        self.document = row.document
