"""Records: the one vocabulary between sources (transcripts, OTLP) and the model.

Sources turn bytes into these; the ledger dedupes, attributes, prices and aggregates them.
All are frozen msgspec Structs: slotted, compared field by field, safe to share across
threads, and cheap to create by the million: a cold scan makes one per line, and a frozen
dataclass's ``__init__`` sets its fields one ``object.__setattr__`` at a time (2.4 us for an
ApiCall against 0.08 us). ``msgspec.structs.replace`` copies one with changes. They hold only
atoms (and tuples of them), never a cycle, so the cycle collector skips them (``gc=False``).
Timestamps are POSIX seconds (float, UTC); ``None`` where the source had none.
"""

from __future__ import annotations

from enum import Enum

import msgspec


class Source(str, Enum):
    TRANSCRIPT = "transcript"
    OTLP = "otlp"


# ``agent_id`` is None for the session's main chain, else the subagent's id
# (``aac57f5``, ``acompact-946d2b``, ...), so every record says which agent made it.

# What a transcript line shows about who made it (``evidence`` of calls, tools, prompts,
# errors). A resumed or forked session copies its parent's history into its own file, so one
# call can be seen in several sessions' files; the ledger gives it to the best-evidenced one.
REPLAYED = 0  # the line predates its file's own first line: history copied into a fork
WRITTEN = 1  # in its session's file, nothing saying otherwise
CONFIRMED = 2  # the file says who made it (2.1.332+: ``requestRef``, ``requestSessionId``)
TELEMETRY = 3  # OTLP: Claude Code's own ``session.id`` for the call (authoritative)


class ApiCall(msgspec.Struct, frozen=True, gc=False):
    """One (possibly partial) sighting of one API response."""

    session_id: str
    agent_id: str | None
    model: str
    message_id: str | None
    request_id: str | None
    timestamp: float | None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    # The 5m/1h split of cache_creation_tokens as reported; a remainder not covered
    # by the split is priced at the 5m rate (see pricing).
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    web_search_requests: int = 0
    speed: str | None = None  # "fast" selects fast-mode prices
    inference_geo: str | None = None  # "us" adds the US-only inference premium
    # True when the line is known to carry the final usage of the response
    # (stop_reason set, or the end-of-stream fields). Otherwise output_tokens may be a
    # mid-stream snapshot and is only a lower bound.
    final: bool = False
    is_sidechain: bool = False
    source: Source = Source.TRANSCRIPT
    # A cost the producer itself reported: ``costUSD`` in old transcripts, ``cost_usd``
    # of an OTLP api_request event. Shown beside cctop's own price, never instead of it
    # unless the model cannot be priced.
    reported_cost_usd: float | None = None
    duration_ms: float | None = None  # OTLP api_request duration
    ttft_ms: float | None = None  # time to first token, when known
    evidence: int = WRITTEN
    # The session that made the call when the line says it is another one than the file's
    # (``requestSessionId`` on a line copied into a fork); ``session_id`` holds the copy.
    made_by: str | None = None

    @property
    def maker(self) -> str:
        return self.made_by or self.session_id

    @property
    def key(self) -> str:
        """Dedupe key: message id + request id, falling back to whichever exists."""
        if self.message_id and self.request_id:
            return f"{self.message_id}:{self.request_id}"
        return self.message_id or self.request_id or ""

    @property
    def prompt_tokens(self) -> int:
        """Everything the model read: what a request's context holds."""
        return self.input_tokens + self.cache_read_tokens + self.cache_creation_tokens

    @property
    def cache_writes(self) -> tuple[int, int]:
        """(5m, 1h) cache-write tokens, the one split every figure uses: writes the reported
        split does not cover count as 5m (they are priced so), and a split larger than the
        total wins over it."""
        w1h = self.cache_creation_1h_tokens
        rest = self.cache_creation_tokens - w1h
        w5m = self.cache_creation_5m_tokens
        return (rest if rest >= w5m else w5m), w1h  # max() without its call: every figure reads it


class ToolUse(msgspec.Struct, frozen=True, gc=False):
    session_id: str
    agent_id: str | None
    tool_use_id: str
    name: str
    timestamp: float | None
    source: Source = Source.TRANSCRIPT
    evidence: int = WRITTEN  # as the call that asked for it
    made_by: str | None = None

    @property
    def maker(self) -> str:
        return self.made_by or self.session_id


