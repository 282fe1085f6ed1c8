"""The facts reports sum, taken from a ledger: each deduplicated, priced call as a CallFact,
each tool call and cache break as a Mark (``cctop.model.periods`` sums them by period).

Pure: reads a Ledger, does no I/O. ``FactsCache`` keeps each session's facts while the session
is unchanged, for the history screen that sums again while sessions run.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence

from cctop.model.ledger import Ledger
from cctop.model.periods import CallFact, Mark, Usage
from cctop.model.pricing import Rates
from cctop.model.records import ApiCall
from cctop.model.snapshot import PricedCall, SessionStats


class FactsCache:
    """Each session's facts, kept while its SessionStats object is the same one (the ledger
    builds a new one whenever the session changes): the history screen sums again after a
    change by turning only the changed sessions into facts. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[object, _SessionFacts]] = {}

    def usage(
        self, ledger: Ledger, rates_for: Callable[[ApiCall], Rates | None] | None
    ) -> tuple[Usage, dict[str, tuple[str, str | None]], int]:
        with self._lock:
            return usage_of(ledger, rates_for, self._sessions)


_SessionFacts = tuple[list[CallFact], list[Mark], list[Mark], int]


def usage_of(
    ledger: Ledger,
    rates_for: Callable[[ApiCall], Rates | None] | None,
    kept: dict[str, tuple[object, _SessionFacts]] | None = None,
) -> tuple[Usage, dict[str, tuple[str, str | None]], int]:
    """The ledger's calls, tool calls and cache breaks as facts. Returns (usage, session id
    -> (project, cwd), calls without a time). ``kept`` (a FactsCache's) holds facts made
    before, reused for sessions that did not change, and gets the new ones."""
    snapshot = ledger.snapshot()
    calls: list[CallFact] = []
    tools: list[Mark] = []
    breaks: list[Mark] = []
    sessions: dict[str, tuple[str, str | None]] = {}
    undated = 0
    fresh: dict[str, tuple[object, _SessionFacts]] = {}
    for sid, stats in snapshot.sessions.items():
        old = kept.get(sid) if kept is not None else None
        if old is not None and old[0] is stats:
            facts = old[1]
        else:
            found = ledger.session_calls(sid, snapshot.generated_at)
            if found is None:
                continue
            stats, priced, tool_calls = found
            facts = _session_facts(stats, priced, tool_calls, rates_for)
        fresh[sid] = (stats, facts)
        sessions[sid] = (stats.project, stats.cwd)
        calls.extend(facts[0])
        tools.extend(facts[1])
        breaks.extend(facts[2])
        undated += facts[3]
    if kept is not None:
        kept.clear()
        kept.update(fresh)
    return Usage(tuple(calls), tuple(tools), tuple(breaks)), sessions, undated


def _session_facts(
    stats: SessionStats,
    priced_calls: Sequence[PricedCall],
    tool_calls: Sequence[tuple[float | None, str | None]],
    rates_for: Callable[[ApiCall], Rates | None] | None,
) -> _SessionFacts:
    sid, name = stats.id, stats.project
    calls: list[CallFact] = []
    undated = 0
    # Per agent, its calls' times and models: a tool call or a break gets the model of the
    # agent's latest call at or before it.
    by_agent: dict[str | None, tuple[list[float], list[str]]] = {}
    for priced in priced_calls:  # oldest first
        call = priced.call
        ts = call.timestamp
        if ts is None:
            undated += 1
            continue
        saved = None
        if priced.cost_usd is not None and rates_for is not None:
            rates = rates_for(call) if call.cache_read_tokens else None
            saved = call.cache_read_tokens * (rates.input - rates.cache_read) if rates else 0.0
        calls.append(
            CallFact(
                ts, sid, name, call.model, call.input_tokens, call.output_tokens,
                call.cache_read_tokens, call.cache_creation_tokens, priced.cost_usd,
                priced.reported_cost_usd, saved,
            )
        )  # fmt: skip
        times, models = by_agent.setdefault(call.agent_id, ([], []))
        times.append(ts)
        models.append(call.model)
    fallback = stats.models[0] if stats.models else "?"
    first = priced_calls[0].call.timestamp if priced_calls else stats.first_ts
    tools = []
    for ts, agent in tool_calls:
        ts = ts if ts is not None else first  # counted, as --once counts it
        if ts is not None:
            tools.append(Mark(ts, sid, name, _model_at(by_agent, ts, agent, fallback)))
    breaks = []
    for cache_break in getattr(stats.cache, "breaks", ()):
        ts = cache_break.timestamp
        if ts is not None:
            model = _model_at(by_agent, ts, cache_break.agent_id, fallback)
            breaks.append(Mark(ts, sid, name, model, cache_break.extra_cost_usd))
    return calls, tools, breaks, undated


def _model_at(
    by_agent: dict[str | None, tuple[list[float], list[str]]], ts: float, agent: str | None, fallback: str
) -> str:
    """The model of ``agent``'s latest call at or before ``ts`` (its first call's if none)."""
    times, models = by_agent.get(agent) or by_agent.get(None) or ([], [])
    if not times:
        return fallback
    return models[max(bisect.bisect_right(times, ts) - 1, 0)]
