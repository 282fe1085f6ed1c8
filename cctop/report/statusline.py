"""The one line ``cctop statusline`` prints into Claude Code's status bar.

Every value that came from the input passes through ``safe_text``: the only control codes in
the line are cctop's own colours (Claude Code shows ANSI colours), on a limit past its warning
(yellow) or alarm (red) threshold, and only with ``color``. Fields with nothing to show are left
out rather than shown as zero.

Claude Code (2.1.332) cuts a status line wider than its terminal with an ellipsis, and tells
the command that width in ``COLUMNS``. Given a ``width``, the line makes room the way that
keeps what a subscriber looks for: the weekly reset loses its time of day, then the model
goes (Claude Code shows it already), then the context, then the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from cctop.format import money, safe_text
from cctop.model.limit_sample import DEFAULT_THRESHOLDS, LimitSample, WindowSample

DEFAULT_FIELDS = ("model", "cost", "context", "cache", "5h", "7d", "spend")
DEFAULT_SEPARATOR = " · "
PLAIN = "cctop"  # what is printed when the input could not be read


def countdown(seconds: float) -> str:
    """``4:12`` under an hour, ``2h05`` under a day, else ``3d``."""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    return f"{seconds // 86400}d"


def _reset(resets_at: float | None, now: float, day_only: bool = False) -> str:
    """When the window resets: local ``14:22`` within a day, else ``Mon 09:00`` (``Mon``)."""
    if resets_at is None:
        return ""
    pattern = "%H:%M" if resets_at - now < 86400 else "%a" if day_only else "%a %H:%M"
    text = time.strftime(pattern, time.localtime(resets_at))
    return f" ↻{text}"


# The limit fields: their label, and the sample's window they show.
_LIMITS = {"5h": ("5h", "five_hour"), "7d": ("wk", "seven_day"), "spend": ("spend", "spend_limit")}


def _ended(window: WindowSample, now: float) -> bool:
    return window.resets_at is not None and window.resets_at <= now


def _limit(name: str, sample: LimitSample, now: float, day_only: bool = False) -> str | None:
    label, attribute = _LIMITS[name]
    window: WindowSample | None = getattr(sample, attribute)
    if window is None:
        return None
    if _ended(window, now):
        return f"{label} reset"  # the figure belongs to a window that has ended
    return f"{label} {window.used_percentage:.0f}%{_reset(window.resets_at, now, day_only)}"


def _cache(sample: LimitSample, now: float) -> str | None:
    cache = sample.prompt_cache
    if cache is None or cache.hit_ratio is None:
        return None
    text = f"cache {cache.hit_ratio * 100:.0f}%"
    if cache.expires_at is not None:
        left = cache.expires_at - now
        text += f" {countdown(left)}" if left > 0 else " cold"
    return text


_FIELDS: dict[str, Callable[[LimitSample, float], str | None]] = {
    "model": lambda s, now: safe_text(s.model) if s.model else None,
    "cost": lambda s, now: None if s.cost_usd is None else money(s.cost_usd),
    "context": lambda s, now: (
        None if s.context_used_percentage is None else f"ctx {s.context_used_percentage:.0f}%"
    ),
    "cache": _cache,
    "5h": lambda s, now: _limit("5h", s, now),
    "7d": lambda s, now: _limit("7d", s, now),
    "spend": lambda s, now: _limit("spend", s, now),
}
FIELDS = tuple(_FIELDS)

# How the line makes room, in order (see the module doc): a field shortened, or None: dropped.
_NARROWER: tuple[tuple[str, Callable[[LimitSample, float], str | None] | None], ...] = (
    ("7d", lambda s, now: _limit("7d", s, now, day_only=True)),
    ("spend", lambda s, now: _limit("spend", s, now, day_only=True)),
    ("model", None),
    ("context", None),
    ("cache", None),
)


_YELLOW, _RED, _RESET = "\x1b[33m", "\x1b[31m", "\x1b[0m"


def _colour(name: str, text: str, sample: LimitSample, now: float) -> str:
    """A window past its warning or alarm threshold in yellow or red (an ended one never)."""
    window: WindowSample | None = getattr(sample, _LIMITS[name][1]) if name in _LIMITS else None
    if window is None or _ended(window, now):
        return text
    warn, alarm = DEFAULT_THRESHOLDS
    used = window.used_percentage
    return f"{_RED}{text}{_RESET}" if used >= alarm else f"{_YELLOW}{text}{_RESET}" if used >= warn else text


def line(sample: LimitSample, fields: Sequence[str] = DEFAULT_FIELDS, separator: str = DEFAULT_SEPARATOR,
         now: float | None = None, width: int | None = None, color: bool = False) -> str:  # fmt: skip
    """The fields in order; with ``width``, narrowed (see the module doc) until it fits or
    nothing more can go (colours take no room)."""
    now = time.time() if now is None else now
    parts = {name: _FIELDS[name](sample, now) for name in fields if name in _FIELDS}

    def joined() -> str:
        return separator.join(p for p in parts.values() if p)

    text = joined()
    dropped: list[tuple[str, str]] = []
    for name, narrower in _NARROWER:
        if width is None or len(text) <= width:
            break
        was = parts.get(name)
        if was:
            parts[name] = narrower(sample, now) if narrower else None
            if narrower is None:
                dropped.append((name, was))
            text = joined()
    for name, was in reversed(dropped[:-1]):  # the last one had to go; an earlier may fit again
        parts[name] = was
        if width is not None and len(joined()) > width:
            parts[name] = None
    if color:
        parts = {name: _colour(name, part, sample, now) if part else part for name, part in parts.items()}
    return joined() or PLAIN
