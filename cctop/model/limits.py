"""Subscription limits (the 5-hour and weekly windows, a gateway's spend limit) from the
samples ``cctop statusline`` recorded: the official figures Claude Code got from the API's
``anthropic-ratelimit-unified-*`` headers. Pure: no I/O; callers pass samples and calls.

What is derived here, and how:

- the figure of a window is the highest ``used_percentage`` any sample reported for it (a
  window only fills up; a Claude Code process that has had no response lately repeats an
  older, lower figure), with the time it was last seen;
- a window is identified by its ``resets_at``: samples within ``SAME_WINDOW_S`` of each
  other belong to one window, and a figure whose reset has passed is no longer current;
- pace: the rate of the last ``PACE_LOOKBACK_S`` of samples (spanning at least a sixth of
  it), projected to the reset;
- each session's share: every rise between consecutive samples is split among the sessions
  whose calls were made in between, by cctop's price of those calls (with no call known in
  between, the session that reported the rise gets it).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal

import msgspec

from cctop.model.limit_sample import DEFAULT_THRESHOLDS, LimitSample, WindowSample

FIVE_HOUR = "five_hour"
SEVEN_DAY = "seven_day"
SPEND_LIMIT = "spend_limit"
WINDOWS = (FIVE_HOUR, SEVEN_DAY)
SAME_WINDOW_S = 600.0  # resets_at of one window as two responses reported it
PACE_LOOKBACK_S = {FIVE_HOUR: 3600.0, SEVEN_DAY: 86400.0, SPEND_LIMIT: 86400.0}
# A rate over less than this share of its lookback is a burst, not a pace: projected over the
# hours to a reset it reads "→780%" (seen live: 16 points in 3 minutes). 10 min for the
# 5-hour window, 4 h for the weekly one.
MIN_PACE_SHARE = 1 / 6


class WindowView(msgspec.Struct, frozen=True):
    name: str
    used_percentage: float
    resets_at: float | None
    observed_at: float  # when a sample last reported this figure
    session_id: str | None  # the session whose sample reported it
    expired: bool  # the reset time has passed: the window restarted, no newer figure yet
    pace_at_reset: float | None  # projected % at the reset from the recent rate; None: unknown
    runs_out_at: float | None  # when 100% is reached at that rate, if before the reset

    @property
    def runs_out_before_reset(self) -> bool:
        return self.runs_out_at is not None


class LimitsView(msgspec.Struct, frozen=True):
    five_hour: WindowView | None = None
    seven_day: WindowView | None = None
    spend_limit: WindowView | None = None
    # session id -> window name -> percentage points of the current window attributed to it
    shares: Mapping[str, Mapping[str, float]] = msgspec.field(default_factory=lambda: MappingProxyType({}))
    samples: int = 0

    def window(self, name: str) -> WindowView | None:
        window: WindowView | None = getattr(self, name)
        return window

    @property
    def has_data(self) -> bool:
        return any(self.window(n) is not None for n in (*WINDOWS, SPEND_LIMIT))


class Alert(msgspec.Struct, frozen=True):
    key: tuple[str, str]  # (window, what): said once per window (see first_time)
    resets_at: float | None
    text: str
    severity: Literal["warning", "error"]


def first_time(alert: Alert, said: dict[tuple[str, str], float | None]) -> bool:
    """Whether the alert is new for its window, noting it in ``said`` (key -> the reset time
    of the window it was given for)."""
    if alert.key in said and _same_window(said[alert.key], alert.resets_at):
        return False
    said[alert.key] = alert.resets_at
    return True


# A call for attribution: (timestamp, session id, weight: cctop's price or None).
Call = tuple[float, str, float | None]


def limits_view(samples: Sequence[LimitSample], now: float, calls: Sequence[Call] = ()) -> LimitsView:
    """The current figure of each window, its pace, and each session's share of it."""
    ordered = sorted(samples, key=lambda s: s.observed_at)
    views = {name: _window_view(ordered, name, now) for name in (*WINDOWS, SPEND_LIMIT)}
    shares: dict[str, dict[str, float]] = {}
    for name in WINDOWS:
        view = views[name]
        if view is None or view.expired:
            continue
        for session, points in _shares(ordered, name, view.resets_at, calls).items():
            shares.setdefault(session, {})[name] = points
    return LimitsView(
        five_hour=views[FIVE_HOUR],
        seven_day=views[SEVEN_DAY],
        spend_limit=views[SPEND_LIMIT],
        shares=MappingProxyType({k: MappingProxyType(v) for k, v in shares.items()}),
        samples=len(ordered),
    )


