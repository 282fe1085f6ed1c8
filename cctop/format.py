"""Plain-text formatting shared by the TUI and ``--once``: numbers, money, times, safe text.

Returns str only (no Rich, no Textual), so both front ends show figures the same way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cctop.model.iso import utc_iso

if TYPE_CHECKING:
    from cctop.model.snapshot import SessionStats

# C0/C1 control characters (ESC starts terminal escape sequences), DEL, and the bidi /
# zero-width format characters that can disguise text. Shown as visible escapes instead.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The same in orjson's output, which escapes C0 only: DEL, C1 (UTF-8 encoded), zero-width,
# line/paragraph separators and bidi characters, escaped as \uXXXX (still the same JSON).
_JSON_UNSAFE = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\x8b-\x8f\xa8\xa9\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def safe_text(value: object) -> str:
    """Text from a log made safe for a terminal: control characters become ``\\xNN``.

    Markup is handled by the renderer (always build rich.text.Text, never parse markup);
    this only guarantees no byte from a log reaches the terminal as a control code.
    """
    text = "" if value is None else str(value)
    text = text.replace("\n", " ").replace("\t", " ")
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def json_safe(data: bytes) -> bytes:
    """orjson output safe for a terminal: the characters safe_text neutralises, escaped."""
    if data.isascii() and b"\x7f" not in data:  # DEL is the one ASCII byte among them
        return data
    if not _JSON_UNSAFE.search(data):
        return data
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group().decode()):04x}".encode(), data)


def shorten(text: str, limit: int = 80) -> str:
    """Free text (a prompt, a summary) as a one-line title of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def tokens(n: int | None) -> str:
    """12, 12.3k, 456k, 4.1M, 2.0B."""
    if n is None:
        return "-"
    if n < 1000:
        return str(n)
    for divisor, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B")):
        value = n / divisor
        if value < 99.95:
            return f"{value:.1f}{suffix}"
        if value < 999.5:
            return f"{value:.0f}{suffix}"
    return f"{n / 1e12:.1f}T"


def money(usd: float | None, *, partial: float | None = None) -> str:
    """``$0.42``; ``?`` when unknown; ``≥$0.42`` when only part of it could be priced."""
    if usd is None:
        if partial:
            return f"≥{money(partial)}"
        return "?"
    if usd >= 1000:
        return f"${usd:,.0f}"
    if usd >= 100:
        return f"${usd:.1f}"
    return f"${usd:.2f}"


def session_cost(stats: Any) -> str:
    """A session's cost; ``+`` when it leaves out calls no transcript shows (compactions
    without telemetry): a lower bound, as the output-token ``+``."""
    text = money(stats.cost_usd, partial=stats.tokens.cost_usd)
    return text + "+" if stats.excludes_unlogged_calls and text != "?" else text


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.0f}%"


def ago(timestamp: float | None, now: float | None = None) -> str:
    """Relative time: ``now``, ``42s``, ``5m``, ``3h``, ``2d``."""
    if timestamp is None:
        return "-"
    seconds = max(0.0, (time.time() if now is None else now) - timestamp)
    if seconds < 5:
        return "now"
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def duration(seconds: float | None) -> str:
    """``850ms``, ``12.3s``, ``4m05s``, ``2h13m``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def iso(timestamp: float | None) -> str | None:
    """UTC ISO-8601 with milliseconds, as Claude Code writes them."""
    return utc_iso(timestamp)


def clock(timestamp: float | None) -> str:
    """Local wall-clock time of day."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def short_model(models: Sequence[str]) -> str:
    """The first model without ``claude-`` and a trailing date stamp, and how many more:
    ``sonnet-4-5+1`` for claude-sonnet-4-5-20250929 and one other."""
    if not models:
        return "-"
    name = models[0].removeprefix("claude-")
    head, _, tail = name.rpartition("-")
    if head and tail.isdigit() and len(tail) == 8:
        name = head
    return name + (f"+{len(models) - 1}" if len(models) > 1 else "")


TELEMETRY_ONLY = "(telemetry only)"


def session_names(stats: SessionStats) -> tuple[str, str]:
    """Project and title as shown, safe. A session seen only over OTLP has no directory to
    name it by: its short id, and where the telemetry says it runs, tell two of them apart."""
    if not stats.telemetry_only:
        return safe_text(stats.project), safe_text(stats.title or "")
    about = " ".join(p for p in (TELEMETRY_ONLY, stats.origin, stats.title) if p)
    return stats.id[:8], safe_text(about)
