"""One session, followed live: summary, cache strip, requests (each with its time to first
token, cache bar and break cause), tools, subagents, activity (cache breaks included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.widgets import DataTable, Footer, RichLog, Static

from cctop import format as fmt
from cctop.model.records import Source
from cctop.model.snapshot import CacheBreak, FeedItem, PricedCall, SessionDetail, SessionStats
from cctop.ui.cache_bar import BAR_ROLE, LABEL_WIDTH, bar_cell, bar_text
from cctop.ui.layout import MUST, Part, fit, pack
from cctop.ui.messages import Frame
from cctop.ui.rows import clip, fill_role, hit_role, ttl_text
from cctop.ui.screens.frame_screen import FrameScreen
from cctop.ui.widgets.cache_strip import BREAK_NAMES, CacheStrip
from cctop.ui.widgets.claude_view import claude_text, latest_cache_sample

if TYPE_CHECKING:
    from cctop.ui.app import CctopApp

Cell = tuple[str, str]

FEED_LINES = 200
BAR_WIDTH = 8
NARROW_BAR_WIDTH = 4
# Below this many columns the requests table narrows model and agent, trims the numbers to
# their widest value, shortens the cache bar and shows a break as one glyph, so every column
# still fits 80 columns without scrolling.
WIDE_MIN_WIDTH = 102
NAME_WIDTHS = {False: (10, 12), True: (8, 7)}  # (model, agent) by narrow


# Which request columns drop first when even the narrow layout does not fit (0: never).
REQUEST_PRIORITY = {"time": 0, "cost": 0, "hit": 1, "cache": 2, "model": 3, "output": 4, "agent": 5,
                    "cache_read": 6, "cache_write": 6, "input": 7, "ttft": 8}  # fmt: skip
NARROW_CLASS = "-narrow"  # tools and subagents over the activity feed, not beside it
STACKED_CLASS = "-stacked"  # tools, subagents and the feed one under another
NARROW_BELOW = 120  # columns: tools (43) + subagents (30) + a readable feed
STACKED_BELOW = 76  # columns: tools + subagents side by side


def fitted_request_columns(width: int) -> tuple[tuple[str, str, int, bool], ...]:
    """The request columns that fit ``width`` whole (the table's scrollbar takes one)."""
    columns = request_columns(width < WIDE_MIN_WIDTH)
    placed = fit([c[2] for c in columns], [REQUEST_PRIORITY[c[0]] for c in columns], width - 1)
    return tuple(columns[p.index] for p in placed)


def request_columns(narrow: bool) -> tuple[tuple[str, str, int, bool], ...]:
    name_width, agent_width = NAME_WIDTHS[narrow]
    # Narrow: tokens are at most 5 characters ("12.3k"), 6 with the streaming "+"; a cost of
    # one call is at most 6 ("$12.34", "$123.4").
    tokens, output, cost = (5, 6, 6) if narrow else (6, 7, 7)
    # A leading gap, the bar, a space and the break cause (one glyph when narrow).
    bar_width = 1 + (NARROW_BAR_WIDTH + 2 if narrow else BAR_WIDTH + 1 + LABEL_WIDTH)
    return (
        ("time", "time", 8, False),
        ("model", "model", name_width, False),
        ("agent", "agent", agent_width, False),
        ("input", "in", tokens, True),
        ("output", "out", output, True),
        ("cache_read", "read", tokens, True),
        ("cache_write", "write", output, True),
        ("hit", "hit", 4, True),
        ("cost", "cost", cost, True),
        ("ttft", "ttft", 5, True),  # "850ms", "1.2s": Claude Code's trace spans only
        ("cache", " cache", bar_width, False),
    )


REQUEST_COLUMNS = request_columns(narrow=False)
TOOL_COLUMNS = (("tool", "tool", 14, False), ("calls", "calls", 5, True), ("errors", "err", 3, True),
                ("mean", "mean", 6, True), ("max", "max", 6, True))  # fmt: skip
AGENT_COLUMNS = (("agent", "subagent", 16, False), ("requests", "req", 3, True), ("cost", "cost", 7, True))


def _table(columns, **kwargs) -> DataTable[Text | str]:
    table: DataTable[Text | str] = DataTable(cursor_type="row", cell_padding=0, **kwargs)
    _add_columns(table, columns)
    return table


def _add_columns(table: DataTable, columns) -> None:
    for key, label, width, numeric in columns:
        table.add_column(Text(label, justify="right" if numeric else "left"), width=width + 1, key=key)


class SessionScreen(FrameScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("f", "app.toggle_follow", "Follow/pin", id="follow"),
        Binding("j", "cursor_down", "Down", show=False, id="session_down"),
        Binding("k", "cursor_up", "Up", show=False, id="session_up"),
    ]

    app: CctopApp

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self._requests: list[tuple[Cell, ...]] = []
        self._row_marks: list[str] = []  # the break mark each formatted row was made with
        self._marks: list[str] = []
        self._columns = REQUEST_COLUMNS
        self._tools: tuple = ()
        self._agents: tuple = ()
        self._feed: tuple[FeedItem, ...] = ()
        self._calls: tuple[PricedCall, ...] = ()
        self._names: dict[str, str] = {}
        self._detail: SessionDetail | None = None

    def compose(self) -> ComposeResult:
        width = self.app.size.width
        self._set_width_classes(width)
        self._columns = fitted_request_columns(width)
        summary = Static(Text("loading…"), id="summary")
        # Lines are packed to the width (parts drop whole); cut, never wrapped, past that.
        summary.styles.text_wrap = "nowrap"
        summary.styles.text_overflow = "ellipsis"
        yield summary
        claude = Static(id="claude")  # what Claude Code's statusline reported, when installed
        claude.styles.text_wrap = "nowrap"
        claude.styles.text_overflow = "ellipsis"
        claude.display = False
        yield claude
        yield CacheStrip(self.app.style_for, id="cache_strip")
        yield _table(self._columns, id="requests")
        with Container(id="bottom"):
            with Horizontal(id="side"):
                yield _table(TOOL_COLUMNS, id="tools")
                yield _table(AGENT_COLUMNS, id="agents")
            yield RichLog(
                id="feed", max_lines=FEED_LINES, markup=False, highlight=False, wrap=False, auto_scroll=True
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#requests", DataTable).focus()
        self.watch_frames()

    def draw(self, frame: Frame | None) -> None:
        if frame is None or frame.detail is None or frame.detail.stats.id != self.session_id:
            self.app.request_snapshot()  # just opened: its detail comes with the next snapshot
            return
        self.show(frame)

    def _set_width_classes(self, width: int) -> None:
        self.set_class(width < NARROW_BELOW, NARROW_CLASS)
        self.set_class(width < STACKED_BELOW, STACKED_CLASS)

    def on_resize(self, event: events.Resize) -> None:
        self._set_width_classes(event.size.width)
        columns = fitted_request_columns(event.size.width)
        if columns != self._columns:
            self._columns = columns
            self.restyle()
        elif self._detail is not None:
            self._show_summary(self._detail, self.app.clock())

    def restyle(self) -> None:
        """Rebuild every row (a new theme, or a new column layout), keeping the cursor."""
        if not self.is_mounted:
            return
        table = self.query_one("#requests", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        _add_columns(table, self._columns)
        self._requests, self._row_marks, self._calls = [], [], ()
        self._tools, self._agents, self._feed = (), (), ()
        detail, self._detail = self._detail, None
        if detail is not None:
            self._on_frame(self.app.frame)
            if 0 <= cursor < table.row_count:
                table.move_cursor(row=cursor, animate=False)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cursor_down(self) -> None:
        self.query_one("#requests", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#requests", DataTable).action_cursor_up()

    # -- data -------------------------------------------------------------------

    @property
    def narrow(self) -> bool:
        return self.size.width < WIDE_MIN_WIDTH if self.size.width else self.app.size.width < WIDE_MIN_WIDTH

    def _show_summary(self, detail: SessionDetail, now: float) -> None:
        style = self.app.style_for
        summary = self.query_one("#summary", Static)
        width = max(20, (self.size.width or self.app.size.width) - 2)
        follow = self.app.follow
        mode = None
        if follow is not None:
            mode = "following" if follow.following else "pinned"
        lines = 4 if self.app.size.height >= 30 else 3
        text = summary_text(detail.stats, now, style, width, lines, mode)
        if self.app.paused:
            pause = "PAUSED: tables frozen, the summary still ticks (space resumes)"
            text.append("\n" + (pause if len(pause) <= width else "PAUSED (space resumes)"), style("warn"))
        summary.update(text)

    def show(self, frame: Frame) -> None:
        detail, now = frame.detail, frame.now
        if detail is None or detail.stats.id != self.session_id:
            return
        style = self.app.style_for
        stats = detail.stats
        self._show_summary(detail, now)
        paused = self.app.paused
        self._show_claude(stats, now, style)
        if detail is self._detail or paused:
            return  # a clock tick (only the summary's relative times move), or paused
        self._detail = detail
        rates, marks = request_marks(detail)
        self.query_one(CacheStrip).set_data(rates, marks)
        self._marks = marks
        self._show_requests(detail, marks, style)
        self._show_tools(stats, style)
        self._show_agents(stats, style)
        self._show_feed(with_breaks(detail.feed, stats.cache.breaks if stats.cache else ()), style)

    def _show_claude(self, stats: SessionStats, now: float, style) -> None:
        app = self.app
        share = app.limits.shares.get(stats.id) if app.limits is not None else None
        sample = latest_cache_sample(app.limit_samples, stats.id)
        text = claude_text(sample, stats.cache, share, now, style)
        widget = self.query_one("#claude", Static)
        widget.display = text is not None
        if text is not None:
            widget.update(text)

    def _show_requests(self, detail: SessionDetail, marks: list[str], style) -> None:
        table = self.query_one("#requests", DataTable)
        columns = self._columns
        narrow = self.narrow
        names = {a.agent_id: a.agent_type or a.description or a.agent_id for a in detail.stats.subagents}
        seen = self._calls if names == self._names else ()
        self._names = names
        old_marks = self._row_marks
        # Format only calls that are new or changed (a response still streaming grows).
        wanted = [
            self._requests[i]
            if i < len(seen) and seen[i] == call and old_marks[i] == marks[i]
            else request_cells(call, names, marks[i], narrow)
            for i, call in enumerate(detail.calls)
        ]
        self._calls = detail.calls
        self._row_marks = list(marks)
        at_bottom = not table.row_count or table.cursor_row >= table.row_count - 1
        with self.app.batch_update():
            if len(wanted) < len(self._requests):
                table.clear()
                self._requests = []
            for index, cells in enumerate(wanted):
                key = str(index)
                if index >= len(self._requests):
                    table.add_row(*_texts(_pick(cells, columns), columns, style), key=key)
                    self._requests.append(cells)
                elif self._requests[index] != cells:
                    old_cells = _pick(self._requests[index], columns)
                    for (column, *_), new, old in zip(columns, _pick(cells, columns), old_cells, strict=True):
                        if new != old:
                            table.update_cell(key, column, _text(new, column, columns, style))
                    self._requests[index] = cells
            if at_bottom and table.row_count:
                table.move_cursor(row=table.row_count - 1, animate=False)  # follow the newest

    def _show_tools(self, stats: SessionStats, style) -> None:
        cells = tuple(
            (
                (clip(fmt.safe_text(t.name), 14), ""),
                (str(t.calls), ""),
                (str(t.errors) if t.errors else "-", "error" if t.errors else "muted"),
                (_ms(t.mean_duration_ms), ""),
                (_ms(t.max_duration_ms) if t.timed else "-", ""),
            )
            for t in stats.tools
        )
        if cells != self._tools:
            self._tools = cells
            _refill(self.query_one("#tools", DataTable), cells, TOOL_COLUMNS, style)

    def _show_agents(self, stats: SessionStats, style) -> None:
        cells = tuple(
            (
                (clip(fmt.safe_text(_agent_name(a)), 16), "muted" if a.is_compaction else ""),
                (str(a.requests), ""),
                (fmt.money(a.cost_usd), ""),
            )
            for a in stats.subagents
        )
        if cells != self._agents:
            self._agents = cells
            _refill(self.query_one("#agents", DataTable), cells, AGENT_COLUMNS, style)

    def _show_feed(self, feed: tuple[FeedItem, ...], style) -> None:
        if feed == self._feed:
            return
        log = self.query_one("#feed", RichLog)
        old = self._feed
        start = 0
        if old and old[-1] in feed:
            start = len(feed) - feed[::-1].index(old[-1])  # append only what is new
        else:
            log.clear()
        for item in feed[start:]:
            log.write(feed_text(item, style))
        self._feed = feed


_REQUEST_KEYS = tuple(c[0] for c in REQUEST_COLUMNS)


def _pick(cells: tuple[Cell, ...], columns) -> tuple[Cell, ...]:
    """The cells of the columns on screen (``request_cells`` gives every column)."""
    return tuple(cells[_REQUEST_KEYS.index(c[0])] for c in columns)


def _agent_name(agent) -> str:
    if agent.is_compaction:
        return "compaction"
    kind = agent.agent_type or "agent"
    return f"{kind}: {agent.description}" if agent.description else kind


def _ms(value: float | None) -> str:
    return "-" if value is None else fmt.duration(value / 1000.0)


def _text(cell: Cell, column: str, columns, style) -> Text:
    if cell[1] == BAR_ROLE:
        return bar_text(cell[0], style)
    numeric = next(c[3] for c in columns if c[0] == column)
    return Text(cell[0], style=style(cell[1]), justify="right" if numeric else "left", no_wrap=True)


def _texts(cells, columns, style) -> list[Text]:
    return [_text(cell, column[0], columns, style) for cell, column in zip(cells, columns, strict=True)]


def _refill(table: DataTable, rows, columns, style) -> None:
    """Small side tables: rebuilt only when their content changed."""
    table.clear()
    for cells in rows:
        table.add_row(*_texts(cells, columns, style))


def request_cells(
    priced: PricedCall, agent_names: dict[str, str], mark: str = "", narrow: bool = False
) -> tuple[Cell, ...]:
    """One row of the requests table; ``mark`` is the request's break cause ("" when none)."""
    call = priced.call
    agent = "main" if call.agent_id is None else agent_names.get(call.agent_id, call.agent_id)
    output = fmt.tokens(call.output_tokens) + ("" if call.final else "+")
    name_width, agent_width = NAME_WIDTHS[narrow]
    return (
        (fmt.clock(call.timestamp), ""),
        (clip(fmt.safe_text(fmt.short_model((call.model,))), name_width), ""),
        (clip(fmt.safe_text(agent), agent_width), "" if call.agent_id is None else "muted"),
        (fmt.tokens(call.input_tokens), ""),
        (output, ""),
        (fmt.tokens(call.cache_read_tokens), ""),
        (fmt.tokens(call.cache_creation_tokens), ""),
        (fmt.percent(priced.hit_rate), hit_role(priced.hit_rate)),
        (fmt.money(priced.cost_usd), "warn" if priced.cost_usd is None else ""),
        ("" if call.ttft_ms is None else _ms(call.ttft_ms), ""),
        bar_cell(call, mark, NARROW_BAR_WIDTH if narrow else BAR_WIDTH, short=narrow),
    )


def feed_text(item: FeedItem, style) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(fmt.clock(item.timestamp) + " ", style=style("muted"))
    marker = {"prompt": "› ", "tool": "• ", "compaction": "= ", "error": "! ", "cache": "× "}.get(
        item.kind, "  "
    )
    text.append(marker, style=style("accent") if item.kind == "prompt" else "")
    role = "error" if item.is_error else "warn" if item.kind == "cache" else ""
    text.append(fmt.safe_text(item.text), style=style(role))
    if item.is_error and item.kind == "tool":
        text.append(" ×", style=style("error"))
    return text


def with_breaks(feed: tuple[FeedItem, ...], breaks: Sequence[CacheBreak]) -> tuple[FeedItem, ...]:
    """The activity feed with a line per cache break: its cause, tokens re-sent, extra cost."""
    if not breaks:
        return feed
    items = list(feed)
    for cache_break in breaks:
        cause = _cause(cache_break)
        name = BREAK_NAMES.get(cause, cause)
        extra = cache_break.extra_cost_usd
        cost = f", +{fmt.money(extra)}" if extra else ""
        who = f" [{cache_break.agent_id}]" if cache_break.agent_id else ""
        text = f"{name}: {fmt.tokens(cache_break.tokens)} cached tokens re-sent{cost}{who}"
        items.append(FeedItem(cache_break.timestamp, "cache", text))
    items.sort(key=lambda item: item.timestamp or 0.0)  # stable: a break follows its request's lines
    return tuple(items[-FEED_LINES:])


def _cause(cache_break: CacheBreak | None) -> str:
    return "" if cache_break is None else cache_break.cause.value


def request_marks(detail: SessionDetail) -> tuple[list[float | None], list[str]]:
    """Per request: its cache hit rate, and its mark: the break cause the model's per-request
    analysis found, else "compact" for the first request after a compaction."""
    compactions = sorted(detail.compaction_times)
    analysis = detail.requests if len(detail.requests) == len(detail.calls) else None
    rates: list[float | None] = []
    marks: list[str] = []
    previous: float | None = None
    for index, priced in enumerate(detail.calls):
        ts = priced.call.timestamp
        mark = _cause(analysis[index].cache_break) if analysis is not None else ""
        if not mark and previous is not None and ts is not None:
            mark = "compact" if any(previous < c <= ts for c in compactions) else ""
        rates.append(analysis[index].hit_rate if analysis is not None else priced.hit_rate)
        marks.append(mark)
        if ts is not None:
            previous = ts
    return rates, marks


_SOURCE_NAMES = {Source.TRANSCRIPT: "transcript", Source.OTLP: "OTLP"}


SUMMARY_SEP = " · "


def summary_text(
    stats: SessionStats, now: float, style, width: int = 200, max_lines: int = 4, mode: str | None = None
) -> Text:
    """The summary packed into ``width``: on a narrow pane the least useful parts (token
    breakdown, duration, branch) abbreviate or drop, and a figure is never cut. ``mode`` says
    whether the screen follows the latest session or is pinned."""
    parts = summary_parts(stats, now, style)
    if mode:
        parts.insert(
            1, Part(Text(mode, style=style("live") if mode.startswith("follow") else style("muted")), MUST)
        )
    return pack(parts, width, max_lines, SUMMARY_SEP)


def summary_parts(stats: SessionStats, now: float, style) -> list[Part]:
    t = stats.tokens
    muted = style("muted")
    parts: list[Part] = []

    def add(text: str | Text, priority: int, short: str | Text | None = None, text_style: str = "") -> None:
        full = text if isinstance(text, Text) else Text(text, style=text_style)
        brief = short if isinstance(short, Text) or short is None else Text(short, style=text_style)
        parts.append(Part(full, priority, brief))

    name, title = fmt.session_names(stats)
    project = Text(name, style=f"bold {style('accent')}")
    if stats.git_branch:
        branch = Text(" on " + fmt.safe_text(stats.git_branch), style=muted)
        add(project + branch, MUST, project)
    else:
        add(project, MUST)
    add(title or "(untitled)", 1, None, "bold")
    if not stats.telemetry_only:  # else the id already names it
        add(fmt.safe_text(stats.id[:8]), 2, None, muted)
    if stats.forked_from:
        add(f"forked from {fmt.safe_text(stats.forked_from[:8])}", 3, None, muted)
    models = ", ".join(fmt.short_model((m,)) for m in stats.models) or "-"
    span = (stats.last_ts - stats.first_ts) if stats.first_ts and stats.last_ts else None
    add(fmt.safe_text(models), 3)
    if span is not None:  # first to last record: named, or it reads as a latency
        add(f"span {fmt.duration(span)}", 6)
    add(f"last {fmt.ago(stats.last_ts, now)}", 3)
    add(f"{t.requests} requests", 4, f"{t.requests} req")
    cost = Text("cost ") + Text(fmt.session_cost(stats), style="bold")
    own = stats.reported_cost_usd
    if own is not None and fmt.money(own) != fmt.money(stats.cost_usd):  # shown where they differ
        add(
            cost + Text(f" (Claude Code: {fmt.money(own)})", style=muted),
            MUST,
            cost + Text(f" (CC {fmt.money(own)})", style=muted),
        )
    else:
        add(cost, MUST)
    sources = [name for source, name in _SOURCE_NAMES.items() if source in stats.sources]
    add("from " + " + ".join(sources), 5, None, muted)
    output = fmt.tokens(t.output_tokens) + ("+" if stats.output_is_lower_bound else "")
    add(f"in {fmt.tokens(t.input_tokens)}", 7)
    add(f"out {output}", 7)
    add(f"cache read {fmt.tokens(t.cache_read_tokens)}", 7, f"read {fmt.tokens(t.cache_read_tokens)}")
    write = fmt.tokens(t.cache_creation_tokens)
    add(
        f"cache write {write} (5m {fmt.tokens(stats.cache_creation_5m_tokens)}, "
        f"1h {fmt.tokens(stats.cache_creation_1h_tokens)})",
        7,
        f"write {write}",
    )
    add(Text("hit ") + Text(fmt.percent(t.cache_hit_rate), style=style(hit_role(t.cache_hit_rate))), MUST)
    fill = Text(fmt.percent(stats.context_fill), style=style(fill_role(stats.context_fill)))
    if stats.context_window:
        of = f" of {fmt.tokens(stats.context_window)}"
        add(Text("context ") + fill + Text(of), MUST, Text("ctx ") + fill + Text(of))
    else:
        add(Text("context ") + fill, MUST, Text("ctx ") + fill)
    cache = stats.cache
    if cache is not None:  # cache figures before the counts: they must fit 80 columns
        ttl, role = ttl_text(cache.seconds_left(now))
        add(Text("cache ") + Text(ttl, style=style(role)), MUST)
        add(f"saved {fmt.money(cache.saved_usd)}", 2)
        breaks = cache.breaks
        lost_usd = cache.break_cost_usd
        lost = Text("lost ") + Text(fmt.money(lost_usd), style=style("warn") if lost_usd > 0 else "")
        if breaks:
            count = f"{len(breaks)} break" + ("s" if len(breaks) > 1 else "")
            lost.append(f" ({count})", style=style("warn"))
        add(lost, 1)
    add(f"{stats.subagent_count} subagents", 4, f"{stats.subagent_count} sub")
    tools = Text(f"{stats.tool_calls} tools")
    if stats.tool_errors:
        tools.append(f" ({stats.tool_errors} failed)", style=style("error"))
    add(tools, 3)
    if stats.ttft_ms_median is not None:
        add(Text(f"TTFT median {_ms(stats.ttft_ms_median)}") + Text(" (OTLP traces)", style=muted), 5,
            f"TTFT {_ms(stats.ttft_ms_median)}")  # fmt: skip
    return parts
