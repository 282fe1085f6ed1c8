"""Per-request cache strip: a hit-rate sparkline, and under it the cache breaks marked.

One column per request (the newest ones that fit), so a break sits right under the
request whose prompt had to be written to the cache again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widget import Widget

from cctop.ui.rows import hit_role

BLOCKS = "▁▂▃▄▅▆▇█"
LABEL = 7
BREAK_GLYPHS = {
    "prefix_changed": "×",
    "ttl_expired": "T",
    "model_changed": "M",
    "compacted": "C",
    "break": "×",
}
BREAK_NAMES = {
    "prefix_changed": "prefix changed",
    "ttl_expired": "cache expired",
    "model_changed": "model changed",
    "compacted": "compacted",
    "break": "cache break",
}

StyleFor = Callable[[str], str]


class CacheStrip(Widget):
    DEFAULT_CSS = """
    CacheStrip { height: 2; padding: 0 1; }
    """

    def __init__(self, style_for: StyleFor, **kwargs) -> None:
        super().__init__(**kwargs)
        self._style_for = style_for
        self._rates: tuple[float | None, ...] = ()
        self._marks: tuple[str, ...] = ()

    def set_data(self, rates: Sequence[float | None], marks: Sequence[str]) -> None:
        """``marks[i]`` for request ``i``: "" (none), a break cause (cctop.model.cache: "ttl_expired",
        "model_changed", "compacted", "prefix_changed"; "break" if unknown) or "compact"
        (a compaction before it, no break)."""
        rates, marks = tuple(rates), tuple(marks)
        if (rates, marks) != (self._rates, self._marks):
            self._rates, self._marks = rates, marks
            self.refresh()

    def render(self) -> Text:
        room = max(1, self.size.width - 2 - LABEL)
        rates = self._rates[-room:]
        marks = self._marks[-room:]
        style = self._style_for
        top = Text("hit    ", style="bold", no_wrap=True)
        for rate in rates:
            if rate is None:
                top.append(" ")
                continue
            level = min(len(BLOCKS) - 1, int(rate * len(BLOCKS)))
            top.append(BLOCKS[level], style=style(hit_role(rate)))
        bottom = Text("breaks ", style="bold", no_wrap=True)
        for mark in marks:
            if mark in BREAK_GLYPHS:
                bottom.append(BREAK_GLYPHS[mark], style=f"bold {style('error')}")
            elif mark == "compact":
                bottom.append("c", style=style("accent"))
            else:
                bottom.append("·", style=style("muted"))
        seen = [cause for cause in BREAK_GLYPHS if cause in marks]
        if seen:
            bottom.append(
                "  " + "  ".join(f"{BREAK_GLYPHS[c]} {BREAK_NAMES[c]}" for c in seen), style=style("muted")
            )
        if not rates:
            top.append("no requests yet", style=style("muted"))
        return top + Text("\n") + bottom
