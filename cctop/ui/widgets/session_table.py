"""The sessions table: a line-API widget that repaints only the rows whose cells changed.

Textual's DataTable re-renders every visible cell after any single ``update_cell`` (its
render caches are keyed by a global update counter), which made a one-second cache
countdown in 5 rows cost about 10 % of a core with 50 sessions. Here each row is rendered
once into a Strip cached by its cell values, and a changed row refreshes its own line.
Order is stable between updates (htop-like): rows are re-sorted only when the user asks or
a new row arrives, and the cursor stays on its session either way.

Columns fit the width (``cctop.ui.layout``): each is as wide as its widest value, whole
columns drop by priority when the room runs out, and the title takes what is left. There is
no sideways scrolling, so a number is never cut.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cctop.model.snapshot import SessionStats
from cctop.ui import layout, rows
from cctop.ui.rows import COLUMNS, Cell

StyleFor = Callable[[str], str]
SHADED = frozenset({"state", "project"})  # drawn on the panel colour: where a row starts
_CACHE_ROWS = 512
_TITLE = rows.COLUMN_KEYS.index("title")
_PRIORITIES = tuple(c.priority for c in COLUMNS)


@dataclass(frozen=True, slots=True)
class View:
    """What the user asked to see; the table re-sorts when this changes."""

    sort: str = rows.DEFAULT_SORT
    reverse: bool = False  # False = the natural order: biggest / newest first
    tree: bool = False
    history: bool = False
    needle: str = ""
    waiting_first: bool = False  # sessions whose Claude Code waits for the user on top


_NUMERIC = tuple(c.numeric for c in COLUMNS)


def _least_widths() -> list[int]:
    """Each column's width before any value is seen: its label (and a sort arrow) or its minimum."""
    return [max(c.width, len(c.label) + 1) for c in COLUMNS]


