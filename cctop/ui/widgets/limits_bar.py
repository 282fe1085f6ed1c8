"""The header's limits line: the official 5-hour and weekly figures (and a gateway's spend
limit) as bars with reset countdowns, the pace to the reset, the figure's age and source.
Without statusline samples it says "no data": no estimate is ever shown in its place."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

from cctop import format as fmt
from cctop.model.limits import FIVE_HOUR, SEVEN_DAY, SPEND_LIMIT, LimitsView, WindowView
from cctop.report.statusline import countdown

StyleFor = Callable[[str], str]
BAR_WIDTH = 8
LABELS = {FIVE_HOUR: "5h", SEVEN_DAY: "wk", SPEND_LIMIT: "spend"}


def _role(used: float) -> str:
    return "error" if used >= 95 else "warn" if used >= 80 else "live"


def bar(used: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(100.0, used)) / 100 * width)
    return "█" * filled + "░" * (width - filled)


def _window(text: Text, window: WindowView, now: float, style_for: StyleFor) -> None:
    label = LABELS[window.name]
    if window.expired:
        text.append(
            f"{label} reset {fmt.clock(window.resets_at)[:5]}, no newer figure", style=style_for("muted")
        )
        return
    role = _role(window.used_percentage)
    text.append(f"{label} ")
    text.append(bar(window.used_percentage), style=style_for(role))
    text.append(f" {window.used_percentage:.0f}%", style=f"bold {style_for(role)}")
    if window.resets_at is not None:
        text.append(f" ↻{countdown(window.resets_at - now)}")
    if window.pace_at_reset is not None:
        pace_role = "error" if window.runs_out_before_reset else ""
        text.append(f" →{min(window.pace_at_reset, 999):.0f}%", style=style_for(pace_role))


def limits_text(
    view: LimitsView | None, now: float, style_for: StyleFor, dropped: int = 0, installed: bool = False
) -> Text:
    """``installed``: cctop's status line command is in a watched config dir's settings, so
    with no figure yet the line says they are on their way instead of how to install it."""
    text = Text(no_wrap=True, overflow="ellipsis")
    muted = style_for("muted")
    if view is None or not view.has_data:
        if installed:  # Claude Code passes them on from a subscriber's first reply
            said = "limits: no data yet (status line installed; sent with a subscriber's reply)"
            text.append(said, style=muted)
        else:
            text.append("limits: no data", style=muted)
            text.append(" (subscribers: cctop statusline --install)", style=muted)
        return text
    first = True
    for name in (FIVE_HOUR, SEVEN_DAY, SPEND_LIMIT):
        window = view.window(name)
        if window is None:
            continue
        if not first:
            text.append("  ")
        _window(text, window, now, style_for)
        first = False
    newest = max(w.observed_at for w in (view.five_hour, view.seven_day, view.spend_limit) if w is not None)
    age = fmt.ago(newest, now)
    text.append(f"  {age if age == 'now' else age + ' ago'}, official (statusline)", style=muted)
    if dropped:
        text.append(f", {dropped} dropped (store unusable)", style=style_for("warn"))
    return text


class LimitsBar(Static):
    DEFAULT_CSS = """
    LimitsBar { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._last: tuple | None = None

    def set_text(self, text: Text) -> bool:
        key = (text.plain, [(s.start, s.end, str(s.style)) for s in text.spans])
        if key == self._last:
            return False
        self._last = key
        self.update(text)
        return True
