"""The main screen: header, the sessions table, an inline filter, the empty state."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, Static

from cctop.model.snapshot import Snapshot
from cctop.ui import rows
from cctop.ui.messages import Frame
from cctop.ui.screens.frame_screen import FrameScreen
from cctop.ui.widgets.limits_bar import LimitsBar, limits_text
from cctop.ui.widgets.session_table import SessionTable
from cctop.ui.widgets.totals_bar import TotalsBar, totals_parts

if TYPE_CHECKING:
    from cctop.ui.app import CctopApp


def local_day_start(now: float) -> float:
    return datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class MainScreen(FrameScreen):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="down"),
        Binding("k", "cursor_up", "Up", show=False, id="up"),
        Binding("enter", "open", "Open", show=False, id="open"),
        Binding("slash", "filter", "Filter", key_display="/", id="filter"),
        Binding("s", "cycle_sort", "Sort", id="sort"),
        Binding("less_than_sign", "sort_prev", "Sort left", key_display="<", show=False, id="sort_prev"),
        Binding("greater_than_sign", "sort_next", "Sort right", key_display=">", show=False, id="sort_next"),
        Binding("r", "reverse", "Reverse", id="reverse"),
        Binding("t", "tree", "Tree", id="tree"),
        Binding("h", "history", "History", id="history"),
        Binding("w", "waiting_first", "Waiting first", id="waiting_first"),
        Binding("g", "app.history", "Charts", show=False, id="charts"),  # in the help and the palette
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear_filter"),
    ]

    app: CctopApp

    def compose(self) -> ComposeResult:
        yield TotalsBar(id="totals")
        yield LimitsBar(id="limits")
        yield Input(placeholder="filter: project, title, model or session id (Esc clears)", id="filter")
        yield SessionTable(self.app.style_for, id="sessions")
        yield Static(id="empty")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#empty", Static).display = False
        self.table.focus()
        self.watch_frames()

    def draw(self, frame: Frame | None) -> None:
        self.show(frame)

    @property
    def table(self) -> SessionTable:
        return self.query_one(SessionTable)

    # -- data -------------------------------------------------------------------

    def show(self, frame: Frame | None) -> None:
        app = self.app
        snapshot = frame.snapshot if frame is not None else None
        now = frame.now if frame is not None else app.clock()
        day_start = local_day_start(now)
        live = 0
        if snapshot is not None:
            live = sum(1 for s in snapshot.sessions.values() if rows.state_of(s, now, day_start) == "live")
        notes = list(app.notes(snapshot))
        self.query_one(TotalsBar).set_parts(
            totals_parts(snapshot, live, app.source_parts(), notes, app.style_for)
        )
        self.query_one(LimitsBar).set_text(
            limits_text(app.limits, now, app.style_for, app.limit_dropped, app.statusline_installed)
        )
        if snapshot is None or app.paused:
            return
        table = self.table
        table.set_processes(app.processes)
        table.show(snapshot.sessions, now, day_start)
        self._show_empty(snapshot)

    def _show_empty(self, snapshot: Snapshot) -> None:
        table = self.table
        empty = self.query_one("#empty", Static)
        message: Text | None = None
        if not table.row_count:
            view = table.view
            if view.needle:
                message = Text(f"No session matches {view.needle!r}. Esc clears the filter.")
            elif table.hidden_history:
                message = Text(
                    f"No session active today; {table.hidden_history} older session(s) hidden. "
                    "Press h to show history."
                )
            elif not snapshot.sessions:
                message = self.app.empty_message()
        empty.display = message is not None
        if message is not None:
            empty.update(message)

    # -- actions ----------------------------------------------------------------

    def _set_view(self, **changes) -> None:
        table = self.table
        view = replace(table.view, **changes)
        if view == table.view:
            return
        snapshot = self.app.snapshot
        now = self.app.clock()
        if snapshot is None:
            return
        table.show(snapshot.sessions, now, local_day_start(now), view, resort=True)
        table.set_sort_labels()
        self._show_empty(snapshot)

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_open(self) -> None:
        session_id = self.table.cursor_session()
        if session_id is not None:
            self.app.open_session(session_id)

    def on_session_table_selected(self, event: SessionTable.Selected) -> None:
        event.stop()
        self.app.open_session(event.session_id)

    def action_cycle_sort(self) -> None:
        self.action_sort_next()

    def action_sort_next(self) -> None:
        self._step_sort(1)

    def action_sort_prev(self) -> None:
        self._step_sort(-1)

    def _step_sort(self, step: int) -> None:
        keys = rows.SORTABLE
        current = self.table.view.sort
        index = keys.index(current) if current in keys else 0
        self._set_view(sort=keys[(index + step) % len(keys)], reverse=False)
        self.app.notify_sort(self.table.view.sort)

    def sort_by(self, key: str) -> None:
        self._set_view(sort=key, reverse=False)

    def action_reverse(self) -> None:
        self._set_view(reverse=not self.table.view.reverse)

    def action_tree(self) -> None:
        self._set_view(tree=not self.table.view.tree)

    def action_history(self) -> None:
        self._set_view(history=not self.table.view.history)

    def action_waiting_first(self) -> None:
        """Sessions whose Claude Code is waiting for you (state ``wait``) on top, or not."""
        first = not self.table.view.waiting_first
        self._set_view(waiting_first=first)
        self.app.notify("waiting for you: first" if first else "waiting for you: in sort order", timeout=1.5)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.table.focus()
        self._set_view(needle="")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._set_view(needle=event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.table.focus()
