"""The history screen: cost per day (or week, or month) stacked by model or project, the
cache hit rate and tokens beneath, and the 5-hour blocks of the last days.

The figures are ``cctop report``'s: the live ledger's calls turned into facts and summed by
``cctop.model.periods`` in a worker thread, so the screen stays responsive while the live
view goes on updating; it is summed again when the ledger moved, at most every few seconds.
Charts are textual-plotext's; every label from a log goes through ``fmt.safe_text`` first,
because the widget turns the chart's text into Rich Text from ANSI.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from cctop import format as fmt
from cctop.model.periods import LocalTime, Report, Usage, period_range, summarize, within

if TYPE_CHECKING:
    from textual_plotext import PlotextPlot

    from cctop.ui.app import CctopApp

RECOMPUTE_GAP_S = 5.0  # at most this often while the ledger keeps moving
SPANS = {"daily": 30, "weekly": 12, "monthly": 12}  # periods on the x axis, at most
CELLS_PER_BAR = 3  # a narrower screen shows fewer periods, so bars stay apart
BLOCK_DAYS = 3  # the 5-hour blocks of this many last days
TOP_PARTS = 5  # models (or projects) stacked by name; the rest as "other"


def _plot() -> type[PlotextPlot]:
    """textual-plotext's chart widget, imported when a chart is first made: plotext takes ~15 ms
    to import, on the path of every start that never opens this screen."""
    from textual_plotext import PlotextPlot

    return PlotextPlot


# Distinct plotext colours, one per stacked part ("other" last, grey).
COLORS = ("cyan", "orange", "green", "magenta", "blue", "gray")


@dataclass(frozen=True, slots=True)
class History:
    kind: str
    by: str  # "model" | "project"
    periods: list[str]  # the x axis, oldest first, gaps included
    report: Report
    blocks: Report
    now: float
    version: int = -1  # the ledger's version it was summed from


class HistoryReady(Message):
    def __init__(self, history: History | None, error: str | None = None) -> None:
        super().__init__()
        self.history = history
        self.error = error


class HistoryWarm(Message):
    """The app's first sums of the history, made in the background before ``g``."""

    def __init__(self, history: History) -> None:
        super().__init__()
        self.history = history