def _same_window(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= SAME_WINDOW_S


# A sample with its figure for one window, oldest first.
Point = tuple[LimitSample, WindowSample]


def _points(ordered: Sequence[LimitSample], name: str, resets_at: float | None) -> list[Point]:
    """The samples that reported the window ending at ``resets_at``."""
    points = []
    for sample in ordered:
        window = sample.window(name)
        if window is not None and _same_window(window.resets_at, resets_at):
            points.append((sample, window))
    return points


def _window_view(ordered: Sequence[LimitSample], name: str, now: float) -> WindowView | None:
    latest = next((w for s in reversed(ordered) if (w := s.window(name)) is not None), None)
    if latest is None:
        return None
    resets_at = latest.resets_at
    current = _points(ordered, name, resets_at)
    top, top_window = max(current, key=lambda p: (p[1].used_percentage, p[0].observed_at))
    used = top_window.used_percentage
    seen = max(s.observed_at for s, w in current if w.used_percentage >= used)
    expired = resets_at is not None and resets_at <= now
    pace = runs_out = None
    if not expired:
        pace, runs_out = _pace(current, PACE_LOOKBACK_S[name], used, seen, resets_at)
    return WindowView(name, used, resets_at, seen, top.session_id, expired, pace, runs_out)


def _pace(
    current: Sequence[Point], lookback: float, used: float, seen: float, resets_at: float | None
) -> tuple[float | None, float | None]:
    """(projected % at the reset, when 100% is reached if before the reset) from the rise
    over the lookback; (None, None) when the samples span too little time to tell."""
    if resets_at is None:
        return None, None
    recent = [(s, w) for s, w in current if s.observed_at >= seen - lookback]
    if not recent or seen - recent[0][0].observed_at < lookback * MIN_PACE_SHARE:
        return None, None
    first, first_window = recent[0]
    rate = max(0.0, (used - first_window.used_percentage) / (seen - first.observed_at))
    projected = used + rate * max(0.0, resets_at - seen)
    runs_out = None
    if rate > 0 and used < 100.0:
        at = seen + (100.0 - used) / rate
        runs_out = at if at < resets_at else None
    elif used >= 100.0:
        runs_out = seen
    return projected, runs_out


def _shares(
    ordered: Sequence[LimitSample], name: str, resets_at: float | None, calls: Sequence[Call]
) -> dict[str, float]:
    """Percentage points of the window per session: each rise of the high-water mark split
    among the sessions that made calls since the previous sample, by their calls' price."""
    times = sorted(calls, key=lambda c: c[0])
    shares: dict[str, float] = {}
    high: float | None = None
    prev_t: float | None = None
    for sample, window in _points(ordered, name, resets_at):
        used = window.used_percentage
        if high is not None and used > high and prev_t is not None:
            weights = _weights(times, prev_t, sample.observed_at)
            total = sum(weights.values())
            if total > 0:
                for session, weight in weights.items():
                    shares[session] = shares.get(session, 0.0) + (used - high) * weight / total
            elif sample.session_id:
                shares[sample.session_id] = shares.get(sample.session_id, 0.0) + (used - high)
        if high is None or used > high:
            high = used
        prev_t = sample.observed_at
    return {k: round(v, 6) for k, v in shares.items()}


def _weights(calls: Sequence[Call], start: float, end: float) -> dict[str, float]:
    """Calls made in (start, end], summed by session. ``calls`` is sorted by time."""
    lo = bisect_right(calls, start, key=lambda c: c[0])
    hi = bisect_right(calls, end, key=lambda c: c[0])
    weights: dict[str, float] = {}
    for _, session, weight in calls[lo:hi]:
        weights[session] = weights.get(session, 0.0) + (weight or 0.0)
    return weights


def alerts(view: LimitsView, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> list[Alert]:
    """Every alert the view calls for; the caller says each key once (once per window)."""
    out: list[Alert] = []
    levels = sorted(thresholds)
    for name, label in (
        (FIVE_HOUR, "5-hour limit"),
        (SEVEN_DAY, "weekly limit"),
        (SPEND_LIMIT, "spend limit"),
    ):
        window = view.window(name)
        if window is None or window.expired:
            continue
        crossed = [t for t in levels if window.used_percentage >= t]
        if crossed:
            top = crossed[-1]
            severity: Literal["warning", "error"] = "error" if top == levels[-1] else "warning"
            text = f"{label} at {window.used_percentage:.0f}% (threshold {top:g}%)"
            out.append(Alert((name, f"at{top:g}"), window.resets_at, text, severity))
        if window.runs_out_at is not None and window.used_percentage < 100.0:
            text = f"{label}: at this pace it runs out before the reset"
            out.append(Alert((name, "runs_out"), window.resets_at, text, "warning"))
    return out
