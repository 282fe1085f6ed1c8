"""Immutable views the ledger publishes: what the UI and the CLI render.

Everything here is frozen; a Snapshot can be handed to another thread and read while the
ledger goes on ingesting. The views made per call, per item or per session (a priced call,
a cache break, a tool's figures, a session's stats) are frozen msgspec Structs, as the
records are: a snapshot makes tens of thousands, a frozen dataclass sets its fields one
``object.__setattr__`` at a time (see cctop.model.records), and worker processes pickle
every session's stats to the parent (a Struct pickles in a third of the time and unpickles
in a fifth). Those that hold no mutable container can be in no cycle, so the cycle
collector skips them (``gc=False``). ``msgspec.structs.replace`` copies one with changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any

import msgspec

from cctop.model.iso import utc_iso
from cctop.model.records import ApiCall, Source

_EMPTY: Mapping[str, float] = MappingProxyType({})


def hit_rate(input_tokens: int, cache_read: int, cache_creation: int) -> float | None:
    """cache_read / (input + cache_read + cache_creation); None when nothing was read."""
    total = input_tokens + cache_read + cache_creation
    return cache_read / total if total else None


class PricedCall(msgspec.Struct, frozen=True, gc=False):
    """A deduplicated API call with cctop's price (None = unpriceable model)."""

    call: ApiCall
    cost_usd: float | None
    # Claude Code's own figure for this call when a source reported one (OTLP cost_usd,
    # old transcripts' costUSD).
    reported_cost_usd: float | None
    sources: frozenset[Source]

    @property
    def hit_rate(self) -> float | None:
        c = self.call
        return hit_rate(c.input_tokens, c.cache_read_tokens, c.cache_creation_tokens)


class ToolStats(msgspec.Struct, frozen=True, gc=False):
    name: str
    calls: int
    errors: int
    # Durations of completed calls (result time minus use time, or the OTLP-measured one).
    timed: int
    total_duration_ms: float
    max_duration_ms: float

    @property
    def mean_duration_ms(self) -> float | None:
        return self.total_duration_ms / self.timed if self.timed else None


class SubagentStats(msgspec.Struct, frozen=True, gc=False):
    agent_id: str
    agent_type: str | None
    description: str | None
    requests: int
    cost_usd: float | None
    is_compaction: bool


class TokenTotals(msgspec.Struct, frozen=True, gc=False):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0  # priced part only
    unpriced_requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_creation_tokens

    @property
    def cache_hit_rate(self) -> float | None:
        return hit_rate(self.input_tokens, self.cache_read_tokens, self.cache_creation_tokens)

    @property
    def known_cost_usd(self) -> float | None:
        """The cost, or None when some request could not be priced."""
        return None if self.unpriced_requests else self.cost_usd


class BreakCause(str, Enum):
    """Why a prompt cache broke (see cctop.model.cache): one vocabulary for the model, the
    JSON document and every widget."""

    TTL_EXPIRED = "ttl_expired"
    MODEL_CHANGED = "model_changed"
    COMPACTED = "compacted"
    PREFIX_CHANGED = "prefix_changed"


class CacheBreak(msgspec.Struct, frozen=True, gc=False):
    timestamp: float | None
    agent_id: str | None
    cause: BreakCause
    tokens: int  # tokens re-sent (written, or uncached input) because the cache was lost
    extra_cost_usd: float | None  # their price minus what reading them would have cost


class RequestCache(msgspec.Struct, frozen=True, gc=False):
    """One call's cache figures, in the order of SessionDetail.calls."""

    read_tokens: int
    write_tokens: int
    uncached_tokens: int
    hit_rate: float | None
    saved_usd: float | None  # cache reads at the input rate minus at the cache-read rate
    write_premium_usd: float | None  # cache writes at their 5m/1h rate minus at the input rate
    cache_break: CacheBreak | None


