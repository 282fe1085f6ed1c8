"""The ledger: dedupes, attributes, prices and aggregates records into snapshots.

One API call is one entry, whatever source reported it and however often:
- transcripts write a response as several lines sharing ``message.id`` + ``requestId``
  (keep the one with the most output tokens: the others are mid-stream snapshots);
- resumed and forked sessions replay history into new files (dedupe is global), and each
  call belongs to the session that made it, by evidence (``_rank``): OTLP's ``session.id``,
  then what the files say (``requestSessionId``/``requestRef``, a fork's copied history
  predating its file), the smaller session id only when nothing tells them apart;
- ``/btw`` side questions replay a parent message under a new request id (sidechain
  copies fall back to the message id and the parent copy wins);
- OTLP ``api_request`` events carry only the request id (joined on it, so a call seen in
  both a transcript and OTLP counts once, with Claude Code's own cost kept beside ours);
- trace spans give a call's timings (``CallTiming``), joined on the request id too and kept
  aside until their call shows up; they never add tokens.

Thread-safe: sources ingest from their threads, the UI takes snapshots from its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import msgspec
from msgspec.structs import fields as struct_fields
from msgspec.structs import replace as replace_struct

from cctop.model.pricing import SYNTHETIC_MODEL, Rates
from cctop.model.records import (
    REPLAYED,
    TELEMETRY,
    Activity,
    ApiCall,
    ApiError,
    CallTiming,
    Compaction,
    Prompt,
    Record,
    ReportedCost,
    SessionMeta,
    Source,
    SubagentMeta,
    TitleKind,
    ToolResult,
    ToolUse,
)
from cctop.model.snapshot import (
    CacheSummary,
    FeedItem,
    PricedCall,
    RequestCache,
    SessionDetail,
    SessionStats,
    Snapshot,
    SubagentStats,
    TokenTotals,
    ToolStats,
    Totals,
    WindowTotals,
    sum_tokens,
)

FEED_LENGTH = 200
BURN_WINDOW_S = 15 * 60
# Span timings waiting for their call (its transcript line or api_request event). Calls
# arrive within seconds of their span, so a few thousand cover any real backlog; the
# oldest are dropped first when spans keep naming calls cctop never sees.
MAX_PENDING_TIMINGS = 4096
# Plain globals: an enum member read through its class costs a lookup (50 ns), and ingest
# tests a record's source several times over.
_OTLP = Source.OTLP
_TRANSCRIPT = Source.TRANSCRIPT


class Pricer(Protocol):
    def price(self, call: ApiCall) -> float | None: ...
    def context_window(self, model_id: str, prompt_tokens: int = 0) -> int | None: ...
    def unknown_models(self) -> frozenset[str]: ...
    def rates_for(self, call: ApiCall) -> Rates | None: ...


class CacheSummarizer(Protocol):
    """The hook computing a session's cache figures from its calls (cctop.model.cache's
    CacheAnalysis plugs in here)."""

    def summarize(
        self, calls: Sequence[PricedCall], compaction_times: Sequence[float], now: float
    ) -> CacheSummary: ...

    def per_request(
        self, calls: Sequence[PricedCall], compaction_times: Sequence[float]
    ) -> tuple[RequestCache, ...]: ...


def _rank(record: ApiCall | ToolUse | Prompt | ApiError) -> int:
    """How well a sighting shows who made it: telemetry's session.id, then the file's word."""
    return TELEMETRY if record.source is _OTLP else record.evidence


def _outranks(rank: int, session_id: str, old_rank: int, old_session: str) -> bool:
    """The better evidence owns an item; between equals the smaller session id, so every
    reading order gives the same owner (the documented fallback)."""
    return (-rank, session_id) < (-old_rank, old_session)


class _Owner:
    """Who holds a prompt or an error, and how well the sighting showed it."""

    __slots__ = ("session_id", "rank")

    def __init__(self, session_id: str, rank: int) -> None:
        self.session_id = session_id
        self.rank = rank


class _CallEntry:
    __slots__ = ("key", "call", "session_id", "rank", "cost", "reported", "sources", "timing", "view")

    def __init__(self, key: str, call: ApiCall, session_id: str, cost: float | None) -> None:
        self.key = key
        self.call = call
        self.session_id = session_id  # the owner: the session that made the call
        self.rank = _rank(call)
        self.cost = cost
        self.reported = call.reported_cost_usd
        self.sources = _ONLY_SOURCE[call.source]
        # Kept beside the call rather than in it, so a better sighting replacing the call
        # keeps the timing.
        self.timing: CallTiming | None = None
        self.view: PricedCall | None = None  # cached frozen view; None after any change

    def priced(self) -> PricedCall:
        if self.view is None:
            call = self.call if self.timing is None else _with_span_timing(self.call, self.timing)
            self.view = PricedCall(call, self.cost, self.reported, self.sources)
        return self.view


class _ToolEntry:
    __slots__ = ("session_id", "rank", "agent_id", "name", "use_ts", "result_ts", "is_error", "duration_ms",
                 "done")  # fmt: skip

    def __init__(self, session_id: str, rank: int) -> None:
        self.session_id = session_id
        self.rank = rank  # of its tool_use sighting; -1 while only a result was seen
        self.agent_id: str | None = None
        self.name: str | None = None
        self.use_ts: float | None = None
        self.result_ts: float | None = None
        self.is_error = False
        self.duration_ms: float | None = None
        self.done = False

    @property
    def duration(self) -> float | None:
        if self.duration_ms is not None:
            return self.duration_ms
        if self.use_ts is not None and self.result_ts is not None and self.result_ts >= self.use_ts:
            return (self.result_ts - self.use_ts) * 1000.0
        return None


_ToolRecord = TypeVar("_ToolRecord", ToolUse, ToolResult)


class _Session:
    """Mutable per-session state; turned into a frozen SessionStats when dirty."""

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.cwd: str | None = None
        self.git_branch: str | None = None
        self.version: str | None = None
        self.origin: str | None = None
        self.facts: dict[str, tuple[float, str]] = {}  # name -> (timestamp, value) chosen
        self.title: str | None = None
        self.title_kind = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        # Its calls and tool calls themselves, not their keys: figures read every one of them.
        self.calls: list[_CallEntry] = []
        self.tools: list[_ToolEntry] = []
        self.prompts: dict[str, tuple[float | None, int]] = {}
        self.errors: dict[str, ApiError] = {}
        self.compactions: list[float] = []
        self.main_compactions: set[float] = set()  # boundaries of the main chain
        self.copies: set[str] = set()  # keys of calls its files hold as another's copies
        self.cost_states: dict[float | None, float] = {}  # cost-state start -> latest total
        self.subagents: dict[str, SubagentMeta] = {}
        self.activity: dict[str, float] = defaultdict(float)
        self.sources: set[Source] = set()
        self.files_deleted = False
        self.stats: SessionStats | None = None

    def touch(self, timestamp: float | None) -> None:
        if timestamp is None:
            return
        if self.first_ts is None or timestamp < self.first_ts:
            self.first_ts = timestamp
        if self.last_ts is None or timestamp > self.last_ts:
            self.last_ts = timestamp


def _local_day_start(now: float) -> float:
    return datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _project_name(cwd: str | None) -> str:
    if not cwd:
        return "?"
    return os.path.basename(cwd.rstrip("/\\").replace("\\", "/")) or cwd


class Ledger:
    def __init__(self, pricer: Pricer, cache_summarizer: CacheSummarizer | None = None) -> None:
        self._pricer = pricer
        self._cache_summarizer = cache_summarizer
        self._lock = threading.RLock()
        self._calls: dict[str, _CallEntry] = {}
        self._key_by_message: dict[str, str] = {}
        self._key_by_request: dict[str, str] = {}
        # The same, per session: a request id that another session's call holds too (ids
        # reused by a proxy or a fake API) still finds this session's own call.
        self._key_by_session_request: dict[tuple[str, str], str] = {}
        self._tools: dict[str, _ToolEntry] = {}
        # Prompts and errors by key: [owner session, rank of its sighting].
        self._prompt_owner: dict[str, _Owner] = {}
        self._error_owner: dict[str, _Owner] = {}
        self._pending_timings: dict[str, CallTiming] = {}  # request id -> timing, oldest first
        self._sessions: dict[str, _Session] = {}
        self._unattributed: dict[str, float] = defaultdict(float)
        self._warnings: dict[str, None] = {}  # ordered set
        self._dirty: set[str] = set()
        self._version = 0
        self._anonymous = 0
        self._snapshot: Snapshot | None = None

    # -- ingest -----------------------------------------------------------------

    @property
    def cache_summarizer(self) -> CacheSummarizer | None:
        return self._cache_summarizer

    @property
    def version(self) -> int:
        """Bumped on every change: consumers compare it to skip work when nothing changed."""
        return self._version

    def fresh(self) -> Ledger:
        """An empty ledger that prices and summarizes as this one does."""
        return Ledger(self._pricer, cache_summarizer=self.cache_summarizer)

    def warn(self, message: str) -> None:
        with self._lock:
            if message not in self._warnings:
                self._warnings[message] = None
                self._version += 1

    def forget_sessions(self, session_ids: set[str]) -> set[str]:
        """Drop everything known about these sessions: a file of theirs changed under the
        reader (truncated, rewritten, replaced) and they are read again from their sources.
        Returns the other sessions that had seen a dropped call: they lost it, so they must
        be read again too (callers repeat until nothing more comes back)."""
        with self._lock:
            calls = self._calls
            dropped = {key for key, entry in calls.items() if entry.session_id in session_ids}
            others = {
                session
                for (session, _), key in self._key_by_session_request.items()
                if key in dropped and session not in session_ids
            }
            for key in dropped:
                del calls[key]
            self._key_by_message = {m: k for m, k in self._key_by_message.items() if k not in dropped}
            self._key_by_request = {r: k for r, k in self._key_by_request.items() if k not in dropped}
            self._key_by_session_request = {
                sr: k
                for sr, k in self._key_by_session_request.items()
                if k not in dropped and sr[0] not in session_ids
            }
            self._tools = {k: t for k, t in self._tools.items() if t.session_id not in session_ids}
            for session_id in session_ids:
                self._sessions.pop(session_id, None)
                self._dirty.discard(session_id)
            for session_id in others:
                if session_id in self._sessions:
                    self._dirty.add(session_id)
            self._version += 1
            return others

    def withdraw(self, message: str) -> None:
        """A warning that no longer holds (a file that reads again) goes away."""
        with self._lock:
            if message in self._warnings:
                del self._warnings[message]
                self._version += 1

    def ingest(self, records: Iterable[Record]) -> None:
        with self._lock:
            changed = False
            for record in records:
                handler = _HANDLERS.get(type(record))
                if handler is not None:
                    handler(self, record)
                    changed = True
            if changed:
                self._version += 1

    def mark_files_deleted(self, session_id: str, deleted: bool = True) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.files_deleted != deleted:
                session.files_deleted = deleted
                self._dirty.add(session_id)
                self._version += 1

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session(session_id)
        self._dirty.add(session_id)
        return session

    def _on_call(self, call: ApiCall) -> None:
        if call.model == SYNTHETIC_MODEL:
            return  # Claude Code's own line (records stored by older versions of the parser)
        entry, key = self._find_call(call)
        if entry is not None:
            self._merge(entry, call)
            return
        if not key:  # nothing to dedupe on: count it once, as seen
            self._anonymous += 1
            key = f"anonymous:{self._anonymous}"
        entry = _CallEntry(key, call, call.maker, self._cost_of(call))
        self._calls[key] = entry
        self._index(call, key)
        self._note_copy(call, key)
        session = self._session(entry.session_id)
        session.calls.append(entry)
        session.sources.add(call.source)
        if entry.rank != REPLAYED:  # a copy's time is its maker's, not its holder's
            session.touch(call.timestamp)

    def _note_copy(self, call: ApiCall, key: str) -> None:
        """A sighting its line shows to be a copy of another session's call: where the holder
        was forked from."""
        if call.source is _TRANSCRIPT and (call.evidence == REPLAYED or call.made_by is not None):
            holder = self._sessions.get(call.session_id)
            if holder is None or key not in holder.copies:
                self._session(call.session_id).copies.add(key)

    def _cost_of(self, call: ApiCall) -> float | None:
        """cctop's price; but a call known only from telemetry costs what Claude Code said:
        api_request events carry neither the 5m/1h write split nor web searches, so pricing
        them here would understate 1h writes. A transcript line for it later re-prices it."""
        if call.source is _OTLP and call.reported_cost_usd is not None:
            return call.reported_cost_usd
        return self._pricer.price(call)

    def _find_call(self, call: ApiCall) -> tuple[_CallEntry | None, str]:
        """The entry this sighting belongs to, or None and the key for a new entry."""
        key = call.key
        entry = self._calls.get(key) if key else None
        if entry is None and call.request_id and call.request_id in self._key_by_request:
            entry = self._calls[self._key_by_request[call.request_id]]
        if entry is None and call.message_id and call.message_id in self._key_by_message:
            other = self._calls[self._key_by_message[call.message_id]]
            if call.is_sidechain or other.call.is_sidechain:
                entry = other
        if entry is None or _same_call(entry, call):
            return entry, key
        # The same ids in another session with different input-side usage: not a replay
        # (a replayed line copies its usage) but ids reused by a proxy or a fake API.
        own_key = f"{key}#{call.maker}"
        own = self._calls.get(own_key)
        if own is None and call.request_id:  # e.g. telemetry (no message id) for such a call
            found = self._key_by_session_request.get((call.maker, call.request_id))
            own = self._calls[found] if found is not None else None
        return own, own_key

    def _index(self, call: ApiCall, key: str) -> None:
        if call.message_id:
            self._key_by_message.setdefault(call.message_id, key)
        if call.request_id:
            self._key_by_request.setdefault(call.request_id, key)
            self._seen_in_session(call, key)

    def _seen_in_session(self, call: ApiCall, key: str) -> None:
        """Every sighting's (session, request id) finds its entry, whichever session owns it
        now; a span of that session waiting for it lands."""
        assert call.request_id is not None
        self._key_by_session_request.setdefault((call.session_id, call.request_id), key)
        timing = self._pending_timings.get(call.request_id) if self._pending_timings else None
        if timing is not None and timing.session_id == call.session_id:
            del self._pending_timings[call.request_id]
            self._set_timing(self._calls[key], timing)

    def _on_timing(self, timing: CallTiming) -> None:
        """A span's timings: onto the call its session saw with that request id (request ids
        alone can repeat across sessions), or kept until that call arrives. Never creates a
        call."""
        key = self._key_by_session_request.get((timing.session_id, timing.request_id))
        if key is not None:
            self._set_timing(self._calls[key], timing)
            return
        pending = self._pending_timings
        known = pending.get(timing.request_id)
        if known is not None and not _better_timing(timing, known):
            return
        pending.pop(timing.request_id, None)  # re-inserted: the newest go last
        pending[timing.request_id] = timing
        while len(pending) > MAX_PENDING_TIMINGS:
            del pending[next(iter(pending))]

    def _set_timing(self, entry: _CallEntry, timing: CallTiming) -> None:
        if entry.timing is not None and not _better_timing(timing, entry.timing):
            return
        entry.timing = timing
        entry.view = None
        self._dirty.add(entry.session_id)

    def _merge(self, entry: _CallEntry, call: ApiCall) -> None:
        old = entry.call
        entry.view = None
        if call.source not in entry.sources:
            entry.sources = _source_set(entry.sources | {call.source})
        self._note_copy(call, entry.key)
        rank = _rank(call)
        same_chain = call.source is _OTLP or call.is_sidechain == old.is_sidechain
        if same_chain and _outranks(rank, call.maker, entry.rank, entry.session_id):
            self._move(entry, call.maker)
            entry.rank = rank
        if call.source is _OTLP:
            # Telemetry adds Claude Code's own cost and timings; transcript tokens stay.
            if call.reported_cost_usd is not None:
                entry.reported = call.reported_cost_usd
            if old.source is _TRANSCRIPT and old.duration_ms is None:
                entry.call = _with_timings(old, call)
        else:
            parent_wins = old.is_sidechain and not call.is_sidechain  # over a /btw replay
            better = call.is_sidechain == old.is_sidechain and (
                call.output_tokens > old.output_tokens
                or (call.output_tokens == old.output_tokens and call.final and not old.final)
            )
            # A transcript line beats telemetry: it has the 5m/1h split and the message id.
            if old.source is _OTLP or parent_wins or better:
                if parent_wins:
                    self._move(entry, call.maker)
                    entry.rank = rank
                merged = _with_timings(call, old) if old.duration_ms is not None else call
                entry.call = merged
                entry.cost = self._cost_of(merged)
                if entry.reported is None:
                    entry.reported = call.reported_cost_usd
                self._index(merged, entry.key)
        if call.request_id:
            self._seen_in_session(call, entry.key)
        session = self._session(entry.session_id)
        session.sources.add(call.source)
        if rank != REPLAYED:
            session.touch(call.timestamp)

    def _move(self, entry: _CallEntry, session_id: str) -> None:
        if entry.session_id != session_id:
            self._session(entry.session_id).calls.remove(entry)
            self._session(session_id).calls.append(entry)
            entry.session_id = session_id

    def _tool_entry(
        self, tool_use_id: str, session_id: str, same: Callable[[_ToolEntry, _ToolRecord], bool],
        record: _ToolRecord, maker: str | None = None, rank: int = -1,
    ) -> _ToolEntry:  # fmt: skip
        """Tool ids are deduped globally (replayed history), unless the entry under that id
        belongs to another session and ``same(entry, record)`` says it is not a copy: then the
        id was reused. A tool call belongs to the session that made its call (``maker``, with
        the evidence ``rank`` of the use's line, as for calls); a result never moves it."""
        tools = self._tools
        entry = tools.get(tool_use_id)
        if entry is None:
            key = tool_use_id
        elif entry.session_id == session_id or entry.session_id == maker or same(entry, record):
            if maker is not None and _outranks(rank, maker, entry.rank, entry.session_id):
                if maker != entry.session_id:
                    self._session(entry.session_id).tools.remove(entry)
                    self._session(maker).tools.append(entry)
                    entry.session_id = maker
                entry.rank = rank
            return entry
        else:
            key = f"{tool_use_id}#{maker or session_id}"
            entry = tools.get(key)
            if entry is not None:
                return entry
        owner = maker or session_id
        entry = tools[key] = _ToolEntry(owner, rank if maker is not None else -1)
        self._session(owner).tools.append(entry)
        return entry

    def _on_tool_use(self, use: ToolUse) -> None:
        rank = _rank(use)
        entry = self._tools.get(use.tool_use_id)
        if entry is None:  # a new tool call (nearly all): _tool_entry's first case, without its call
            owner = use.maker
            entry = self._tools[use.tool_use_id] = _ToolEntry(owner, rank)
            session = self._session(owner)
            session.tools.append(entry)
        else:
            entry = self._tool_entry(use.tool_use_id, use.session_id, _same_use, use, use.maker, rank)
            if entry.name is not None:
                return  # replayed history
            session = self._session(entry.session_id)
        entry.name = use.name
        entry.agent_id = use.agent_id
        entry.use_ts = use.timestamp
        session.sources.add(use.source)
        if rank != REPLAYED:
            session.touch(use.timestamp)

    def _on_tool_result(self, result: ToolResult) -> None:
        entry = self._tools.get(result.tool_use_id)
        if entry is None or entry.session_id != result.session_id:  # else _tool_entry's answer
            entry = self._tool_entry(result.tool_use_id, result.session_id, _same_result, result)
        if entry.done and result.duration_ms is None:
            return
        if not entry.done:
            entry.done = True
            entry.is_error = result.is_error
            entry.result_ts = result.timestamp
        if result.duration_ms is not None:
            entry.duration_ms = result.duration_ms
        if entry.name is None and result.tool_name:
            entry.name = result.tool_name
        session = self._session(entry.session_id)
        session.sources.add(result.source)
        if result.evidence != REPLAYED:
            session.touch(result.timestamp)

    def _claim(self, owners: dict[str, _Owner], table: str, key: str, session_id: str, rank: int,
               value: object) -> _Session:  # fmt: skip
        """A prompt or error seen in ``session_id``: kept once under ``key`` (in the session's
        ``table``), by the best-evidenced session; the better sighting's value is kept."""
        held = owners.get(key)
        if held is None:
            owners[key] = _Owner(session_id, rank)
            session = self._session(session_id)
            getattr(session, table)[key] = value
            return session
        if not _outranks(rank, session_id, held.rank, held.session_id):
            return self._session(held.session_id)
        old_value = getattr(self._session(held.session_id), table).pop(key)
        keep = value if rank > held.rank else old_value
        held.session_id, held.rank = session_id, rank
        session = self._session(session_id)
        getattr(session, table)[key] = keep
        return session

    def _on_prompt(self, prompt: Prompt) -> None:
        rank = _rank(prompt)
        value = (prompt.timestamp, prompt.length)
        session = self._claim(self._prompt_owner, "prompts", prompt.prompt_id, prompt.session_id, rank, value)
        session.sources.add(prompt.source)
        if rank != REPLAYED:
            session.touch(prompt.timestamp)

    def _on_compaction(self, compaction: Compaction) -> None:
        session = self._session(compaction.session_id)
        if compaction.timestamp is not None and compaction.timestamp not in session.compactions:
            session.compactions.append(compaction.timestamp)
        if compaction.agent_id is None and compaction.timestamp is not None:
            session.main_compactions.add(compaction.timestamp)
        session.touch(compaction.timestamp)

    def _on_reported_cost(self, state: ReportedCost) -> None:
        session = self._session(state.session_id)
        known = session.cost_states.get(state.start_time)
        if known is None or state.total_cost_usd > known:  # cumulative: the latest is the largest
            session.cost_states[state.start_time] = state.total_cost_usd

    def _on_meta(self, meta: SessionMeta) -> None:
        session = self._session(meta.session_id)
        # The latest line's fact wins, whatever order files were read in; ties go to the
        # larger value so every reading order gives the same answer.
        for name in ("cwd", "git_branch", "version", "origin"):
            value = getattr(meta, name)
            if value:
                seen = session.facts.get(name)
                candidate = (meta.timestamp if meta.timestamp is not None else float("-inf"), value)
                if seen is None or candidate > seen:
                    session.facts[name] = candidate
                    setattr(session, name, value)
        if meta.title and meta.title_kind is not None:
            rank = int(meta.title_kind)
            # Same kind: the later title wins (a renamed session); a higher kind always wins.
            if rank > session.title_kind or (rank == session.title_kind and rank != TitleKind.FIRST_PROMPT):
                session.title, session.title_kind = meta.title, rank
        session.sources.add(meta.source)
        session.touch(meta.timestamp)

    def _on_subagent(self, meta: SubagentMeta) -> None:
        session = self._session(meta.session_id)
        known = session.subagents.get(meta.agent_id)
        if known is None or (meta.agent_type and not known.agent_type):
            session.subagents[meta.agent_id] = meta

    def _on_error(self, error: ApiError) -> None:
        rank = _rank(error)
        # Without a request id an error is its own (a timestamp and status in one session).
        key = error.request_id or f"{error.session_id}:{error.timestamp}:{error.status}:{error.attempt}"
        session = self._claim(self._error_owner, "errors", key, error.session_id, rank, error)
        session.sources.add(error.source)
        if rank != REPLAYED:
            session.touch(error.timestamp)

    def _on_activity(self, activity: Activity) -> None:
        if activity.session_id is None:
            self._unattributed[activity.name] += activity.value
            return
        session = self._session(activity.session_id)
        session.activity[activity.name] += activity.value
        session.sources.add(activity.source)
        session.touch(activity.timestamp)

    # -- read -------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> Snapshot:
        """An immutable view; cheap when nothing changed since the last one."""
        now = time.time() if now is None else now
        with self._lock:
            cached = self._snapshot
            # Time windows move with the clock, so a cached view is good for its second only.
            if (
                cached is not None
                and cached.version == self._version
                and int(cached.generated_at) == int(now)
            ):
                return cached
            for session_id in self._dirty:
                session = self._sessions[session_id]
                session.stats = self._session_stats(session, now)
            self._dirty.clear()
            sessions = {sid: s.stats for sid, s in self._sessions.items() if s.stats is not None}
            warnings = list(self._warnings)
            warnings.extend(
                f"unknown model {model!r}: its cost is shown as unknown"
                for model in sorted(self._pricer.unknown_models())
                if model
            )
            snap = Snapshot(
                version=self._version,
                generated_at=now,
                sessions=MappingProxyType(sessions),
                totals=self._totals(sessions, now),
                warnings=tuple(warnings),
                unattributed_activity=MappingProxyType(dict(self._unattributed)),
            )
            self._snapshot = snap
            return snap

    def _fresh_session(self, session_id: str, now: float) -> _Session | None:
        """(Lock held.) The session with its figures brought up to date; None if unknown."""
        session = self._sessions.get(session_id)
        if session is not None and (session.stats is None or session_id in self._dirty):
            session.stats = self._session_stats(session, now)
            self._dirty.discard(session_id)
        return session

    def session_detail(self, session_id: str, now: float | None = None) -> SessionDetail | None:
        now = time.time() if now is None else now
        with self._lock:
            session = self._fresh_session(session_id, now)
            if session is None or session.stats is None:
                return None
            calls = self._priced_calls(session)
            compactions = tuple(sorted(session.compactions))
            analysis = self._cache_summarizer
            return SessionDetail(
                stats=session.stats,
                calls=calls,
                compaction_times=compactions,
                feed=self._feed(session),
                requests=analysis.per_request(calls, compactions) if analysis is not None else (),
            )

    def calls_since(self, since: float) -> list[tuple[float, str, float | None]]:
        """(timestamp, session id, cctop's price) of each call made at or after ``since``: what
        a limit window's rises are attributed to (cctop.model.limits)."""
        with self._lock:
            return [
                (e.call.timestamp, e.session_id, e.cost)
                for e in self._calls.values()
                if e.call.timestamp is not None and e.call.timestamp >= since
            ]

    def session_ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def rates_for(self, call: ApiCall) -> Rates | None:
        """The per-token rates this ledger prices ``call`` at (None: a model without a price)."""
        return self._pricer.rates_for(call)

    def session_calls(
        self, session_id: str, now: float | None = None
    ) -> tuple[SessionStats, tuple[PricedCall, ...], list[tuple[float | None, str | None]]] | None:
        """(stats, priced calls oldest first, (time, agent id) of each tool call the stats
        count): what reports by period need, without the feed a SessionDetail builds."""
        now = time.time() if now is None else now
        with self._lock:
            session = self._fresh_session(session_id, now)
            if session is None or session.stats is None:
                return None
            tools = [(e.use_ts, e.agent_id) for e in session.tools if e.name is not None]
            return session.stats, self._priced_calls(session), tools

    def _priced_calls(self, session: _Session) -> tuple[PricedCall, ...]:
        entries = sorted(session.calls, key=lambda e: e.call.timestamp or 0.0)
        return tuple([entry.priced() for entry in entries])

    def _session_stats(self, session: _Session, now: float) -> SessionStats:
        entries = session.calls
        input_t = output_t = read_t = write_t = w5 = w1h = searches = unpriced = 0
        cost = 0.0
        reported = 0.0
        reported_seen = False
        lower_bound = False
        models: dict[str, int] = {}
        per_agent: dict[str, list[float | None]] = {}
        latest_main: ApiCall | None = None
        latest_ts = 0.0
        ttfts: list[float] = []
        # One pass, plain locals: this runs over every call of every changed session.
        for entry in entries:
            call = entry.call
            timing = entry.timing
            if timing is not None and timing.ttft_ms is not None:
                ttfts.append(timing.ttft_ms)
            elif call.ttft_ms is not None:
                ttfts.append(call.ttft_ms)
            input_t += call.input_tokens
            output_t += call.output_tokens
            read_t += call.cache_read_tokens
            write_t += call.cache_creation_tokens
            five, hour = call.cache_writes
            w5 += five
            w1h += hour
            searches += call.web_search_requests
            model = call.model
            if model:
                models[model] = models.get(model, 0) + 1
            if not call.final:
                lower_bound = True
            call_cost = entry.cost
            if call_cost is None:
                unpriced += 1
            else:
                cost += call_cost
            if entry.reported is not None:
                reported += entry.reported
                reported_seen = True
            agent_id = call.agent_id
            if agent_id is not None:
                agent_costs = per_agent.get(agent_id)
                if agent_costs is None:
                    per_agent[agent_id] = [call_cost]
                else:
                    agent_costs.append(call_cost)
            elif call.timestamp is not None and (latest_main is None or latest_ts <= call.timestamp):
                latest_main, latest_ts = call, call.timestamp
        requests = len(entries)
        tools, tool_calls, tool_errors = self._tool_stats(session)
        subagents = tuple(
            SubagentStats(
                agent_id=agent_id,
                agent_type=meta.agent_type if meta else None,
                description=meta.description if meta else None,
                requests=len(per_agent.get(agent_id, ())),
                cost_usd=_sum_known(per_agent.get(agent_id, ())),
                is_compaction=agent_id.startswith("acompact"),
            )
            for agent_id, meta in _merge_agents(session.subagents, per_agent).items()
        )
        # Busiest first; the id breaks ties so the order never depends on reading order.
        subagents = tuple(sorted(subagents, key=lambda a: (-a.requests, a.agent_id)))
        context_tokens = latest_main.prompt_tokens if latest_main is not None else None
        context_window = (
            self._pricer.context_window(latest_main.model, latest_main.prompt_tokens)
            if latest_main is not None
            else None
        )
        cache = None
        if self._cache_summarizer is not None and entries:
            cache = self._cache_summarizer.summarize(
                self._priced_calls(session), sorted(session.compactions), now
            )
        forked_from = self._forked_from(session)
        stats = SessionStats(
            id=session.id,
            cwd=session.cwd,
            project=_project_name(session.cwd),
            git_branch=session.git_branch,
            title=session.title,
            version=session.version,
            models=tuple(sorted(models, key=lambda m: (-models[m], m))),  # most used first
            first_ts=session.first_ts,
            last_ts=session.last_ts,
            tokens=TokenTotals(requests, input_t, output_t, read_t, write_t, cost, unpriced),
            cache_creation_5m_tokens=w5,
            cache_creation_1h_tokens=w1h,
            web_search_requests=searches,
            output_is_lower_bound=lower_bound,
            reported_cost_usd=self._reported_cost(session, forked_from, reported if reported_seen else None),
            tool_calls=tool_calls,
            tool_errors=tool_errors,
            tools=tools,
            subagents=subagents,
            prompts=len(session.prompts),
            api_errors=len(session.errors),
            compactions=len(session.compactions),
            context_tokens=context_tokens,
            context_window=context_window,
            sources=frozenset(session.sources),
            files_deleted=session.files_deleted,
            activity=dict(session.activity),  # a private copy; plain so stats pickle
            cache=cache,
            ttft_ms_median=_median(ttfts) if ttfts else None,
            origin=session.origin,
            forked_from=forked_from,
            unlogged_compactions=_unlogged_compactions(session, subagents),
        )
        return stats

    def _forked_from(self, session: _Session) -> str | None:
        """The session whose calls this one's files copy, the latest copied call's maker."""
        best: tuple[float, str] | None = None
        for key in session.copies:
            entry = self._calls.get(key)
            if entry is None or entry.session_id == session.id:
                continue
            candidate = (entry.call.timestamp or 0.0, entry.session_id)
            if best is None or candidate > best:
                best = candidate
        return best[1] if best is not None else None

    def _reported_cost(
        self, session: _Session, forked_from: str | None, from_calls: float | None
    ) -> float | None:
        """Claude Code's own figure: its cost-state total (the whole session, calls no
        transcript shows included) or the sum over the calls telemetry priced, the larger (a
        cost-state is written at exit, telemetry only covers calls while cctop listened). A
        fork's cost-state starts from its parent's total (same start time): not its own."""
        parent = self._sessions.get(forked_from) if forked_from is not None else None
        inherited = parent.cost_states.keys() if parent is not None else ()
        totals = [total for start, total in session.cost_states.items() if start not in inherited]
        figures = [f for f in (max(totals, default=None), from_calls) if f is not None]
        return max(figures) if figures else None

    def _tool_stats(self, session: _Session) -> tuple[tuple[ToolStats, ...], int, int]:
        by_name: dict[str, _ToolSum] = {}
        calls = errors = 0
        for entry in session.tools:
            name = entry.name
            if name is None:
                continue  # a result whose use we have not seen (yet)
            tool = by_name.get(name)
            if tool is None:
                tool = by_name[name] = _ToolSum()
            calls += 1
            tool.calls += 1
            if entry.is_error:
                errors += 1
                tool.errors += 1
            duration = entry.duration if entry.done else None
            if duration is not None:
                tool.timed += 1
                tool.total_duration_ms += duration
                if duration > tool.max_duration_ms:
                    tool.max_duration_ms = duration
        tools = tuple(
            ToolStats(name, t.calls, t.errors, t.timed, t.total_duration_ms, t.max_duration_ms)
            for name, t in sorted(by_name.items(), key=lambda item: (-item[1].calls, item[0]))
        )
        return tools, calls, errors

    def _feed(self, session: _Session) -> tuple[FeedItem, ...]:
        items = [
            FeedItem(ts, "prompt", f"prompt ({length:,} chars)") for ts, length in session.prompts.values()
        ]
        for entry in session.tools:
            if entry.name is not None:
                who = f" [{entry.agent_id}]" if entry.agent_id else ""
                items.append(FeedItem(entry.use_ts, "tool", f"{entry.name}{who}", entry.is_error))
        items.extend(FeedItem(ts, "compaction", "context compacted") for ts in session.compactions)
        items.extend(
            FeedItem(e.timestamp, "error", f"API error {e.status or ''} {e.error or ''}".strip(), True)
            for e in session.errors.values()
        )
        items.sort(key=lambda item: item.timestamp or 0.0)
        return tuple(items[-FEED_LENGTH:])

    def _totals(self, sessions: dict[str, SessionStats], now: float) -> Totals:
        day_start = _local_day_start(now)
        hour_start = now - 3600
        burn_start = now - BURN_WINDOW_S
        earliest = min(day_start, hour_start)
        rates_for = self._pricer.rates_for
        windows = {"today": _WindowSum(), "hour": _WindowSum()}
        starts = (("today", day_start), ("hour", hour_start))
        burn = 0.0
        for sid, stats in sessions.items():
            if stats.last_ts is None or stats.last_ts < earliest:
                continue
            for entry in self._sessions[sid].calls:
                call = entry.call
                ts = call.timestamp
                if ts is None or ts > now:
                    continue
                saved = 0.0
                if call.cache_read_tokens and ts >= earliest:
                    rates = rates_for(call)
                    if rates is not None:
                        saved = call.cache_read_tokens * (rates.input - rates.cache_read)
                for name, start in starts:
                    if ts >= start:
                        windows[name].add_call(entry.cost, call.prompt_tokens + call.output_tokens, saved)
                if ts >= burn_start and entry.cost is not None:
                    burn += entry.cost
            # Breaks are already found by the session's cache summary: only sum them here.
            for cache_break in stats.cache.breaks if stats.cache is not None else ():
                ts = cache_break.timestamp
                if ts is None or ts > now or cache_break.extra_cost_usd is None:
                    continue
                for name, start in starts:
                    if ts >= start:
                        windows[name].break_cost_usd += cache_break.extra_cost_usd
        return Totals(
            all_time=sum_tokens([s.tokens for s in sessions.values()]),
            today=windows["today"].frozen(),
            last_hour=windows["hour"].frozen(),
            burn_rate_usd_per_hour=burn * 3600 / BURN_WINDOW_S,
            sessions=len(sessions),
        )


class _ToolSum(msgspec.Struct):
    calls: int = 0
    errors: int = 0
    timed: int = 0
    total_duration_ms: float = 0.0
    max_duration_ms: float = 0.0


class _WindowSum(msgspec.Struct):
    """Spend inside a time window, summed call by call (see WindowTotals)."""

    cost_usd: float = 0.0
    tokens: int = 0
    requests: int = 0
    unpriced_requests: int = 0
    saved_usd: float = 0.0
    break_cost_usd: float = 0.0

    def add_call(self, cost: float | None, tokens: int, saved: float) -> None:
        if cost is None:
            self.unpriced_requests += 1
        else:
            self.cost_usd += cost
        self.tokens += tokens
        self.requests += 1
        self.saved_usd += saved

    def frozen(self) -> WindowTotals:
        return WindowTotals(**{f.name: getattr(self, f.name) for f in struct_fields(self)})


# Every call holds the set of sources that saw it; there are only a few such sets, so they
# are shared (a set of its own cost each call about 200 bytes).
_SOURCE_SETS: dict[frozenset[Source], frozenset[Source]] = {}


def _source_set(sources: frozenset[Source]) -> frozenset[Source]:
    return _SOURCE_SETS.setdefault(sources, sources)


_ONLY_SOURCE = {source: _source_set(frozenset((source,))) for source in Source}


def _same_call(entry: _CallEntry, call: ApiCall) -> bool:
    """Lines of one response carry identical input-side usage; so do replayed copies."""
    if entry.session_id in (call.session_id, call.maker):
        return True
    old = entry.call
    return (old.input_tokens, old.cache_read_tokens, old.cache_creation_tokens) == (
        call.input_tokens,
        call.cache_read_tokens,
        call.cache_creation_tokens,
    )


def _same_use(entry: _ToolEntry, use: ToolUse) -> bool:
    """A use under an id another session holds is a copy: by its line's word; when that entry
    is known so far only from copies or a result (its maker's own sighting, telemetry's
    included, dates it otherwise); or when it is the same use."""
    return _rank(use) == REPLAYED or (
        entry.name in (None, use.name) and (entry.rank <= REPLAYED or entry.use_ts in (None, use.timestamp))
    )


def _same_result(entry: _ToolEntry, result: ToolResult) -> bool:
    """A result under an id another session holds is a copy: by its line's word, while that
    entry has no result yet, or when it is the same result."""
    return result.evidence == REPLAYED or not entry.done or entry.result_ts in (None, result.timestamp)


def _with_timings(call: ApiCall, timed: ApiCall) -> ApiCall:
    return replace_struct(call, duration_ms=timed.duration_ms, ttft_ms=timed.ttft_ms or call.ttft_ms)


def _with_span_timing(call: ApiCall, timing: CallTiming) -> ApiCall:
    """The span's time to first token; its duration only where api_request gave none (the
    two clocks differ a little), so the figure shown does not depend on arrival order."""
    ttft = timing.ttft_ms if timing.ttft_ms is not None else call.ttft_ms
    duration = call.duration_ms if call.duration_ms is not None else timing.duration_ms
    if ttft == call.ttft_ms and duration == call.duration_ms:
        return call
    return replace_struct(call, ttft_ms=ttft, duration_ms=duration)


def _better_timing(new: CallTiming, old: CallTiming) -> bool:
    """Between two spans of one request id (a re-sent batch): the one that measured a first
    token, then the later one; so any arrival order keeps the same."""
    return _timing_rank(new) > _timing_rank(old)


def _timing_rank(timing: CallTiming) -> tuple[bool, float, float]:
    return (timing.ttft_ms is not None, timing.timestamp or 0.0, timing.ttft_ms or 0.0)


def _median(values: list[float]) -> float:
    """statistics.median, whose import (fractions, decimal, random) every start would pay."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _sum_known(costs: Sequence[float | None]) -> float | None:
    if any(c is None for c in costs):
        return None
    return sum(c for c in costs if c is not None)


def _unlogged_compactions(session: _Session, subagents: Sequence[SubagentStats]) -> int:
    """Compaction calls no transcript shows: a main-chain compact boundary without its
    ``agent-acompact-*`` file (Claude Code stopped writing those), in a session telemetry did
    not cover (an ``api_request`` with ``query_source: compact`` counts them there)."""
    if _OTLP in session.sources:
        return 0
    logged = sum(1 for a in subagents if a.is_compaction and a.requests)
    return max(0, len(session.main_compactions) - logged)


def _merge_agents(
    metas: dict[str, SubagentMeta], per_agent: dict[str, list[float | None]]
) -> dict[str, SubagentMeta | None]:
    merged: dict[str, SubagentMeta | None] = dict(metas)
    for agent_id in per_agent:
        merged.setdefault(agent_id, None)
    return merged


_HANDLERS: dict[type, Callable[[Ledger, Any], None]] = {
    ApiCall: Ledger._on_call,
    ToolUse: Ledger._on_tool_use,
    ToolResult: Ledger._on_tool_result,
    Prompt: Ledger._on_prompt,
    Compaction: Ledger._on_compaction,
    SessionMeta: Ledger._on_meta,
    SubagentMeta: Ledger._on_subagent,
    ApiError: Ledger._on_error,
    Activity: Ledger._on_activity,
    CallTiming: Ledger._on_timing,
    ReportedCost: Ledger._on_reported_cost,
}
