"""The header: spend today / last hour, burn rate, hit rate, live sessions, source status."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import Static

from cctop import format as fmt
from cctop.model.snapshot import Snapshot, WindowTotals

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
    """Two lines: money and cache first (what people glance at), then where data comes from."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if snapshot is None:
        text.append("reading transcripts…", style=style_for("muted"))
    else:
        totals = snapshot.totals
        text.append(_window("today", totals.today), style="bold")
        text.append("  ")
        text.append(_window("1h", totals.last_hour))
        text.append("  burn ")
        text.append(f"{fmt.money(totals.burn_rate_usd_per_hour)}/h", style="bold")
        text.append("  hit ")
        rate = totals.all_time.cache_hit_rate
        text.append(fmt.percent(rate), style=style_for("live" if rate is not None and rate >= 0.8 else ""))
        text.append("  live ")
        text.append(str(live), style=f"bold {style_for('live')}" if live else "")
        text.append(f"/{totals.sessions}")
    text.append("\n")
    first = True
    for part in sources:
        if not first:
            text.append(" · ", style=style_for("muted"))
        text.append(fmt.safe_text(part), style=style_for("muted"))
        first = False
    for note in notes:
        text.append("  ")
        text.append(fmt.safe_text(note), style=f"bold {style_for('warn')}")
    return text


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
