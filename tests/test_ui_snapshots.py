"""Snapshot tests (pytest-textual-snapshot) of the main, session and help screens on the real
sample transcripts with a fixed clock and timezone, from a split pane (60x20) to a wide
terminal (200x50). Each also checks in code that no column is cut. Update with
``pytest --snapshot-update`` after reviewing the report."""

from __future__ import annotations

from pathlib import Path

import demo
import pytest
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from cctop import format as fmt
from cctop.ui import rows
from cctop.ui.app import CctopApp
from cctop.ui.screens.session import SessionScreen
from cctop.ui.widgets.session_table import SessionTable

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"


pytestmark = pytest.mark.usefixtures("utc")  # see conftest.py


@pytest.fixture
def app(tmp_path) -> CctopApp:
    projects = demo.lay_out_samples(tmp_path, SAMPLES)
    ledger = demo.make_ledger()
    files = demo.load(projects, ledger)
    now = demo.fixed_now(ledger)
    return CctopApp(
        ledger, now=lambda: now, roots=[projects], sources=[lambda: f"transcripts: {files} files"]
    )


async def settle(pilot) -> None:
    await demo.settle(pilot.app, pilot)


# A split pane (60-100 columns), a laptop terminal, a wide one.
SIZES = [(60, 20), (80, 24), (100, 40), (120, 40), (200, 50)]
SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]


def assert_main_screen_cuts_nothing(app: CctopApp) -> None:
    """Every visible cell of the sessions table shows its whole value (text may end in "…"
    where it was cut on purpose, never a number), and the header keeps its status parts."""
    table = app.screen.query_one(SessionTable)
    columns = table.visible_columns()
    # Nothing off screen, nor under the scrollbar (many sessions: it shows).
    assert columns and columns[-1][1] + columns[-1][2] <= table.scrollable_content_region.width
    assert {"cost", "state", "title", "project"} <= {key for key, _x, _w in columns}
    header = table.render_line(0).text
    for key, x, width in columns:
        assert header[x : x + width].strip().rstrip("▲▼") == table.column_label(key).rstrip("▲▼")
    numeric = {c.key for c in rows.COLUMNS if c.numeric}
    shown_rows = min(table.row_count, table.size.height - 1)
    assert shown_rows >= 5
    for y in range(1, shown_rows + 1):
        line = table.render_line(y).text
        row_key = table.row_keys()[y - 1]
        for key, x, width in columns:
            shown = line[x : x + width].strip()
            whole = table.get_cell(row_key, key).plain
            if key in numeric or not shown.endswith("…"):
                assert shown == whole, (key, shown, whole)
            else:
                assert whole.startswith(shown[:-1]) and len(whole) > width, (key, shown, whole)
    bar = str(app.screen.query_one("#totals").render())
    assert "files" in bar and ("refresh 1s" in bar or "every 1s" in bar)


def assert_session_screen_cuts_nothing(app: CctopApp) -> None:
    """Every DataTable column of the session screen is on screen, and every cell fits its
    column whole; the summary's lines fit the width."""
    screen = app.screen
    assert isinstance(screen, SessionScreen)
    for table in screen.query(DataTable):
        if not table.display or not table.row_count:
            continue
        inside = table.scrollable_content_region.width
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= inside, table.id
        for row in range(table.row_count):
            for index, column in enumerate(table.ordered_columns):
                cell = table.get_cell_at(Coordinate(row, index))
                width = cell.cell_len if isinstance(cell, Text) else len(str(cell))
                assert width <= column.get_render_width(table), (table.id, column.key.value, str(cell))
    summary = screen.query_one("#summary")
    room = summary.content_region.width
    stats = app.snapshot.sessions[screen.session_id]
    text = str(summary.render())
    for line in text.splitlines():
        assert len(line) <= room, line
    assert (
        f"cost {fmt.money(stats.cost_usd)}" in text
        and f"hit {fmt.percent(stats.tokens.cache_hit_rate)}" in text
    )


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_main_screen(snap_compare, app, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("h")  # history too: more rows, older sessions
        await pilot.pause()
        assert_main_screen_cuts_nothing(pilot.app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_session_screen(snap_compare, app, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("h")
        busiest = max(pilot.app.snapshot.sessions.values(), key=lambda s: s.tokens.requests)
        pilot.app.open_session(busiest.id)
        await settle(pilot)
        await settle(pilot)
        await pilot.pause()
        assert_session_screen_cuts_nothing(pilot.app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_help_screen(snap_compare, app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


BROKEN = "d6e0bada"  # a sample session whose cache broke once (an MCP reconnect changed the prefix)


@pytest.mark.parametrize("size", [(120, 30), (80, 24)], ids=["120x30", "80x24"])
def test_session_screen_with_a_cache_break(snap_compare, tmp_path, size):
    projects = demo.lay_out_samples(tmp_path, SAMPLES)
    ledger = demo.make_ledger()
    demo.load(projects, ledger)
    now = demo.fixed_now(ledger)
    app = CctopApp(ledger, now=lambda: now, roots=[projects], open_session=BROKEN)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await settle(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