class CacheSummary(msgspec.Struct, frozen=True):
    """A session's prompt-cache figures (cctop.model.cache.summarize)."""

    hit_rate: float | None
    hit_rate_recent: float | None  # over the last few requests
    saved_usd: float
    break_cost_usd: float
    breaks: tuple[CacheBreak, ...]  # oldest first
    breaks_by_cause: Mapping[BreakCause, int]  # every cause, zero included
    write_5m_tokens: int  # writes without a 5m/1h split count as 5m, as they are priced
    write_1h_tokens: int
    last_request_ts: float | None
    ttl_seconds: float | None
    expires_at: float | None
    rewrite_cost_usd: float | None

    def seconds_left(self, now: float) -> float | None:
        """Seconds until the main chain's cache expires; 0.0 once expired, None if unknown."""
        if self.expires_at is None:
            return None
        return max(0.0, self.expires_at - now)

    def to_json(self) -> dict[str, Any]:
        return {
            "hit_rate": self.hit_rate,
            "hit_rate_recent": self.hit_rate_recent,
            "saved_usd": _round(self.saved_usd),
            "break_cost_usd": _round(self.break_cost_usd),
            "write_5m_tokens": self.write_5m_tokens,
            "write_1h_tokens": self.write_1h_tokens,
            "ttl_seconds": self.ttl_seconds,
            "expires_at": utc_iso(self.expires_at),
            "rewrite_cost_usd": _round(self.rewrite_cost_usd),
            "breaks_by_cause": {cause.value: n for cause, n in self.breaks_by_cause.items()},
            "breaks": [
                {
                    "timestamp": utc_iso(b.timestamp),
                    "agent_id": b.agent_id,
                    "cause": b.cause.value,
                    "tokens": b.tokens,
                    "extra_cost_usd": _round(b.extra_cost_usd),
                }
                for b in self.breaks
            ],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CacheSummary:
        """Back from ``to_json`` (the store's saved aggregates): ``to_json`` of the result gives
        ``doc`` again; ``last_request_ts`` is not kept."""
        return cls(
            hit_rate=doc["hit_rate"],
            hit_rate_recent=doc["hit_rate_recent"],
            saved_usd=doc["saved_usd"],
            break_cost_usd=doc["break_cost_usd"],
            breaks=tuple(
                CacheBreak(
                    _from_iso(b["timestamp"]), b["agent_id"], BreakCause(b["cause"]), b["tokens"],
                    b["extra_cost_usd"],
                )
                for b in doc["breaks"]
            ),  # fmt: skip
            breaks_by_cause={BreakCause(k): n for k, n in doc["breaks_by_cause"].items()},
            write_5m_tokens=doc["write_5m_tokens"],
            write_1h_tokens=doc["write_1h_tokens"],
            last_request_ts=None,
            ttl_seconds=doc["ttl_seconds"],
            expires_at=_from_iso(doc["expires_at"]),
            rewrite_cost_usd=doc["rewrite_cost_usd"],
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


def _from_iso(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class SessionStats(msgspec.Struct, frozen=True):
    id: str
    cwd: str | None
    project: str  # basename of cwd, or "?" when no line said
    git_branch: str | None
    title: str | None
    version: str | None
    models: tuple[str, ...]  # most used first
    first_ts: float | None
    last_ts: float | None
    tokens: TokenTotals
    cache_creation_5m_tokens: int
    cache_creation_1h_tokens: int
    web_search_requests: int
    # True when some call's output_tokens may be a mid-stream snapshot (no final line seen).
    output_is_lower_bound: bool
    reported_cost_usd: float | None  # Claude Code's own estimate, when any source gave one
    tool_calls: int
    tool_errors: int
    tools: tuple[ToolStats, ...]  # most called first
    subagents: tuple[SubagentStats, ...]
    prompts: int
    api_errors: int
    compactions: int
    context_tokens: int | None  # prompt size of the latest main-chain request
    context_window: int | None
    sources: frozenset[Source]
    files_deleted: bool = False  # every transcript file of it is gone (history)
    activity: Mapping[str, float] = msgspec.field(default_factory=dict)  # OTLP metric sums
    cache: CacheSummary | None = None  # when the ledger has a cache analysis
    ttft_ms_median: float | None = None  # over calls whose trace span gave a time to first token
    origin: str | None = None  # terminal, OS and arch from telemetry ("xterm, linux/amd64")
    forked_from: str | None = None  # the session whose history this one copies (a fork)
    # Compaction calls no transcript shows and no telemetry counted: the figures exclude them.
    unlogged_compactions: int = 0

    @property
    def telemetry_only(self) -> bool:
        """Seen only over OTLP, with no working directory to name it by."""
        return not self.cwd and self.sources == frozenset({Source.OTLP})

    @property
    def excludes_unlogged_calls(self) -> bool:
        return self.unlogged_compactions > 0

    @property
    def cost_usd(self) -> float | None:
        return self.tokens.known_cost_usd

    @property
    def context_fill(self) -> float | None:
        if self.context_tokens is None or not self.context_window:
            return None
        return self.context_tokens / self.context_window

    @property
    def subagent_count(self) -> int:
        return sum(1 for s in self.subagents if not s.is_compaction)


class WindowTotals(msgspec.Struct, frozen=True):
    """Spend inside a time window ending at the snapshot's clock."""

    cost_usd: float = 0.0
    tokens: int = 0
    requests: int = 0
    unpriced_requests: int = 0
    # Prompt cache: reads priced at the input rate minus their read price, and the extra
    # cost of the cache breaks (cctop.model.cache) that happened inside the window.
    saved_usd: float = 0.0
    break_cost_usd: float = 0.0


def sum_tokens(totals: Sequence[TokenTotals]) -> TokenTotals:
    """Tokens, requests and priced cost added up (over sessions, say)."""
    return TokenTotals(
        requests=sum(t.requests for t in totals),
        input_tokens=sum(t.input_tokens for t in totals),
        output_tokens=sum(t.output_tokens for t in totals),
        cache_read_tokens=sum(t.cache_read_tokens for t in totals),
        cache_creation_tokens=sum(t.cache_creation_tokens for t in totals),
        cost_usd=sum(t.cost_usd for t in totals),
        unpriced_requests=sum(t.unpriced_requests for t in totals),
    )


class Totals(msgspec.Struct, frozen=True):
    all_time: TokenTotals
    today: WindowTotals
    last_hour: WindowTotals
    burn_rate_usd_per_hour: float  # over the last 15 minutes
    sessions: int


class Snapshot(msgspec.Struct, frozen=True):
    version: int
    generated_at: float
    sessions: Mapping[str, SessionStats]
    totals: Totals
    warnings: tuple[str, ...] = ()
    unattributed_activity: Mapping[str, float] = msgspec.field(default_factory=lambda: _EMPTY)


class FeedItem(msgspec.Struct, frozen=True, gc=False):
    """One line of a session's recent-activity feed."""

    timestamp: float | None
    kind: str  # "prompt" | "tool" | "compaction" | "error"
    text: str  # raw text from the log: render literally, never as markup
    is_error: bool = False


class SessionDetail(msgspec.Struct, frozen=True):
    stats: SessionStats
    calls: tuple[PricedCall, ...]  # oldest first
    compaction_times: tuple[float, ...]
    feed: tuple[FeedItem, ...]  # oldest first, the most recent ones only
    requests: tuple[RequestCache, ...] = ()  # per call, as ``calls``; empty without a cache analysis
