"""Prompt-cache analysis of one session's calls: hit rates, dollars saved and lost, cache
breaks with their likely cause, and the TTL countdown of the main chain.

Pure: calls in, frozen figures out. One pass over the calls, O(n), with per-agent state
only; ``summarize`` allocates nothing per call, ``analyze_requests`` one RequestCache.

Break rule (per agent: the main chain, or one subagent). Let P = read + write of the agent's
previous request (what it left cached) and R its read. The current request, reading r, is a
break when r is at least ``MIN_LOST_TOKENS`` below P and either
  * r < ``KEEP_RATIO`` x P (the cache was (nearly) lost), or
  * r < ``STABLE_RATIO`` x R and at least ``MIN_LOST_TOKENS`` below R (part of the prefix that
    had already been read back once is gone: it was invalidated, not merely not reused).
Skipping only the previous request's newest write (a moved breakpoint) is a dip, not a break.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence

import msgspec

from cctop.model.pricing import PriceBook, Rates
from cctop.model.records import ApiCall, Source
from cctop.model.snapshot import BreakCause, CacheBreak, CacheSummary, PricedCall, RequestCache

TTL_5M = 300.0
TTL_1H = 3600.0
# The smallest prompt Anthropic caches is 1,024 tokens: a smaller loss cannot be a lost cache.
MIN_LOST_TOKENS = 1024
KEEP_RATIO = 0.5
STABLE_RATIO = 0.9
RECENT_REQUESTS = 10
# A request of another model whose prompt is below this share of what the agent had cached
# is a side call (a title or summary query), not the conversation moving to that model.
SIDE_CALL_RATIO = 0.5
SYNTHETIC_MODEL = "<synthetic>"
# Telemetry names no subagent, so a main-chain call known only from OTLP may be a subagent's.
# Such a call is a break only if it resends (nearly) all the previous call had cached.
RESEND_RATIO = 0.9

TTL_EXPIRED = BreakCause.TTL_EXPIRED
MODEL_CHANGED = BreakCause.MODEL_CHANGED
COMPACTED = BreakCause.COMPACTED
PREFIX_CHANGED = BreakCause.PREFIX_CHANGED
CAUSES = tuple(BreakCause)
TRANSCRIPT = Source.TRANSCRIPT

RatesFor = Callable[[ApiCall], "Rates | None"]


def default_model_key(model: str) -> str:
    """Same cache, same key: ``claude-opus-4-8[1m]`` (telemetry) is ``claude-opus-4-8`` (transcript)."""
    return model.strip().lower().replace("[1m]", "")


class _Agent:
    """What one agent's previous request left behind."""

    __slots__ = ("prefix", "read", "ts", "model", "ttl", "ttl_known")

    def __init__(self) -> None:
        self.prefix = 0
        self.read = 0
        self.ts: float | None = None
        self.model = ""  # raw model id of the previous request
        self.ttl = TTL_5M
        self.ttl_known = False  # set once a write reported its 5m/1h split


class _Totals(msgspec.Struct, frozen=True):
    uncached: int
    read: int
    w5m: int
    w1h: int
    saved: float
    break_cost: float
    last: ApiCall | None  # the main chain's latest request that used the cache
    last_ttl: float


