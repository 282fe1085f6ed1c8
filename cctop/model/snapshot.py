"""Immutable views the ledger publishes: what the UI and the CLI render.

Everything here is frozen; a Snapshot can be handed to another thread and read while the
ledger goes on ingesting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from cctop.model.records import ApiCall, Source

_EMPTY: Mapping[str, float] = MappingProxyType({})


def hit_rate(input_tokens: int, cache_read: int, cache_creation: int) -> float | None:
    """cache_read / (input + cache_read + cache_creation); None when nothing was read."""
    total = input_tokens + cache_read + cache_creation
    return cache_read / total if total else None


@dataclass(frozen=True, slots=True)
class PricedCall:
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


@dataclass(frozen=True, slots=True)
class ToolStats:
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


@dataclass(frozen=True, slots=True)
class SubagentStats:
    agent_id: str
    agent_type: str | None
    description: str | None
    requests: int
    cost_usd: float | None
    is_compaction: bool


@dataclass(frozen=True, slots=True)
class TokenTotals:
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


@dataclass(frozen=True, slots=True)
class SessionStats:
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
    activity: Mapping[str, float] = field(default_factory=dict)  # OTLP metric sums
    cache: object | None = None  # cctop.model.cache.CacheSummary when computed
    ttft_ms_median: float | None = None  # over calls whose trace span gave a time to first token

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


@dataclass(frozen=True, slots=True)
class WindowTotals:
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


@dataclass(frozen=True, slots=True)
class Totals:
    all_time: TokenTotals
    today: WindowTotals
    last_hour: WindowTotals
    burn_rate_usd_per_hour: float  # over the last 15 minutes
    sessions: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    generated_at: float
    sessions: Mapping[str, SessionStats]
    totals: Totals
    warnings: tuple[str, ...] = ()
    unattributed_activity: Mapping[str, float] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One line of a session's recent-activity feed."""

    timestamp: float | None
    kind: str  # "prompt" | "tool" | "compaction" | "error"
    text: str  # raw text from the log: render literally, never as markup
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class SessionDetail:
    stats: SessionStats
    calls: tuple[PricedCall, ...]  # oldest first
    compaction_times: tuple[float, ...]
    feed: tuple[FeedItem, ...]  # oldest first, the most recent ones only
