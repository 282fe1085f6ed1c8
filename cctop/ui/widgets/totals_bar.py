"""The header: spend today / last hour, burn rate, live sessions; cache hit rate and today's
cache dollars (saved, lost to breaks); status notes and sources."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import Static

from cctop import format as fmt
from cctop.model.snapshot import Snapshot, WindowTotals
from cctop.ui.rows import hit_role

StyleFor = Callable[[str], str]


def _window(label: str, window: WindowTotals) -> str:
    cost = (
        fmt.money(None, partial=window.cost_usd) if window.unpriced_requests else fmt.money(window.cost_usd)
    )
    return f"{label} {cost} {fmt.tokens(window.tokens)}"


def totals_text(
    snapshot: Snapshot | None,
    live: int,
    sources: Sequence[str],
    notes: Sequence[str],
    style_for: StyleFor,
) -> Text:
    """Two lines: money first (what people glance at), then the prompt cache today and the
    status notes, then where data comes from. Sized to keep the cache figures on an 80-column line."""
    text = Text(no_wrap=True, overflow="ellipsis")
    muted = style_for("muted")
    if snapshot is None:
        text.append("reading transcripts…", style=muted)
    else:
        totals = snapshot.totals
        text.append(_window("today", totals.today), style="bold")
        text.append("  ")
        text.append(_window("1h", totals.last_hour))
        text.append("  burn ")
        text.append(f"{fmt.money(totals.burn_rate_usd_per_hour)}/h", style="bold")
        text.append("  live ")
        text.append(str(live), style=f"bold {style_for('live')}" if live else "")
        text.append(f"/{totals.sessions}")
    text.append("\n")
    if snapshot is not None:
        _cache_part(text, snapshot, style_for)
        text.append("  ")
    for note in notes:
        text.append(fmt.safe_text(note), style=f"bold {style_for('warn')}")
        text.append("  ")
    first = True
    for part in sources:
        if not first:
            text.append(" · ", style=muted)
        text.append(fmt.safe_text(part), style=muted)
        first = False
    text.rstrip()
    return text


def _cache_part(text: Text, snapshot: Snapshot, style_for: StyleFor) -> None:
    """``cache hit 68% · saved $1.92 · lost $0.08``: hit rate over all sessions shown, dollars
    saved by cache reads today and lost to cache breaks today (warning colour when any)."""
    totals = snapshot.totals
    rate = totals.all_time.cache_hit_rate
    text.append("cache hit ")
    text.append(fmt.percent(rate), style=style_for(hit_role(rate)))
    text.append(" · saved ")
    text.append(fmt.money(totals.today.saved_usd), style="bold")
    text.append(" · lost ")
    lost = totals.today.break_cost_usd
    text.append(fmt.money(lost), style=f"bold {style_for('warn')}" if lost > 0 else "")


class TotalsBar(Static):
    DEFAULT_CSS = """
    TotalsBar { height: 2; padding: 0 1; background: $panel; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._plain: str | None = None
        self._styles: list | None = None

    def set_text(self, text: Text) -> bool:
        """Only repaint when the text or its styling changed."""
        spans = [(s.start, s.end, str(s.style)) for s in text.spans]
        if text.plain == self._plain and spans == self._styles:
            return False
        self._plain, self._styles = text.plain, spans
        self.update(text)
        return True