def _scan(
    calls: Sequence[PricedCall],
    compaction_times: Sequence[float],
    rates_for: RatesFor,
    model_key: Callable[[str], str],
    out: list[RequestCache] | None,
) -> tuple[_Totals, list[CacheBreak]]:
    agents: dict[str | None, _Agent] = {}
    breaks: list[CacheBreak] = []
    emit = out.append if out is not None else None
    # Plain locals, not attributes: this loop runs over every call of a changed session.
    sum_uncached = sum_read = sum_5m = sum_1h = 0
    sum_saved = break_cost = 0.0
    last: ApiCall | None = None
    last_ttl = TTL_5M
    for priced in calls:
        call = priced.call
        read = call.cache_read_tokens
        w5m, w1h = call.cache_writes
        write = w5m + w1h
        uncached = call.input_tokens
        prompt = read + write + uncached
        if prompt == 0 or call.model == SYNTHETIC_MODEL:
            if emit is not None:
                emit(RequestCache(read, write, uncached, None, 0.0, 0.0, None))
            continue
        sum_uncached += uncached
        sum_read += read
        sum_5m += w5m
        sum_1h += w1h
        rates = rates_for(call)
        saved = None
        if rates is not None:
            saved = read * (rates.input - rates.cache_read)
            sum_saved += saved

        ts = call.timestamp
        agent_id = call.agent_id
        model = call.model
        agent = agents.get(agent_id)
        cache_break: CacheBreak | None = None
        if agent is None:
            agent = agents[agent_id] = _Agent()
        else:
            same_model = model == agent.model or model_key(model) == model_key(agent.model)
            if not same_model and prompt < SIDE_CALL_RATIO * agent.prefix:
                # A side query on another model: it neither breaks nor replaces this agent's cache.
                if emit is not None:
                    emit(_request(read, w5m, w1h, uncached, saved, rates, None))
                continue
            gap = ts - agent.ts if ts is not None and agent.ts is not None else None
            lost = agent.prefix - read
            if (
                lost > MIN_LOST_TOKENS
                and (
                    read < KEEP_RATIO * agent.prefix
                    or (read < STABLE_RATIO * agent.read and agent.read - read > MIN_LOST_TOKENS)
                )
                and (
                    agent_id is not None
                    or TRANSCRIPT in priced.sources
                    or prompt >= RESEND_RATIO * agent.prefix
                )
            ):
                cache_break = _break(call, agent, same_model, gap, lost, w5m, w1h, rates, compaction_times)
                breaks.append(cache_break)
                if cache_break.extra_cost_usd is not None:
                    break_cost += cache_break.extra_cost_usd
            elif gap is not None and gap > agent.ttl and read > MIN_LOST_TOKENS and not agent.ttl_known:
                # Telemetry gives no 5m/1h split; a cache that outlived 5 minutes was written for 1h.
                agent.ttl = TTL_1H
        if w1h:
            agent.ttl, agent.ttl_known = TTL_1H, True
        elif call.cache_creation_5m_tokens:
            agent.ttl, agent.ttl_known = TTL_5M, True
        agent.prefix = read + write
        agent.read = read
        agent.model = model
        if ts is not None:
            agent.ts = ts
        if agent_id is None and (read or write):
            last, last_ttl = call, agent.ttl
        if emit is not None:
            emit(_request(read, w5m, w1h, uncached, saved, rates, cache_break))
    totals = _Totals(sum_uncached, sum_read, sum_5m, sum_1h, sum_saved, break_cost, last, last_ttl)
    return totals, breaks


def _request(
    read: int,
    w5m: int,
    w1h: int,
    uncached: int,
    saved: float | None,
    rates: Rates | None,
    cache_break: CacheBreak | None,
) -> RequestCache:
    premium = None
    if rates is not None:
        premium = w5m * (rates.cache_write_5m - rates.input) + w1h * (rates.cache_write_1h - rates.input)
    write = w5m + w1h
    return RequestCache(read, write, uncached, read / (read + write + uncached), saved, premium, cache_break)


def _break(
    call: ApiCall,
    agent: _Agent,
    same_model: bool,
    gap: float | None,
    lost: int,
    w5m: int,
    w1h: int,
    rates: Rates | None,
    compaction_times: Sequence[float],
) -> CacheBreak:
    if gap is not None and gap > agent.ttl:
        cause = TTL_EXPIRED
    elif not same_model:
        cause = MODEL_CHANGED
    elif _compaction_between(compaction_times, agent.ts, call.timestamp):
        cause = COMPACTED
    else:
        cause = PREFIX_CHANGED
    # Only what had been cached counts as lost: new content would have been written anyway.
    # Writes first (they carry the cache), then any uncached input.
    written = min(w5m + w1h, lost)
    resent_input = min(call.input_tokens, lost - written)
    extra = None
    if rates is not None:
        extra = resent_input * (rates.input - rates.cache_read)
        if written:
            write_cost = w5m * rates.cache_write_5m + w1h * rates.cache_write_1h
            extra += written * (write_cost / (w5m + w1h) - rates.cache_read)
    return CacheBreak(call.timestamp, call.agent_id, cause, written + resent_input, extra)