def compute(usage: Usage, kind: str, by: str, now: float, width: int = 160, version: int = -1) -> History:
    """The periods on screen (as many as fit ``width`` cells) and their sums (pure; runs in a
    worker thread)."""
    local = LocalTime(None)
    today = local.date(now)
    span = max(4, min(SPANS[kind], (width - 12) // CELLS_PER_BAR))
    first = {
        "daily": today - timedelta(days=span - 1),
        "weekly": today - timedelta(days=today.weekday(), weeks=span - 1),  # from a Monday
        "monthly": _months_back(today, span - 1),
    }[kind]
    periods = period_range(first, today, kind)
    # Only the calls on screen are summed: a long history costs no more than a month of it.
    shown = within(usage, datetime(first.year, first.month, first.day).timestamp(), None)
    report = summarize(shown, kind, None, now, breakdown=by)
    recent = within(usage, now - BLOCK_DAYS * 86400, None)
    return History(kind, by, periods, report, summarize(recent, "blocks", None, now), now, version)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def stacks(history: History) -> tuple[list[str], list[list[float]]]:
    """(names, one cost series per name) over ``history.periods``: the TOP_PARTS largest
    by cost over the whole span, then "other"."""
    rows = {r.period: r for r in history.report.rows if r.period in set(history.periods)}
    totals: dict[str, float] = {}
    for row in rows.values():
        for name, f in row.breakdown:
            totals[name] = totals.get(name, 0.0) + f.cost_usd_priced
    top = sorted(totals, key=lambda n: (-totals[n], n))[:TOP_PARTS]
    names = [*top, "other"] if len(totals) > len(top) else top
    series = [[0.0] * len(history.periods) for _ in names]
    for index, period in enumerate(history.periods):
        found = rows.get(period)
        for name, f in found.breakdown if found else ():
            slot = names.index(name) if name in top else len(names) - 1
            series[slot][index] += f.cost_usd_priced
    return [fmt.safe_text(n) for n in names], series


def colors_for(names: list[str]) -> list[str]:
    """One colour per stacked name; "other" always grey."""
    return [COLORS[-1] if name == "other" else COLORS[i] for i, name in enumerate(names)]


# plotext colour names as Rich styles, for the legend line.
_RICH = {"cyan": "cyan", "orange": "dark_orange", "green": "green", "magenta": "magenta", "blue": "blue",
         "gray": "grey50"}  # fmt: skip


def legend(names: list[str], colors: list[str]) -> Text:
    """The stacked names in their colours, on one line (names are safe text already)."""
    text = Text(" ")
    for name, color in zip(names, colors, strict=True):
        text.append("■ ", style=_RICH.get(color, ""))
        text.append(name + "  ")
    return text


class HistoryScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("d", "period('daily')", "Days", id="days"),
        Binding("w", "period('weekly')", "Weeks", id="weeks"),
        Binding("m", "period('monthly')", "Months", id="months"),
        Binding("p", "toggle_by", "Model/project", id="by"),
    ]

    app: CctopApp

    def __init__(self, kind: str = "daily", by: str = "model") -> None:
        super().__init__()
        self.kind = kind
        self.by = by
        self.history: History | None = None
        self._computing = False
        self._seen_version = -1
        self._computed_at = 0.0
        self.draws = 0  # charts drawn (tests, benchmarks)

    def compose(self) -> ComposeResult:
        chart = _plot()
        yield Static(id="history-title")
        yield Static(id="legend")
        yield chart(id="cost-chart")
        with Horizontal(id="history-lower"):
            yield chart(id="hit-chart")
            yield chart(id="tokens-chart")
        yield Static(id="blocks")
        yield Footer()

    def on_mount(self) -> None:
        self._title("summing the history…")
        shown = self.app.last_history  # the last one summed (or made in the background)
        if shown is not None and (shown.kind, shown.by) == (self.kind, self.by):
            self.history = shown
            self._draw(shown, updating=shown.version != self.app.ledger.version)
            # Sum again once those charts are on screen: the worker would slow their first frame.
            self.call_after_refresh(self.recompute)  # the clock moved: the active block, the day
        else:
            self.recompute()
        self.watch(self.app, "frame", self._on_frame, init=False)

    def action_period(self, kind: str) -> None:
        if kind != self.kind:
            self.kind = kind
            self._title("summing…")
            self.recompute()

    def action_toggle_by(self) -> None:
        self.by = "project" if self.by == "model" else "model"
        self._title("summing…")
        self.recompute()

    # -- data -----------------------------------------------------------------------

    def _on_frame(self, frame: object) -> None:
        """With every frame the app takes: sums again when the ledger moved (throttled)."""
        if not self.is_current:
            return
        moved = self.app.ledger.version != self._seen_version
        if moved and time.monotonic() - self._computed_at >= RECOMPUTE_GAP_S:
            self.recompute()

    def recompute(self) -> None:
        if self._computing:
            return
        self._computing = True
        self._computed_at = time.monotonic()
        app, kind, by = self.app, self.kind, self.by
        version = self._seen_version = app.ledger.version
        now = app.clock()
        width = self.size.width or 160

        def work() -> None:
            try:
                usage, _, _ = app.history_facts.usage(app.ledger, app.ledger.rates_for)
                self.post_message(HistoryReady(compute(usage, kind, by, now, width, version)))
            except Exception as exc:  # keep the screen alive, and say what broke
                self.post_message(HistoryReady(None, f"{type(exc).__name__}: {exc}"))

        self.run_worker(work, thread=True, group="history", exit_on_error=False, description="sum history")

    def on_history_ready(self, message: HistoryReady) -> None:
        self._computing = False
        if message.history is None:
            self.notify(fmt.safe_text(message.error), title="history failed", severity="error", markup=False)
            return
        history = message.history
        if (history.kind, history.by) != (self.kind, self.by):
            self.recompute()  # switched meanwhile
            return
        self.history = history
        self.app.last_history = history
        self._draw(history)

    # -- drawing --------------------------------------------------------------------

    def _title(self, note: str = "") -> None:
        names = {"daily": "day", "weekly": "week", "monthly": "month"}
        text = Text(f" History: cost per {names[self.kind]}, by {self.by}", style="bold")
        text.append(f"   d/w/m days, weeks, months · p by {'project' if self.by == 'model' else 'model'}")
        if note:
            text.append(f"   {note}", style="italic")
        self.query_one("#history-title", Static).update(text)

    def _draw(self, history: History, updating: bool = False) -> None:
        labels = [_short(p, history.kind) for p in history.periods]
        xs = list(range(1, len(labels) + 1))
        ticks = _ticks(xs, labels)
        rows = {r.period: r for r in history.report.rows}
        names, series = stacks(history)
        total = sum(sum(s) for s in series)
        note = f"{fmt.money(total)} over these {len(labels)} {_plural(history.kind)}"
        self._title(note + (" (updating…)" if updating else ""))

        self.query_one("#legend", Static).update(legend(names, colors_for(names)))
        chart = _plot()
        cost = self.query_one("#cost-chart", chart)
        plt = cost.plt
        plt.clear_figure()
        plt.title(f"cost per {_unit(history.kind)} (USD, priced calls)")
        if names:
            colors = [
                *COLORS[: len(names) - 1],
                COLORS[-1] if names[-1] == "other" else COLORS[len(names) - 1],
            ]
            # Full-block cells: half blocks leave gaps between stacked parts.
            plt.stacked_bar(xs, series, color=colors, width=0.8)  # type: ignore[arg-type]  # a list per part
            _y_axis(plt, max(map(sum, zip(*series, strict=True)), default=0.0), cost.size.height)
        plt.xticks(*ticks)
        cost.refresh()

        hit = self.query_one("#hit-chart", chart)
        plt = hit.plt
        plt.clear_figure()
        plt.title("cache hit rate %")
        rates = [rows[p].figures.cache_hit_rate if p in rows else None for p in history.periods]
        points = [(x, r * 100) for x, r in zip(xs, rates, strict=True) if r is not None]
        if points:
            plt.bar([x for x, _ in points], [y for _, y in points], color="green", width=0.8, marker="hd")
        plt.ylim(0, 100)
        plt.yticks([0, 50, 100])
        plt.xticks(*ticks)
        hit.refresh()

        tokens = self.query_one("#tokens-chart", chart)
        plt = tokens.plt
        plt.clear_figure()
        plt.title("tokens (millions)")
        counts = [rows[p].figures.total_tokens / 1e6 if p in rows else 0.0 for p in history.periods]
        if any(counts):
            plt.bar(xs, counts, color="blue", width=0.8, marker="hd")
            _y_axis(plt, max(counts), tokens.size.height)
        plt.xticks(*ticks)
        tokens.refresh()

        self.query_one("#blocks", Static).update(blocks_text(history))
        self.draws += 1


def blocks_text(history: History) -> Text:
    """The 5-hour blocks of the last days, newest first, and the active one's pace."""
    local = LocalTime(None)
    report = history.blocks
    text = Text(f"5-hour blocks, last {BLOCK_DAYS} days", style="bold")
    active = report.active
    if active is not None:
        text.append(
            f"   now: {fmt.money(active.burn_rate_usd_per_hour)}/h, {fmt.duration(active.seconds_left)} left,"
            f" projected {fmt.money(active.projected_cost_usd)}"
        )
    top = max((r.figures.cost_usd_priced for r in report.rows), default=0.0)
    for row in reversed(report.rows):
        if row.start is None or row.end is None:
            continue
        f = row.figures
        start, end = local.datetime(row.start), local.datetime(row.end)
        share = f.cost_usd_priced / top if top else 0.0
        bar = "█" * max(1, round(share * 20)) if f.cost_usd_priced else ""
        line = (
            f"\n{start:%a %d %H:%M}-{end:%H:%M}  {fmt.money(f.cost_usd, partial=f.cost_usd_priced):>8}"
            f"  {f.requests:>5} req  hit {fmt.percent(f.cache_hit_rate):>4}  "
        )
        text.append(line)
        text.append(
            f"{bar:<20}", style="bold" if active is not None and row.start == _start(active, report) else ""
        )
    if not report.rows:
        text.append("\nno calls in the last days")
    return text


def _start(active, report: Report) -> float | None:
    return report.rows[-1].start if report.rows and active is not None else None


def _short(period: str, kind: str) -> str:
    if kind == "daily":
        return period[5:]  # 11-22
    if kind == "weekly":
        return period[5:]  # W47
    return period  # 2026-11


def _unit(kind: str) -> str:
    return {"daily": "day", "weekly": "week", "monthly": "month"}[kind]


def _plural(kind: str) -> str:
    return _unit(kind) + "s"


def value_ticks(top: float, most: int = 4) -> list[float]:
    """Evenly spaced round values from 0 to at least ``top``: at most ``most`` steps of 1, 2,
    2.5 or 5 times a power of ten (plotext's own ticks on a short chart skip unevenly)."""
    if top <= 0:
        return [0.0, 1.0]
    power = 10.0 ** math.floor(math.log10(top / most))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power * most >= top)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


# Rows of a chart widget that are not its plot: the title, the frame, the x labels.
_CHART_FRAME_ROWS = 4


def _y_axis(plt, top: float, height: int) -> None:
    """Round ticks at least three rows apart, so that they land evenly on the rows."""
    ticks = value_ticks(top, most=max(1, min(4, (height - _CHART_FRAME_ROWS) // 3)))
    plt.ylim(0, ticks[-1])
    plt.yticks(ticks, [f"{t:g}" for t in ticks])


def _ticks(xs: list[int], labels: list[str]) -> tuple[list[float], list[str]]:
    """At most about 8 labels on the x axis, the last one always."""
    step = max(1, len(xs) // 8 + (len(xs) % 8 > 0))
    chosen = list(range(len(xs) - 1, -1, -step))[::-1]
    return [float(xs[i]) for i in chosen], [labels[i] for i in chosen]
