"""The header: spend today / last hour, burn rate, live sessions; cache hit rate and today's
cache dollars (saved, lost to breaks); status notes and sources."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import Static

from cctop import format as fmt
from cctop.model.snapshot import Snapshot, WindowTotals
from cctop.ui.layout import MUST, Part, pack
from cctop.ui.rows import hit_role

StyleFor = Callable[[str], str]


def _window(label: str, window: WindowTotals) -> str:
    cost = (
        fmt.money(None, partial=window.cost_usd) if window.unpriced_requests else fmt.money(window.cost_usd)
    )
    return f"{label} {cost} {fmt.tokens(window.tokens)}"


def totals_parts(
    snapshot: Snapshot | None,
    live: int,
    sources: Sequence[str | tuple[str, str]],
    notes: Sequence[str | tuple[str, str]],
    style_for: StyleFor,
) -> list[Part]:
    """The header's pieces in reading order: money first (what people glance at), the prompt
    cache today, status notes (PAUSED), then where the data comes from and the refresh rate.
    A source or note may come as ``(full, short)``."""
    muted = style_for("muted")
    parts: list[Part] = []
    if snapshot is None:
        parts.append(Part(Text("reading transcripts…", style=muted), MUST))
    else:
        totals = snapshot.totals
        parts.append(Part(Text(_window("today", totals.today), style="bold"), MUST))
        parts.append(Part(Text(_window("1h", totals.last_hour)), 5))
        burn = Text("burn ") + Text(f"{fmt.money(totals.burn_rate_usd_per_hour)}/h", style="bold")
        parts.append(Part(burn, 3))
        count = Text(str(live), style=f"bold {style_for('live')}" if live else "")
        parts.append(Part(Text("live ") + count + Text(f"/{totals.sessions}"), 2))
        hit, saved, lost = _cache_texts(snapshot, style_for)
        parts.append(Part(Text("cache hit ") + hit, 2, Text("hit ") + hit))
        parts.append(Part(Text("saved ") + saved, 4))
        parts.append(Part(Text("lost ") + lost, 4))
    for note in notes:
        full, short = note if isinstance(note, tuple) else (note, None)
        style = f"bold {style_for('warn')}"
        is_pause = full.startswith("PAUSED")
        parts.append(
            Part(
                Text(fmt.safe_text(full), style=style),
                MUST if is_pause else 1,
                None if short is None else Text(fmt.safe_text(short), style=style),
            )
        )
    for source in sources:
        full, short = source if isinstance(source, tuple) else (source, None)
        parts.append(
            Part(
                Text(fmt.safe_text(full), style=muted),
                MUST,
                None if short is None else Text(fmt.safe_text(short), style=muted),
            )
        )
    return parts


def _cache_texts(snapshot: Snapshot, style_for: StyleFor) -> tuple[Text, Text, Text]:
    """Hit rate over all sessions shown, dollars saved by cache reads today and lost to cache
    breaks today (warning colour when any)."""
    totals = snapshot.totals
    rate = totals.all_time.cache_hit_rate
    hit = Text(fmt.percent(rate), style=style_for(hit_role(rate)))
    saved = Text(fmt.money(totals.today.saved_usd), style="bold")
    lost = totals.today.break_cost_usd
    return hit, saved, Text(fmt.money(lost), style=f"bold {style_for('warn')}" if lost > 0 else "")


class TotalsBar(Static):
    """Two lines (three below 78 columns), packed from parts at the current width."""

    DEFAULT_CSS = """
    TotalsBar { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._parts: list[Part] = []
        self._plain: str | None = None
        self._styles: list | None = None

    def set_parts(self, parts: list[Part]) -> bool:
        self._parts = parts
        return self._repack()

    def on_resize(self) -> None:
        self._repack()

    def _repack(self) -> bool:
        width = self.content_region.width or self.app.size.width - 2
        return self.set_text(pack(self._parts, width, 2 if width >= 76 else 3))

    def set_text(self, text: Text) -> bool:
        """Only repaint when the text or its styling changed."""
        spans = [(s.start, s.end, str(s.style)) for s in text.spans]
        if text.plain == self._plain and spans == self._styles:
            return False
        self._plain, self._styles = text.plain, spans
        self.update(text)
        return True
