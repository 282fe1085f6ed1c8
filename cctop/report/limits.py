"""Subscription limits in ``--once --json``: the ``"limits"`` object and each session's
``"limit_share"``, from the statusline samples kept in the store.

``limits`` is null when no sample ever carried a limit (no ``cctop statusline`` installed,
an API-key login, or ``--no-store``): cctop never shows an estimate in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from cctop import format as fmt
from cctop.model.limits import FIVE_HOUR, SEVEN_DAY, LimitsView, WindowView, limits_view
from cctop.report.statusline import countdown

LOOKBACK_S = 8 * 86400.0  # a weekly window, plus a day of margin
SOURCE = "statusline"  # Claude Code's statusline input (rate_limits), recorded by cctop statusline

Calls = Callable[[float], list]


def load_view(store_path: Path, now: float, calls: Calls, warn: Callable[[str], None]) -> LimitsView | None:
    """The limits as of ``now`` from the samples of the last eight days; ``calls(since)`` gives
    the calls to attribute rises to. None when no sample carried a limit."""
    import sqlite3

    from cctop.store import samples as stored

    try:
        samples, dropped = stored.load(store_path, since=now - LOOKBACK_S)
    except sqlite3.Error as exc:
        warn(f"cannot read the statusline samples in {store_path} ({exc})")
        return None
    if dropped:
        warn(f"{dropped} statusline sample(s) were dropped: the store could not be written")
    if not any(s.five_hour or s.seven_day or s.spend_limit for s in samples):
        return None
    return limits_view(samples, now, calls(samples[0].observed_at))


def window_json(window: WindowView | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {
        "used_percentage": window.used_percentage,
        "resets_at": fmt.iso(window.resets_at),
        "observed_at": fmt.iso(window.observed_at),
        "session_id": window.session_id,
        "expired": window.expired,  # the reset passed since: the window restarted, no figure yet
        "pace_at_reset": None if window.pace_at_reset is None else round(window.pace_at_reset, 3),
        "runs_out_at": fmt.iso(window.runs_out_at),
        "source": SOURCE,
    }


def limits_json(view: LimitsView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "five_hour": window_json(view.five_hour),
        "seven_day": window_json(view.seven_day),
        "spend_limit": window_json(view.spend_limit),
        "samples": view.samples,
    }


def share_json(view: LimitsView | None, session_id: str) -> Mapping[str, float] | None:
    """Percentage points of each current window attributed to the session; None: none known."""
    if view is None:
        return None
    share = view.shares.get(session_id)
    return {k: share[k] for k in (FIVE_HOUR, SEVEN_DAY) if k in share} if share else None


def add_to_document(document: dict[str, Any], view: LimitsView | None) -> None:
    """``limits`` just before ``warnings`` (where the saved-documents path puts it too)."""
    warnings = document.pop("warnings")
    document["limits"] = limits_json(view)
    document["warnings"] = warnings
    for session in document["sessions"]:
        session["limit_share"] = share_json(view, session["id"])


def with_share(session_document: bytes, view: LimitsView | None, session_id: str) -> list[memoryview | bytes]:
    """A saved session document (indented two levels deep) with its ``limit_share`` added
    last, as ``add_to_document`` adds it to a fresh one: in three pieces, written one after
    the other, not copied into one."""
    share = share_json(view, session_id)
    value = b"null" if share is None else orjson.dumps(share, option=orjson.OPT_INDENT_2)
    value = value.replace(b"\n", b"\n      ")
    end = session_document.rindex(b"\n    }")
    document = memoryview(session_document)
    return [document[:end], b',\n      "limit_share": ' + value, document[end:]]


def limits_line(view: LimitsView | None, now: float) -> str | None:
    """The figures under the --once table: ``limits (official, statusline, 2m ago): 5h 47%,
    resets in 2h59, 61% at this pace · wk 14%, resets in 3d``; None without samples."""
    if view is None:
        return None
    parts = []
    for window, label in ((view.five_hour, "5h"), (view.seven_day, "wk"), (view.spend_limit, "spend")):
        if window is None:
            continue
        if window.expired:
            parts.append(f"{label} reset at {fmt.clock(window.resets_at)[:5]}, no newer figure")
            continue
        text = f"{label} {window.used_percentage:.0f}%"
        if window.resets_at is not None:
            text += f", resets in {countdown(window.resets_at - now)}"
        if window.pace_at_reset is not None:
            text += f", {window.pace_at_reset:.0f}% at this pace"
        parts.append(text)
    if not parts:
        return None
    newest = max(w.observed_at for w in (view.five_hour, view.seven_day, view.spend_limit) if w is not None)
    age = fmt.ago(newest, now)
    return f"limits (official, statusline, {age if age == 'now' else age + ' ago'}): " + " · ".join(parts)
