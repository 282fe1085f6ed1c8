"""The per-request cache bar of the session screen: how a request's prompt split into tokens
read from the cache, written to it and sent uncached, plus the cause when the cache broke.

Cells stay plain ``(text, role)`` tuples, cheap to compare; ``bar_text`` styles them at render
time from the theme, one colour per glyph, so the bar reads without colour too.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from cctop.model.records import ApiCall
from cctop.ui.widgets.cache_strip import BREAK_GLYPHS

READ, WRITE, UNCACHED = "█", "▓", "░"
GLYPH_ROLES = {READ: "live", WRITE: "primary", UNCACHED: "warn"}
BAR_ROLE = "cache_bar"  # the cell role that asks for per-glyph styling
# Break causes (cctop.model.cache) as short labels, and as one glyph where room is short
# (the same glyphs as the cache strip above the table).
CAUSE_LABELS = {
    "ttl_expired": "ttl",
    "model_changed": "model",
    "compacted": "compact",
    "prefix_changed": "prefix",
    "break": "break",
}
CAUSE_GLYPHS = BREAK_GLYPHS
LABEL_WIDTH = max(len(label) for label in CAUSE_LABELS.values())


def shares(parts: tuple[int, ...], width: int) -> tuple[int, ...]:
    """Split ``width`` cells in proportion to ``parts`` (largest remainder: they always add up)."""
    total = sum(parts)
    if total <= 0 or width <= 0:
        return tuple(0 for _ in parts)
    exact = [part * width / total for part in parts]
    cells = [int(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - cells[i]), i))
    for i in by_remainder[: width - sum(cells)]:
        cells[i] += 1
    return tuple(cells)


def prompt_split(call: ApiCall) -> tuple[int, int, int]:
    """(read, written, uncached) tokens of the prompt, writes as the cache analysis counts them."""
    return call.cache_read_tokens, sum(call.cache_writes), call.input_tokens


def bar_cell(call: ApiCall, mark: str, bar_width: int, short: bool) -> tuple[str, str]:
    """``█████▓▓░ ttl``: the bar, then the break cause (a label, or one glyph when ``short``)."""
    read, write, uncached = shares(prompt_split(call), bar_width)
    bar = READ * read + WRITE * write + UNCACHED * uncached
    if not bar:
        bar = "·" * bar_width  # no prompt tokens (a synthetic or empty call)
    cause = ""
    if mark in CAUSE_LABELS:
        cause = " " + (CAUSE_GLYPHS[mark] if short else CAUSE_LABELS[mark])
    return bar + cause, BAR_ROLE


def bar_text(text: str, style_for: Callable[[str], str]) -> Text:
    """Style a ``bar_cell`` text: each glyph in its theme colour, the cause in the error colour."""
    out = Text(" ", no_wrap=True)  # a gap after the right-aligned cost column
    bar, _, cause = text.partition(" ")
    for glyph in bar:
        out.append(glyph, style=style_for(GLYPH_ROLES.get(glyph, "muted")))
    if cause:
        out.append(" ")
        out.append(cause, style=f"bold {style_for('error')}")
    return out