class SessionTable(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Open"),
    ]
    COMPONENT_CLASSES = {"session-table--header", "session-table--cursor", "session-table--fixed"}
    DEFAULT_CSS = """
    SessionTable { height: 1fr; background: $surface; }
    SessionTable > .session-table--header { background: $panel; text-style: bold; }
    SessionTable > .session-table--fixed { background: $panel 40%; }
    SessionTable > .session-table--cursor { background: $block-cursor-blurred-background; }
    SessionTable:focus > .session-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold;
    }
    """

    class Selected(Message):
        """Enter or a double click on a row: open its session."""

        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    def __init__(self, style_for: StyleFor, **kwargs) -> None:
        super().__init__(**kwargs)
        self._style_for = style_for
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._keys: list[str] = []  # display order
        self._index: dict[str, int] = {}
        self._view = View()
        self._strips: OrderedDict[tuple, Strip] = OrderedDict()
        self._source: Mapping[str, SessionStats] | None = None  # the sessions shown last
        self._processes: dict[str, str] = {}  # session id -> live process state (set_processes)
        self._resort_pending = False
        self._valid_until: dict[str, float] = {}  # session row -> when its clock cells move
        self._needed = _least_widths()  # content width per column: its widest value so far
        self._placed: tuple[layout.Placed, ...] = ()
        self._layout_for: tuple = ()  # (width, needed) the placement was made for
        # Rows out of view whose clock cells moved: made again only when drawn (10,000
        # sessions of today with ticking countdowns cost a core when all were kept current).
        self._stale: set[str] = set()
        self._clock: tuple[float, float] = (0.0, 0.0)  # (now, day_start) of the last show
        self.cursor_row = 0
        self.visible_sessions = 0
        self.hidden_history = 0
        self.frames = 0  # updates that changed at least one row (tests, benchmarks)
        self.repainted_rows = 0  # rows refreshed by those updates

    # -- public ---------------------------------------------------------------

    @property
    def view(self) -> View:
        return self._view

    @property
    def row_count(self) -> int:
        return len(self._keys)

    def row_keys(self) -> list[str]:
        return list(self._keys)

    def get_cell(self, row_key: str, column_key: str) -> Text:
        """The cell's whole value, before it is fitted to its column."""
        index = rows.COLUMN_KEYS.index(column_key)
        return self._cell_text(self._fresh_cells(row_key)[index], index)

    def visible_columns(self) -> tuple[tuple[str, int, int], ...]:
        """``(column key, x, width)`` of the columns on screen, left to right."""
        return tuple((COLUMNS[p.index].key, p.x, p.width) for p in self._fit())

    def column_label(self, column_key: str) -> str:
        return self._label(rows.COLUMN_KEYS.index(column_key)).plain

    def cursor_session_key(self) -> str | None:
        return self._keys[self.cursor_row] if 0 <= self.cursor_row < len(self._keys) else None

    def cursor_session(self) -> str | None:
        """The session under the cursor (a subagent row answers with its parent)."""
        key = self.cursor_session_key()
        return None if key is None else key.split("/", 1)[0]

    def restyle(self) -> None:
        """The theme changed: render every row again with the new colours."""
        self._strips.clear()
        self.refresh()

    def set_processes(self, processes: Mapping[str, str]) -> None:
        """Session id -> its live Claude Code process's state ("busy", "wait", "run"): shown in
        the state column; a change is applied by the next show()."""
        if processes != self._processes:
            self._processes = dict(processes)
            self._source = None  # the rows must be made again
            # "Waiting for you" first is an order the user asked for: keep it true.
            self._resort_pending = self._view.waiting_first

    def set_sort_labels(self) -> None:
        self.refresh_lines(self.scroll_offset.y, 1)  # the header line

    def show(
        self,
        sessions: Mapping[str, SessionStats],
        now: float,
        day_start: float,
        view: View | None = None,
        *,
        resort: bool = False,
    ) -> bool:
        """Bring the table in line with ``sessions``. Returns True when anything changed."""
        self._clock = (now, day_start)
        if view is not None and view != self._view:
            resort = True
            self._view = view
        if self._resort_pending:
            resort, self._resort_pending = True, False
        if not resort and sessions is self._source:
            # Same data, later clock: only rows whose relative time or countdown moved.
            due = self._due(sessions, now, day_start)
            if due is None:
                return False
            desired, order = due
        else:
            desired, order = self._desired(sessions, now, day_start, self._view)
            self._source = sessions
            self._stale.clear()
        keep = self.cursor_session_key()
        changed_rows: list[str] = []
        stale = [key for key in self._keys if key not in desired]
        added = [key for key in order if key not in self._cells]
        for key in stale:
            del self._cells[key]
        if resort or added or stale:
            self._needed = _least_widths()  # a rebuild: widths may shrink back
            grow = order
        else:
            grow = []
        for key in order:
            cells = desired[key]
            if self._cells.get(key) != cells:
                if key in self._cells:
                    changed_rows.append(key)
                    grow.append(key)
                self._cells[key] = cells
        widened = self._widen(grow)
        structural = bool(stale or added) or widened
        reordered = resort and order != self._keys
        if structural or reordered:
            # htop-like: the order only changes when the user asks or a row arrives.
            self._keys = order if (resort or added) else [k for k in self._keys if k in desired]
            self._index = {key: i for i, key in enumerate(self._keys)}
            self.virtual_size = Size(self._room, len(self._keys) + 1)
            self._place_cursor(keep)
            self.refresh()
            self.repainted_rows += len(self._keys)
        elif changed_rows:
            for key in changed_rows:
                self.refresh_lines(self._index[key] + 1, 1)
            self.repainted_rows += len(changed_rows)
        changed = structural or reordered or bool(changed_rows)
        if changed:
            self.frames += 1
        return changed

    # -- cursor -----------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        if not self._keys:
            self.cursor_row = 0
            return
        row = max(0, min(len(self._keys) - 1, row))
        old = self.cursor_row
        self.cursor_row = row
        if old != row:
            self.refresh_lines(old + 1, 1)
            self.refresh_lines(row + 1, 1)
        self._scroll_to_cursor()

    def _place_cursor(self, key: str | None) -> None:
        row = self._index.get(key, self.cursor_row) if key is not None else self.cursor_row
        self.cursor_row = max(0, min(len(self._keys) - 1, row)) if self._keys else 0
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        body = max(1, self.size.height - 1)  # lines under the header
        top = round(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + body:
            self.scroll_to(y=self.cursor_row - body + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._keys) - 1)

    def action_select(self) -> None:
        session = self.cursor_session()
        if session is not None:
            self.post_message(self.Selected(session))

    def on_click(self, event: Click) -> None:
        if event.y < 1:
            return
        row = round(self.scroll_offset.y) + event.y - 1
        if 0 <= row < len(self._keys):
            self.move_cursor(row)
            if event.chain >= 2:
                self.action_select()

    def on_resize(self) -> None:
        self.virtual_size = Size(self._room, len(self._keys) + 1)
        self._scroll_to_cursor()
        self.refresh()

    # -- rendering ----------------------------------------------------------------

    def _widen(self, keys: list[str]) -> bool:
        """Grow each column to the widest value of these rows; True when one grew."""
        needed = self._needed
        before = list(needed)
        for key in keys:
            for index, (text, _role) in enumerate(self._cells[key]):
                if len(text) > needed[index]:
                    needed[index] = len(text)
        for index, column in enumerate(COLUMNS):
            if column.max_width is not None:
                needed[index] = min(needed[index], max(column.max_width, before[index]))
        needed[_TITLE] = COLUMNS[_TITLE].width  # the title takes the room that is left
        return needed != before

    @property
    def _room(self) -> int:
        """Columns the rows may use: the width less the scrollbar's, once there is one (a
        long history in an 80-column pane), or the last column is drawn under it."""
        return self.scrollable_content_region.width

    def _fit(self) -> tuple[layout.Placed, ...]:
        room = self._room
        key = (room, tuple(self._needed))
        if key != self._layout_for:
            self._layout_for = key
            self._placed = layout.fit(self._needed, _PRIORITIES, room, flex=_TITLE)
            self._strips.clear()  # every cached row was cut for the old columns
        return self._placed

    def render_line(self, y: int) -> Strip:
        width = self._room
        base = self.rich_style
        if y == 0:
            full = self._header_strip()
        else:
            row = round(self.scroll_offset.y) + y - 1
            if not 0 <= row < len(self._keys):
                return Strip.blank(width, base)
            full = self._row_strip(self._keys[row], row == self.cursor_row)
        return full.extend_cell_length(width, base).crop(0, width)

    def _header_strip(self) -> Strip:
        style = self.rich_style + self.get_component_rich_style("session-table--header")
        text = Text(no_wrap=True)
        for placed in self._fit():
            text.append_text(self._pad(self._label(placed.index), placed))
        return Strip(list(text.render(self.app.console)), text.cell_len).apply_style(style)

    def _fresh_cells(self, key: str) -> tuple[Cell, ...]:
        """A row's cells, made again first if its clock cells moved while out of view."""
        if key in self._stale:
            self._stale.discard(key)
            now, day_start = self._clock
            stats = self._source[key] if self._source is not None else None
            if stats is not None:
                self._cells[key] = rows.session_cells(stats, now, day_start, self._processes.get(key))
                self._valid_until[key] = rows.next_change(stats, now, day_start)
                if self._widen([key]):
                    self.refresh()  # a wider value: every row is cut again
        return self._cells[key]

    def _visible_rows(self) -> range:
        top = round(self.scroll_offset.y)
        return range(top, top + max(1, self.size.height - 1))

    def _row_strip(self, key: str, is_cursor: bool) -> Strip:
        cells = self._fresh_cells(key)
        placed = self._fit()
        cache_key = (key, cells, is_cursor, self.has_focus if is_cursor else False)
        strip = self._strips.get(cache_key)
        if strip is not None:
            self._strips.move_to_end(cache_key)
            return strip
        base = self.rich_style
        text = Text(no_wrap=True)
        shaded = 0
        for place in placed:
            text.append_text(self._pad(self._cell_text(cells[place.index], place.index), place))
            if COLUMNS[place.index].key in SHADED:
                shaded = place.x + place.width + layout.GAP
        segments = list(text.render(self.app.console))
        total = text.cell_len
        if is_cursor:
            cursor = base + self.get_component_rich_style("session-table--cursor")
            head_style = tail_style = cursor
        else:
            head_style = base + self.get_component_rich_style("session-table--fixed")
            tail_style = base
        split = list(Segment.divide(segments, [shaded, total]))
        head = list(Segment.apply_style(split[0], head_style)) if split else []
        tail = list(Segment.apply_style(split[1], tail_style)) if len(split) > 1 else []
        strip = Strip([*head, *tail], total)
        self._strips[cache_key] = strip
        if len(self._strips) > _CACHE_ROWS:
            self._strips.popitem(last=False)
        return strip

    def _cell_text(self, cell: Cell, index: int) -> Text:
        text, role = cell
        return Text(text, style=self._style_for(role) or Style())

    def _pad(self, text: Text, place: layout.Placed) -> Text:
        """The cell at its column's width. Only text is ever cut (with "…"): numeric columns
        are as wide as their widest value."""
        width = place.width
        text.truncate(width, overflow="ellipsis")
        pad = width - text.cell_len
        gap = " " * layout.GAP
        if _NUMERIC[place.index]:
            return Text(" " * pad) + text + Text(gap)
        return text + Text(" " * pad + gap)

    def _label(self, index: int) -> Text:
        column = COLUMNS[index]
        label = column.label
        if column.key == self._view.sort:
            label += "▲" if self._view.reverse else "▼"
        return Text(label)

    def on_focus(self) -> None:
        self.refresh_lines(self.cursor_row + 1, 1)

    def on_blur(self) -> None:
        self.refresh_lines(self.cursor_row + 1, 1)

    # -- what to show -------------------------------------------------------------

    def _due(
        self, sessions: Mapping[str, SessionStats], now: float, day_start: float
    ) -> tuple[dict[str, tuple[Cell, ...]], list[str]] | None:
        due = [key for key, until in self._valid_until.items() if until <= now]
        if not due:
            return None
        desired = dict(self._cells)
        visible = self._visible_rows()
        for key in due:
            stats = sessions[key]
            if not self._view.history and rows.state_of(stats, now, day_start) == "hist":
                for row in [k for k in desired if k == key or k.startswith(key + "/")]:
                    del desired[row]
                del self._valid_until[key]
                self._stale.discard(key)
                self.visible_sessions -= 1
                self.hidden_history += 1
                continue
            if self._index.get(key, -1) not in visible:
                # Out of view: made again when drawn; looked at again when it may leave the
                # table (into history) rather than every time its clock moves.
                self._stale.add(key)
                self._valid_until[key] = _leaves_today(stats, now, day_start)
                continue
            desired[key] = rows.session_cells(stats, now, day_start, self._processes.get(key))
            self._valid_until[key] = rows.next_change(stats, now, day_start)
        return desired, [key for key in self._keys if key in desired]

    def _desired(
        self, sessions: Mapping[str, SessionStats], now: float, day_start: float, view: View
    ) -> tuple[dict[str, tuple[Cell, ...]], list[str]]:
        chosen: list[SessionStats] = []
        hidden = 0
        for stats in sessions.values():
            if not rows.matches(stats, view.needle):
                continue
            if not view.history and rows.state_of(stats, now, day_start) == "hist":
                hidden += 1
                continue
            chosen.append(stats)
        column = COLUMNS[rows.COLUMN_KEYS.index(view.sort)]
        assert column.sort is not None
        sort_key = column.sort
        # Natural order: numbers and times biggest first, names A to Z; ties by recency then id.
        descending = column.numeric or column.key == "state"
        chosen.sort(key=lambda s: (_num(s.last_ts), s.id), reverse=True)
        chosen.sort(key=lambda s: sort_key(s, now), reverse=descending != view.reverse)
        if view.waiting_first:
            chosen.sort(key=lambda s: self._processes.get(s.id) != "wait")
        desired: dict[str, tuple[Cell, ...]] = {}
        order: list[str] = []
        self._valid_until = {}
        for stats in chosen:
            desired[stats.id] = rows.session_cells(stats, now, day_start, self._processes.get(stats.id))
            self._valid_until[stats.id] = rows.next_change(stats, now, day_start)
            order.append(stats.id)
            if view.tree:
                agents = stats.subagents
                for index, agent in enumerate(agents):
                    key = f"{stats.id}/{agent.agent_id}"
                    desired[key] = rows.subagent_cells(agent, index == len(agents) - 1)
                    order.append(key)
        self.visible_sessions = len(chosen)
        self.hidden_history = hidden
        return desired, order


def _leaves_today(stats: SessionStats, now: float, day_start: float) -> float:
    """When the row may turn "hist" (the only clock change that alters the table's rows)."""
    last = stats.last_ts
    if last is None or stats.files_deleted:
        return float("inf")
    times = [last + rows.IDLE_WINDOW_S, day_start + 86400]
    return min((t for t in times if t > now), default=now + 60)


def _num(value: float | None) -> float:
    return float("-inf") if value is None else value
