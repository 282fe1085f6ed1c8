"""Fitting to the width: table columns drop whole by priority, header parts abbreviate then
drop but never the ones that must stay, and the help names every key within 80x24."""

from __future__ import annotations

from rich.text import Text

from cctop.ui.app import CctopApp
from cctop.ui.layout import MUST, Part, fit, pack
from cctop.ui.screens.help import help_text
from cctop.ui.screens.main import MainScreen
from cctop.ui.screens.session import SessionScreen, fitted_request_columns
from cctop.ui.widgets.session_table import SessionTable


def test_columns_drop_whole_highest_priority_number_first_and_the_flex_column_takes_the_rest():
    needed = [4, 10, 8, 6, 6]
    priorities = [0, 0, 0, 2, 1]
    wide = fit(needed, priorities, 60, flex=2)
    assert [p.index for p in wide] == [0, 1, 2, 3, 4]
    assert wide[2].width == 8 + (60 - sum(n + 1 for n in needed))  # the title grows
    assert wide[-1].x + wide[-1].width + 1 == 60
    narrow = fit(needed, priorities, 34, flex=2)
    assert [p.index for p in narrow] == [0, 1, 2, 4]  # priority 2 went first, whole
    assert all(p.width >= needed[p.index] for p in narrow)  # nothing narrower than its value
    assert [p.index for p in fit(needed, priorities, 10, flex=2)] == [0, 1, 2]  # 0 never drops


def test_header_parts_abbreviate_then_drop_but_keep_the_musts():
    parts = [
        Part(Text("today $1.00 10k"), MUST),
        Part(Text("1h $0.50 5k"), 5),
        Part(Text("cache hit 80%"), 2, Text("hit 80%")),
        Part(Text("PAUSED (space resumes)"), MUST, Text("PAUSED")),
        Part(Text("transcripts: 12 files"), MUST, Text("12 files")),
        Part(Text("refresh 1s"), MUST, Text("every 1s")),
    ]
    roomy = pack(parts, 200, 2).plain
    assert roomy.count("\n") == 0 and "PAUSED (space resumes)" in roomy
    tight = pack(parts, 40, 2).plain
    lines = tight.splitlines()
    assert len(lines) <= 2 and all(len(line) <= 40 for line in lines)
    assert "cache hit" not in tight and "hit 80%" in tight  # abbreviated first
    assert "(space resumes)" not in tight and "PAUSED" in tight
    tiny = pack(parts, 24, 2).plain
    assert all(len(line) <= 24 for line in tiny.splitlines())
    for must in ("today $1.00 10k", "PAUSED", "12 files", "every 1s"):
        assert must in tiny  # kept, even if that takes a third line
    assert "1h" not in tiny and "hit" not in tiny  # dropped whole, never cut


def test_request_columns_fit_every_width_from_60():
    for width in range(60, 251):
        columns = fitted_request_columns(width)
        assert sum(c[2] + 1 for c in columns) <= width - 1
        assert {"time", "cost", "hit"} <= {c[0] for c in columns}
    assert len(fitted_request_columns(200)) == 11


def test_help_fits_80x24_and_names_every_key():
    lines = help_text().plain.splitlines()
    assert len(lines) <= 22 and max(len(line) for line in lines) <= 76  # inside the frame
    text = help_text().plain
    shown = {"question_mark": "?", "plus": "+", "minus": "-", "slash": "/", "less_than_sign": "<",
             "greater_than_sign": ">", "enter": "Enter", "escape": "Esc", "pageup": "PgUp",
             "pagedown": "PgDn", "home": "Home", "end": "End", "up": "↑", "down": "↓",
             "f1": "F1", "ctrl+p": "Ctrl+P", "equals_sign": "+"}  # fmt: skip
    for owner in (CctopApp, MainScreen, SessionScreen, SessionTable):
        for binding in owner.BINDINGS:
            for key in binding.key.split(","):
                assert shown.get(key, key) in text, (owner.__name__, key)
    assert "Ctrl+P" in text


async def test_with_more_sessions_than_rows_no_column_hides_under_the_scrollbar():
    """The 80-column pane with a long history: the table scrolls, and its scrollbar takes a
    column the last table column must not be drawn under."""
    import time

    import demo

    from cctop.model.records import ApiCall, Source

    ledger = demo.make_ledger()
    now = time.time()
    ledger.ingest([
        ApiCall(f"session-{n:02d}", None, "claude-opus-4-8", f"m{n}", f"r{n}", now - 60 * n,
                input_tokens=100, output_tokens=2_000, cache_creation_tokens=5_000, final=True,
                source=Source.TRANSCRIPT)
        for n in range(60)
    ])  # fmt: skip
    app = CctopApp(ledger, now=lambda: now)
    async with app.run_test(size=(80, 24)) as pilot:
        await demo.settle(app, pilot)
        table = app.screen.query_one(SessionTable)
        assert table.row_count == 60 and table.show_vertical_scrollbar
        room = table.scrollable_content_region.width
        assert room < table.size.width  # the scrollbar's column
        key, x, width = table.visible_columns()[-1]
        assert x + width <= room, (key, x, width, room)
        assert key == "model" and "opus-4-8" in table.render_line(1).text[:room]
