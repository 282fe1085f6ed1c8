"""Timestamps as reports write them, fast: a light module (the statusline imports it too)."""

from __future__ import annotations

import math
from datetime import datetime, timezone


def utc_iso(timestamp: float | None) -> str | None:
    """``2026-11-20T10:00:00.123Z``: what ``datetime.fromtimestamp(timestamp, timezone.utc)
    .isoformat(timespec="milliseconds")`` gives, with Z. Reports write tens of thousands (a
    session's cache breaks), so each piece (the date and hour, the minutes and seconds, the
    milliseconds) is formatted once and looked up after: a third of datetime's time.
    Rounding as datetime does: to the microsecond half to even, then milliseconds cut."""
    if timestamp is None:
        return None
    if not 0 <= timestamp < _YEAR_10000:  # NaN, infinities and other years: datetime decides
        return _datetime_iso(timestamp)
    fraction, whole = math.modf(timestamp)
    seconds, micros = int(whole), round(fraction * 1e6)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    hour, second = divmod(seconds, 3600)
    prefix = _HOURS.get(hour)
    if prefix is None:
        if len(_HOURS) > 4096:  # a live process over years of history: bounded, as jsonl's
            _HOURS.clear()
        prefix = _HOURS[hour] = _datetime_iso(hour * 3600.0)[:14]  # 2026-11-20T10:
    clock = _CLOCKS.get(second)
    if clock is None:
        clock = _CLOCKS[second] = f"{second // 60:02d}:{second % 60:02d}."  # 00:00.
    millis = _MILLIS.get(micros // 1000)
    if millis is None:
        millis = _MILLIS[micros // 1000] = f"{micros // 1000:03d}Z"  # 123Z
    return prefix + clock + millis


_YEAR_10000 = 253_402_300_800.0
_HOURS: dict[int, str] = {}
_CLOCKS: dict[int, str] = {}
_MILLIS: dict[int, str] = {}


def _datetime_iso(timestamp: float) -> str:
    text = datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