def _compaction_between(times: Sequence[float], start: float | None, end: float | None) -> bool:
    if start is None or end is None or not times:
        return False
    index = bisect_right(times, start)
    return index < len(times) and times[index] <= end


def analyze_requests(
    calls: Sequence[PricedCall],
    compaction_times: Sequence[float],
    rates_for: RatesFor,
    model_key: Callable[[str], str] = default_model_key,
) -> tuple[RequestCache, ...]:
    """Per-call cache figures, in the order of ``calls`` (oldest first)."""
    out: list[RequestCache] = []
    _scan(calls, sorted(compaction_times), rates_for, model_key, out)
    return tuple(out)


def summarize(
    calls: Sequence[PricedCall],
    compaction_times: Sequence[float],
    rates_for: RatesFor,
    now: float,
    model_key: Callable[[str], str] = default_model_key,
) -> CacheSummary:
    """The session's cache figures. ``now`` is not baked in: a summary stays valid while the
    clock moves, and ``seconds_left(now)`` gives the countdown."""
    del now  # part of the ledger's hook signature; see the docstring
    totals, breaks = _scan(calls, sorted(compaction_times), rates_for, model_key, None)
    by_cause = dict.fromkeys(CAUSES, 0)
    for b in breaks:
        by_cause[b.cause] += 1
    last, ttl = totals.last, totals.last_ttl
    last_ts = expires_at = rewrite = ttl_seconds = None
    if last is not None:
        last_ts = last.timestamp
        ttl_seconds = ttl
        expires_at = last_ts + ttl if last_ts is not None else None
        rates = rates_for(last)
        if rates is not None:
            cached = last.cache_read_tokens + sum(last.cache_writes)
            rewrite = cached * (rates.cache_write_1h if ttl == TTL_1H else rates.cache_write_5m)
    return CacheSummary(
        hit_rate=_rate(totals.uncached, totals.read, totals.w5m + totals.w1h),
        hit_rate_recent=_recent_hit_rate(calls),
        saved_usd=totals.saved,
        break_cost_usd=totals.break_cost,
        breaks=tuple(breaks),
        breaks_by_cause=dict(by_cause),  # a private copy; plain so summaries pickle
        write_5m_tokens=totals.w5m,
        write_1h_tokens=totals.w1h,
        last_request_ts=last_ts,
        ttl_seconds=ttl_seconds,
        expires_at=expires_at,
        rewrite_cost_usd=rewrite,
    )


def _rate(uncached: int, read: int, write: int) -> float | None:
    total = uncached + read + write
    return read / total if total else None


def _recent_hit_rate(calls: Sequence[PricedCall]) -> float | None:
    uncached = read = write = seen = 0
    for index in range(len(calls) - 1, -1, -1):
        call = calls[index].call
        w5m, w1h = call.cache_writes
        if call.model == SYNTHETIC_MODEL or not (call.input_tokens or call.cache_read_tokens or w5m or w1h):
            continue
        uncached += call.input_tokens
        read += call.cache_read_tokens
        write += w5m + w1h
        seen += 1
        if seen == RECENT_REQUESTS:
            break
    return _rate(uncached, read, write)


class CacheAnalysis:
    """The ledger's cache hook, priced and model-matched by a price book: the session figures
    for every snapshot, the per-call ones for an opened session."""

    def __init__(self, pricebook: PriceBook) -> None:
        self._rates_for: RatesFor = pricebook.rates_for
        # The book's own model resolution (dates, regions, ``[1m]``), cached per raw id.
        self._model_key: Callable[[str], str] = pricebook.normalize

    def summarize(
        self, calls: Sequence[PricedCall], compaction_times: Sequence[float], now: float
    ) -> CacheSummary:
        return summarize(calls, compaction_times, self._rates_for, now, self._model_key)

    def per_request(
        self, calls: Sequence[PricedCall], compaction_times: Sequence[float]
    ) -> tuple[RequestCache, ...]:
        return analyze_requests(calls, compaction_times, self._rates_for, self._model_key)


def make_summarizer(pricebook: PriceBook) -> CacheAnalysis:
    return CacheAnalysis(pricebook)
