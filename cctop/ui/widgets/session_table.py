"""The sessions table: diffed by row key, stable order, cursor pinned to its session."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from cctop.model.snapshot import SessionStats
from cctop.ui import rows
from cctop.ui.rows import COLUMNS, Cell

StyleFor = Callable[[str], str]


class KeyedText(Text):
    """A cell that knows its row, so ``DataTable.sort`` can rank rows by our own order."""

    row_key: str = ""


@dataclass(frozen=True, slots=True)
class View:
    """What the user asked to see; the table re-sorts when this changes."""

    sort: str = rows.DEFAULT_SORT
    reverse: bool = False  # False = the natural order: biggest / newest first
    tree: bool = False
    history: bool = False
    needle: str = ""


class SessionTable(DataTable):
    DEFAULT_CSS = """
    SessionTable { height: 1fr; }
    """

    def __init__(self, style_for: StyleFor, **kwargs) -> None:
        super().__init__(cursor_type="row", cell_padding=0, zebra_stripes=False, **kwargs)
        self._style_for = style_for
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._view = View()
        self.visible_sessions = 0
        self.hidden_history = 0
        self.frames = 0  # updates that changed at least one cell (tests, benchmarks)

    def on_mount(self) -> None:
        self.fixed_columns = 2
        for column in COLUMNS:
            self.add_column(self._label(column.key), width=column.width + 1, key=column.key)

    # -- public ---------------------------------------------------------------

    @property
    def view(self) -> View:
        return self._view

    def cursor_session(self) -> str | None:
        """The session under the cursor (a subagent row answers with its parent)."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor points past a row that just went away
            return None
        return None if key is None else key.split("/", 1)[0]

    def restyle(self) -> None:
        """The theme changed: rebuild every cell with the new colours."""
        self._cells = {key: tuple(("\0", "") for _ in COLUMNS) for key in self._cells}

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
        if view is not None and view != self._view:
            resort = True
            self._view = view
        view = self._view
        desired, order = self._desired(sessions, now, day_start, view)
        keep = self.cursor_session_key()
        changed = added = False
        with self.app.batch_update():
            stale = [key for key in self._cells if key not in desired]
            if stale and len(stale) > len(self._cells) // 2:
                self.clear()
                self._cells.clear()
                self._order = []
                changed = True
            else:
                for key in stale:
                    self.remove_row(key)
                    del self._cells[key]
                    changed = True
            for key in order:
                cells = desired[key]
                old = self._cells.get(key)
                if old is None:
                    self.add_row(*self._texts(key, cells), key=key)
                    added = changed = True
                elif old != cells:
                    for column, new_cell, old_cell in zip(COLUMNS, cells, old, strict=True):
                        if new_cell != old_cell:
                            self.update_cell(key, column.key, self._text(key, column.key, new_cell))
                    changed = True
                self._cells[key] = cells
            # htop-like: the order only changes when the user asks or a row arrives.
            if (resort or added) and self._order != order:
                rank = {key: index for index, key in enumerate(order)}
                self.sort("state", key=lambda cell: rank.get(cell.row_key, len(rank)))
                self._order = order
                changed = True
            if keep is not None and keep in self._cells:
                row = self.get_row_index(keep)
                if row != self.cursor_row:
                    self.move_cursor(row=row, animate=False)
        if changed:
            self.frames += 1
        return changed

    def cursor_session_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    def set_sort_labels(self) -> None:
        for column in COLUMNS:
            self.columns[column.key].label = self._label(column.key)
        self.refresh()

    # -- internals ------------------------------------------------------------

    def _label(self, key: str) -> Text:
        column = next(c for c in COLUMNS if c.key == key)
        label = column.label
        if key == self._view.sort:
            label += "▲" if self._view.reverse else "▼"
        return Text(
            label,
            justify="right" if column.numeric else "left",
            style="bold" if key == self._view.sort else "",
        )

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
        column = next(c for c in COLUMNS if c.key == view.sort)
        assert column.sort is not None
        sort_key = column.sort
        # Natural order: numbers and times biggest first, names A to Z; ties by recency then id.
        descending = column.numeric or column.key == "state"
        chosen.sort(key=lambda s: (_num(s.last_ts), s.id), reverse=True)
        chosen.sort(key=lambda s: sort_key(s, now), reverse=descending != view.reverse)
        desired: dict[str, tuple[Cell, ...]] = {}
        order: list[str] = []
        for stats in chosen:
            desired[stats.id] = rows.session_cells(stats, now, day_start)
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

    def _texts(self, key: str, cells: tuple[Cell, ...]) -> list[Text]:
        return [self._text(key, column.key, cell) for column, cell in zip(COLUMNS, cells, strict=True)]

    def _text(self, key: str, column_key: str, cell: Cell) -> Text:
        text, role = cell
        numeric = column_key not in ("state", "project", "title", "model")
        out = KeyedText(
            text, style=self._style_for(role), justify="right" if numeric else "left", no_wrap=True
        )
        out.row_key = key
        return out


def _num(value: float | None) -> float:
    return float("-inf") if value is None else value