class ToolResult(msgspec.Struct, frozen=True, gc=False):
    session_id: str
    tool_use_id: str
    is_error: bool
    timestamp: float | None
    # Only OTLP tool_result events carry a measured duration; transcripts give
    # result timestamp minus use timestamp instead.
    duration_ms: float | None = None
    tool_name: str | None = None
    source: Source = Source.TRANSCRIPT
    evidence: int = WRITTEN


class Prompt(msgspec.Struct, frozen=True, gc=False):
    """A prompt the user typed (not tool results, not meta/slash-command text, not task
    notifications)."""

    session_id: str
    # Dedupe key: the line's ``promptId`` (= OTLP ``prompt.id``), else the line's uuid.
    prompt_id: str
    timestamp: float | None
    length: int
    source: Source = Source.TRANSCRIPT
    evidence: int = WRITTEN


class Compaction(msgspec.Struct, frozen=True, gc=False):
    """A compact boundary: the context was summarised, so the prompt cache restarts."""

    session_id: str
    agent_id: str | None
    timestamp: float | None
    trigger: str | None = None  # "auto" | "manual"
    pre_tokens: int | None = None


class TitleKind(int, Enum):
    """Where a title came from; a higher value wins."""

    FIRST_PROMPT = 1
    SUMMARY = 2
    AI = 3
    CUSTOM = 4


class SessionMeta(msgspec.Struct, frozen=True, gc=False):
    """Facts about a session seen on one line. Any field may be None."""

    session_id: str
    timestamp: float | None = None
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None
    title: str | None = None
    title_kind: TitleKind | None = None
    source: Source = Source.TRANSCRIPT
    origin: str | None = None  # telemetry's terminal / OS / arch: tells OTLP-only sessions apart


class SubagentMeta(msgspec.Struct, frozen=True, gc=False):
    """A subagent of a session: from ``agent-<id>.meta.json`` or the first line of its file."""

    session_id: str
    agent_id: str
    agent_type: str | None = None
    description: str | None = None


class ApiError(msgspec.Struct, frozen=True, gc=False):
    """An API error: an OTLP api_error event, a synthetic transcript error line, or (2.1.332+)
    a ``system``/``api_error`` line for each retried error."""

    session_id: str
    timestamp: float | None
    status: str | None
    error: str | None
    model: str | None = None
    attempt: int | None = None
    source: Source = Source.TRANSCRIPT
    request_id: str | None = None  # dedupe key where known (copies in forks, both sources)
    evidence: int = WRITTEN


class ReportedCost(msgspec.Struct, frozen=True, gc=False):
    """Claude Code's own cumulative cost of a session (2.1.332+ ``cost-state``, written when
    a process exits; a resume continues it). A fork starts from its parent's total, so its
    ``start_time`` (ms) is the parent's: the ledger gives a shared start to one session."""

    session_id: str
    total_cost_usd: float
    start_time: float | None


class Activity(msgspec.Struct, frozen=True, gc=False):
    """A telemetry-only fact for a session: a metric delta (lines of code, commits,
    active time, accept/reject decisions ...). ``name`` is Claude Code's metric or
    event name, ``value`` the increment to add."""

    session_id: str | None  # None = unattributed (metric without session.id)
    name: str
    value: float
    timestamp: float | None
    attributes: tuple[tuple[str, str], ...] = ()
    source: Source = Source.OTLP


class CallTiming(msgspec.Struct, frozen=True, gc=False):
    """Timings of one API call measured by Claude Code (its ``llm_request`` trace span).

    Joined to the call by request id, whichever arrives first. It carries no tokens on
    purpose: the span repeats the tokens of ``api_request``, and counting them would be a
    third tally of the same call."""

    session_id: str
    request_id: str
    ttft_ms: float | None
    duration_ms: float | None
    timestamp: float | None
    source: Source = Source.OTLP


Record = (
    ApiCall
    | ToolUse
    | ToolResult
    | Prompt
    | Compaction
    | SessionMeta
    | SubagentMeta
    | ApiError
    | Activity
    | CallTiming
    | ReportedCost
)
