"""Pilot tests of the live TUI on the real sample transcripts (and a real tailer)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import demo
import pytest
from rich.style import Style as RichStyle
from rich.text import Text

from cctop.model.records import ApiCall, SessionMeta, TitleKind, ToolResult, ToolUse
from cctop.ui import rows
from cctop.ui.app import CctopApp, resolve_session
from cctop.ui.screens.help import HelpScreen
from cctop.ui.screens.main import MainScreen
from cctop.ui.screens.session import SessionScreen
from cctop.ui.widgets.session_table import SessionTable, View

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"
NEWEST = "e59a59f8-31f3-403d-b973-b161a7430aad"  # the newest sample session (it has a subagent)
SIZE = (120, 32)


@pytest.fixture
def sample(tmp_path):
    projects = demo.lay_out_samples(tmp_path, SAMPLES)
    ledger = demo.make_ledger()
    demo.load(projects, ledger)
    return projects, ledger, demo.fixed_now(ledger)


def make_app(sample, **kwargs) -> CctopApp:
    projects, ledger, now = sample
    kwargs.setdefault("now", lambda: now)
    return CctopApp(ledger, roots=[projects], **kwargs)


def table_of(app: CctopApp) -> SessionTable:
    return app.screen.query_one(SessionTable)


def row_keys(table: SessionTable) -> list[str]:
    return table.row_keys()


def cell(table: SessionTable, row_key: str, column: str) -> str:
    value = table.get_cell(row_key, column)
    assert isinstance(value, Text)
    return value.plain.strip()


async def test_main_screen_lists_todays_sessions_newest_first_and_h_adds_history(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        table = table_of(app)
        keys = row_keys(table)
        assert keys[0] == NEWEST
        assert len(keys) == 4  # the 2.1.197 sessions; the Feb 2026 ones are history
        assert all(cell(table, k, "state") == "live" for k in keys)
        assert cell(table, NEWEST, "cost") == "$0.31"
        assert cell(table, NEWEST, "subagents") == "1"
        await pilot.press("h")
        assert table.row_count == 7
        assert {cell(table, k, "state") for k in row_keys(table)[4:]} == {"hist"}
        # A session never seen to finish its last response shows its output as a lower bound.
        assert any(cell(table, k, "output").endswith("+") for k in row_keys(table)[4:])


async def test_navigation_drill_down_and_back_keeps_the_cursor(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        table = table_of(app)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        chosen = row_keys(table)[1]
        assert table.cursor_session() == chosen
        await pilot.press("enter")
        await demo.settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        assert app.screen.session_id == chosen
        requests = app.screen.query_one("#requests")
        assert requests.row_count == 3
        assert requests.cursor_row == 2  # followed: the newest request is selected
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert table_of(app).cursor_session() == chosen


async def test_sort_cycles_columns_and_keeps_the_cursor_on_its_session(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("h")
        table = table_of(app)
        await pilot.press("down", "down")
        chosen = table.cursor_session()
        await pilot.press("s")  # the next column after "last"
        assert table.view.sort == rows.SORTABLE[rows.SORTABLE.index("last") + 1] == "cost"
        snapshot = app.snapshot
        costs = [snapshot.sessions[k].tokens.cost_usd for k in row_keys(table)]
        assert costs == sorted(costs, reverse=True)
        assert table.cursor_session() == chosen
        await pilot.press("r")
        costs = [snapshot.sessions[k].tokens.cost_usd for k in row_keys(table)]
        assert costs == sorted(costs)
        assert table.cursor_session() == chosen
        while table.view.sort != "input":
            await pilot.press("greater_than_sign")
        inputs = [snapshot.sessions[k].tokens.input_tokens for k in row_keys(table)]
        assert inputs == sorted(inputs, reverse=True)
        assert table.cursor_session() == chosen
        await pilot.press("less_than_sign")
        assert table.view.sort == "ttl"
        assert "▼" in table.column_label("ttl")
        await pilot.press("less_than_sign", "less_than_sign")
        assert table.view.sort == "hit"
        assert "▼" not in table.column_label("ttl")


async def test_order_stays_put_when_data_changes_until_asked(sample):
    projects, ledger, now = sample
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        table = table_of(app)
        while table.view.sort != "cost":
            await pilot.press("s")
        before = row_keys(table)
        last = before[-1]
        # The cheapest session becomes the most expensive: its cells change, its place does not.
        ledger.ingest([ApiCall(last, None, "claude-opus-4-8", "msg_big", "req_big", now - 1, 10, 200_000)])
        await demo.settle(app, pilot)
        assert row_keys(table) == before
        assert cell(table, last, "output") != "191"
        await pilot.press("r", "r")  # asking for the order again re-sorts
        assert row_keys(table)[0] == last


async def test_filter_by_project_title_or_id_and_escape_clears(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("h", "slash")
        await pilot.press(*"spotter")
        table = table_of(app)
        assert table.view == View(history=True, needle="spotter")  # s, t, r went into the box
        assert table.row_count == 3
        assert all(app.snapshot.sessions[k].project.startswith("spotter") for k in row_keys(table))
        await pilot.press("enter")  # back to the table, filter kept
        assert table.has_focus and table.row_count == 3
        await pilot.press("slash", *"zzz")
        assert table.row_count == 0
        empty = app.screen.query_one("#empty")
        assert empty.display and "zzz" in str(empty.render())
        await pilot.press("escape")
        await pilot.press("escape")
        assert table.row_count == 7
        await pilot.press("slash", *NEWEST[:8], "enter")
        assert row_keys(table) == [NEWEST]


async def test_tree_puts_subagents_under_their_session(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("t")
        table = table_of(app)
        keys = row_keys(table)
        parent = keys.index(NEWEST)
        child = keys[parent + 1]
        assert child.startswith(NEWEST + "/")
        assert "└" in cell(table, child, "project")
        assert cell(table, child, "cost") == "$0.10"
        table.move_cursor(row=parent + 1)
        assert table.cursor_session() == NEWEST  # a subagent row opens its session
        await pilot.press("t")
        assert all("/" not in k for k in row_keys(table))


async def test_pause_freezes_the_table_but_not_the_header(sample):
    projects, ledger, now = sample
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        table = table_of(app)
        await pilot.press("space")
        assert app.paused
        before = cell(table, NEWEST, "output")
        ledger.ingest([ApiCall(NEWEST, None, "claude-opus-4-8", "msg_p", "req_p", now - 1, 10, 90_000)])
        await demo.settle(app, pilot)
        assert cell(table, NEWEST, "output") == before
        header = app.screen.query_one("#totals")
        assert "PAUSED" in str(header.render())
        await pilot.press("space")
        assert cell(table, NEWEST, "output") == "90.3k+"  # not final: a lower bound


async def newest_requests(app: CctopApp, pilot):
    """The requests table of the session screen the app opened at start (open_session)."""
    await demo.settle(app, pilot)
    await demo.settle(app, pilot)  # the first snapshot opens the screen, the next fills it
    return app.screen.query_one("#requests")


async def test_pause_freezes_the_session_screen_tables_too(sample):
    projects, ledger, now = sample
    app = make_app(sample, open_session=NEWEST)
    async with app.run_test(size=SIZE) as pilot:
        requests = await newest_requests(app, pilot)
        assert requests.row_count == 5
        await pilot.press("space")
        ledger.ingest([ApiCall(NEWEST, None, "claude-opus-4-8", "msg_q", "req_q", now, 7, 11, 35_000, 10)])
        await demo.settle(app, pilot)
        assert requests.row_count == 5  # frozen
        assert "PAUSED" in str(app.screen.query_one("#summary").render())
        assert "6 requests" in str(app.screen.query_one("#summary").render())  # the summary still moves
        await pilot.press("space")
        await demo.settle(app, pilot)
        assert requests.row_count == 6
        assert "PAUSED" not in str(app.screen.query_one("#summary").render())


async def test_nothing_changed_means_no_table_work_and_a_change_repaints_one_row(sample):
    app = make_app(sample, refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        table = table_of(app)
        rendered: list[int] = []
        original = table.render_line

        def spy(y: int):
            rendered.append(y)
            return original(y)

        table.render_line = spy
        frames = table.frames
        for _ in range(2):  # clock ticks and wake-ups, fixed clock, no new data
            app._tick()
            for _ in range(3):
                app._wake()
            await pilot.pause()
        assert table.frames == frames and rendered == []
        _, ledger, now = sample
        ledger.ingest([ApiCall(NEWEST, None, "claude-opus-4-8", "msg_n", "req_n", now, 1, 1)])
        await demo.settle(app, pilot)
        await pilot.pause()
        assert table.frames == frames + 1
        row_line = table.row_keys().index(NEWEST) + 1  # under the header
        assert rendered and set(rendered) == {row_line}


async def test_refresh_rate_keys_and_help(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("minus")
        assert app.refresh_interval == 2.0
        await pilot.press("plus", "plus")
        assert app.refresh_interval == 0.5
        assert "refresh 0.5s" in str(app.screen.query_one("#totals").render())
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "lower bound" in str(app.screen.query_one("#help_text").render()) or "at least" in str(
            app.screen.query_one("#help_text").render()
        )
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Pause / resume", "Filter sessions", "Toggle subagent tree", "Sort by cost"):
            assert wanted in titles


@pytest.mark.parametrize("spec", ["latest", "here", "2da9138a"])
async def test_open_session_from_the_command_line(sample, spec):
    expected = {"latest": NEWEST, "here": NEWEST, "2da9138a": "2da9138a-9060-4234-9110-d4601e2b59d1"}[spec]
    app = make_app(sample, open_session=spec, cwd="/home/dev/proj1")
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await demo.settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        assert app.screen.session_id == expected
    assert resolve_session(app.snapshot, "here", "/nowhere") is None


async def test_empty_state_says_where_it_looked_and_how_to_change_it(tmp_path):
    ledger = demo.make_ledger()
    app = CctopApp(ledger, now=lambda: 1.8e9, roots=[tmp_path / "nothing" / "projects"])
    async with app.run_test(size=(80, 24)) as pilot:
        await demo.settle(app, pilot)
        text = str(app.screen.query_one("#empty").render())
        assert str(tmp_path / "nothing" / "projects") in text
        assert "--claude-dir" in text and "--otlp" in text and "otlp-env" in text


INJECTIONS = {
    "title": "[bold]boom[/bold] [link=https://evil.example]x[/link]",
    "tool": "\x1b[31mRed\x1b]8;;http://evil\x07Tool[/]",
    "cwd": "/home/x/\x1b[2J[red]p",
}


async def test_log_text_is_shown_literally_never_as_markup_or_control_codes():
    ledger = demo.make_ledger()
    sid = "11111111-2222-3333-4444-555555555555"
    now = 1.8e9
    ledger.ingest(
        [
            SessionMeta(
                sid, now - 5, cwd=INJECTIONS["cwd"], title=INJECTIONS["title"], title_kind=TitleKind.CUSTOM
            ),
            ApiCall(sid, None, "claude-[i]x[/i]", "m1", "r1", now - 5, 10, 20, 30, 40, final=True),
            ToolUse(sid, None, "t1", INJECTIONS["tool"], now - 4),
            ToolResult(sid, "t1", True, now - 3),
        ]
    )
    app = CctopApp(ledger, now=lambda: now)
    async with app.run_test(size=(160, 32)) as pilot:
        await demo.settle(app, pilot)
        table = table_of(app)
        title = table.get_cell(sid, "title")
        assert title.plain.startswith("[bold]boom[/bold]") and not title.spans
        project = cell(table, sid, "project")
        assert "\x1b" not in project and "\\x1b" in project
        screen_text = app.export_screenshot()
        assert "\x1b" not in screen_text and "[bold]boom[/bold]" in screen_text.replace("&#160;", " ")
        await pilot.press("ctrl+p", *"boom")
        await pilot.pause(0.5)
        palette = app.export_screenshot().replace("&#160;", " ")
        assert "[bold]boom[/bold]" in palette and "[link=https://evil.example]" in palette
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await demo.settle(app, pilot)
        feed = app.screen.query_one("#feed")
        shown = "\n".join(strip.text for strip in feed.lines)
        assert "\\x1b[31mRed\\x1b]8;;http://evil\\x07Tool[/]" in shown
        tools = app.screen.query_one("#tools")
        assert tools.get_row_at(0)[0].plain.startswith("\\x1b[31mRed")
        summary = str(app.screen.query_one("#summary").render())
        assert "[bold]boom[/bold]" in summary and "\x1b" not in summary


async def test_a_line_appended_to_a_real_transcript_reaches_the_screen(tmp_path):
    from cctop.sources.transcripts.tailer import Tailer

    projects = demo.lay_out_samples(tmp_path, SAMPLES)
    ledger = demo.make_ledger()
    tailer = Tailer([projects], sink=ledger.ingest, warn=ledger.warn, on_deleted=ledger.mark_files_deleted)
    tailer.start()
    try:
        assert tailer.wait_idle(20)
        target = projects / "-home-dev-proj1" / "2da9138a-9060-4234-9110-d4601e2b59d1.jsonl"
        template = [line for line in target.read_text().splitlines() if '"type":"assistant"' in line][-1]
        app = CctopApp(ledger, now=time.time, roots=[projects], refresh=1.0)
        async with app.run_test(size=SIZE) as pilot:
            await demo.settle(app, pilot)
            await pilot.press("h")
            table = table_of(app)
            sid = "2da9138a-9060-4234-9110-d4601e2b59d1"
            before = cell(table, sid, "output")
            assert before == "191"
            line = json.loads(template)
            line["message"]["id"] = "msg_appended"
            line["requestId"] = "req_appended"
            line["uuid"] = "00000000-0000-0000-0000-0000000000aa"
            line["message"]["usage"]["output_tokens"] = 5000
            line["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            with target.open("a") as handle:
                handle.write(json.dumps(line) + "\n")
            appended = time.monotonic()
            while cell(table, sid, "output") == before:
                assert time.monotonic() - appended < 5, "the appended line never reached the table"
                await pilot.pause(0.02)
            assert cell(table, sid, "output") == "5.2k"
            assert cell(table, sid, "state") == "live"  # it just wrote
    finally:
        tailer.stop()


async def test_switching_theme_restyles_rows_and_mouse_opens_a_session(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        dark_live = app.style_for("live")
        app.theme = "textual-light"
        await pilot.pause()
        assert app.style_for("live") and app.style_for("live") != dark_live
        table = table_of(app)
        assert table.render_line(1).text.startswith("live")
        await pilot.click(SessionTable, offset=(20, 3))  # header, then rows 0, 1, 2
        assert table.cursor_row == 2
        await pilot.click(SessionTable, offset=(20, 3), times=2)
        await demo.settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        assert app.screen.session_id == table.row_keys()[2]


def colours_at(rendered, needle: str) -> set[str]:
    """Foreground colours (``#rrggbb``) of the spans covering ``needle`` in a Rich Text or a
    Textual Content."""
    at = rendered.plain.index(needle)
    found = set()
    for span in rendered.spans:
        if span.start <= at < span.end:
            style = RichStyle.parse(span.style) if isinstance(span.style, str) else span.style
            if isinstance(style, RichStyle):
                if style.color is not None and style.color.triplet is not None:
                    found.add(style.color.triplet.hex.lower())
            elif getattr(style, "foreground", None) is not None:
                found.add(style.foreground.hex.lower())
    return found


async def test_cache_breaks_in_the_header_the_requests_bar_and_the_feed(utc):
    ledger = demo.make_ledger()
    sid = "22222222-2222-4222-8222-222222222222"
    t0 = 1.8e9 + 3600  # 09:00 UTC
    model = "claude-opus-4-8"  # $5 input, $0.50 cache read, $6.25 5m cache write per MTok

    def call(n: int, read: int, write: int, ts: float) -> ApiCall:
        return ApiCall(sid, None, model, f"m{n}", f"r{n}", ts, 5, 100, read, write, write, final=True)

    ledger.ingest(
        [
            SessionMeta(sid, t0, cwd="/home/dev/breaky", title="breaks", title_kind=TitleKind.CUSTOM),
            call(1, 0, 20_000, t0),
            call(2, 20_000, 500, t0 + 30),  # saves 20,000 x $4.50/MTok
            call(3, 0, 21_000, t0 + 60),  # within the TTL, same model: the prefix changed
            call(4, 21_000, 300, t0 + 90),  # saves 21,000 x $4.50/MTok
            call(5, 0, 21_500, t0 + 1000),  # after 5 minutes idle: the cache expired
        ]
    )
    # Breaks re-write what was cached (20,500 then 21,300 tokens) at $6.25 instead of $0.50:
    # lost 41,800 x $5.75/MTok = $0.24; saved 41,000 x $4.50/MTok = $0.18.
    now = t0 + 1010
    app = CctopApp(ledger, now=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        warn, error, live = (app.style_for(role).lower() for role in ("warn", "error", "live"))
        header = app.screen.query_one("#totals").render()
        assert "saved $0.18  lost $0.24" in header.plain
        assert colours_at(header, "$0.24") == {warn}
        assert colours_at(header, "$0.18") == set()
        await pilot.press("enter")
        await demo.settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        strip = app.screen.query_one("#cache_strip")
        assert strip._marks == ("", "", "prefix_changed", "", "ttl_expired")
        shown = str(strip.render())
        assert "×" in shown and "prefix changed" in shown and "cache expired" in shown
        summary = str(app.screen.query_one("#summary").render())
        assert "saved $0.18 · lost $0.24 (2 breaks)" in summary
        requests = app.screen.query_one("#requests")
        bars = [requests.get_row_at(i)[-1] for i in range(5)]
        # A broken request re-wrote its whole prompt: all write (▓), and the cause beside it.
        assert [b.plain.strip() for b in bars] == [
            "▓" * 8, "█" * 8, "▓" * 8 + " prefix", "█" * 8, "▓" * 8 + " ttl",
        ]  # fmt: skip
        assert colours_at(bars[2], "prefix") == {error}
        assert colours_at(bars[1], "█") == {live}
        feed = "\n".join(strip.text for strip in app.screen.query_one("#feed").lines)
        assert "prefix changed: 20.5k cached tokens re-sent, +$0.12" in feed
        assert "cache expired: 21.3k cached tokens re-sent, +$0.12" in feed

        # At 80 columns the bar narrows and a break is one glyph; no column scrolls off.
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert requests.get_row_at(2)[-1].plain.strip() == "▓▓▓▓ ×"
        assert requests.get_row_at(4)[-1].plain.strip() == "▓▓▓▓ T"
        assert requests.virtual_size.width <= requests.scrollable_content_region.width
        assert requests.cursor_row == 4
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        assert requests.get_row_at(2)[-1].plain.strip() == "▓" * 8 + " prefix"
        # Another theme repaints the bars in its own colours.
        app.theme = "textual-light"
        await pilot.pause()
        light = app.style_for("live").lower()
        assert light != live and colours_at(requests.get_row_at(1)[-1], "█") == {light}
        assert requests.cursor_row == 4


async def test_open_session_that_does_not_exist_says_so(sample):
    app = make_app(sample, open_session="nope")
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("'nope'" in n.message for n in app._notifications)


async def test_columns_drop_whole_by_priority_and_the_title_grows_with_the_width(sample):
    app = make_app(sample)
    async with app.run_test(size=(80, 24)) as pilot:
        await demo.settle(app, pilot)
        table = table_of(app)
        narrow = [key for key, _x, _w in table.visible_columns()]
        assert {"state", "project", "title", "cost", "hit", "context", "ttl"} <= set(narrow)
        assert "input" not in narrow and "cache_write" not in narrow  # token counts go first
        title_narrow = dict((k, w) for k, _x, w in table.visible_columns())["title"]
        await pilot.resize_terminal(200, 40)
        await pilot.pause()
        wide = dict((k, w) for k, _x, w in table.visible_columns())
        assert set(rows.COLUMN_KEYS) == set(wide)  # everything fits
        assert wide["title"] > title_narrow + 60  # the title takes what is left
        header = table.render_line(0).text
        assert header.startswith("st   project") and header.rstrip().endswith("model")


async def test_command_palette_opens_a_session_by_title(sample):
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"beads")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await demo.settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        assert app.snapshot.sessions[app.screen.session_id].title == "create the beads"


async def test_session_screen_follows_new_requests_live(sample):
    _, ledger, now = sample
    app = make_app(sample, open_session=NEWEST)
    async with app.run_test(size=SIZE) as pilot:
        requests = await newest_requests(app, pilot)
        assert requests.row_count == 5 and requests.cursor_row == 4
        ledger.ingest([ApiCall(NEWEST, None, "claude-opus-4-8", "msg_f", "req_f", now, 7, 4321, 35_000, 10)])
        await demo.settle(app, pilot)
        assert requests.row_count == 6 and requests.cursor_row == 5
        assert requests.get_row_at(5)[4].plain == "4.3k+"  # out, still streaming
        ledger.ingest(
            [ApiCall(NEWEST, None, "claude-opus-4-8", "msg_f", "req_f", now, 7, 5000, 35_000, 10, final=True)]
        )
        await demo.settle(app, pilot)
        assert requests.row_count == 6
        assert requests.get_row_at(5)[4].plain == "5.0k"


async def test_a_redraw_before_a_pushed_screen_mounts_waits_for_it(sample):
    """A clock tick can land between push_screen and the screen's mount (seen on Python 3.13)."""
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        app.open_session(NEWEST)
        await demo.settle(app, pilot)
        await pilot.press("escape")
        await demo.settle(app, pilot)
        assert app.detail is not None and app.detail.stats.id == NEWEST  # its detail is at hand
        app.open_session(NEWEST)
        app.redraw()  # before the new screen has any widget
        await demo.settle(app, pilot)
        assert isinstance(app.screen, SessionScreen) and app.screen.is_mounted
        assert app.screen.query_one("#requests").row_count == 5


async def test_a_snapshot_finished_during_shutdown_is_dropped(sample):
    """A worker's snapshot can arrive after the screens are gone; it must not crash the exit."""
    import threading

    app = make_app(sample)
    real_snapshot = app.ledger.snapshot
    started, release = threading.Event(), threading.Event()

    def slow_snapshot(now=None):
        started.set()
        release.wait(5)
        return real_snapshot(now)

    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        app.ledger.snapshot = slow_snapshot  # type: ignore[method-assign]
        app.request_snapshot()
        for _ in range(100):  # the worker thread starts from the event loop
            if started.is_set():
                break
            await pilot.pause(0.05)
        assert started.is_set()
        stack = app._screen_stacks[app._current_mode]
        screens, stack[:] = list(stack), []  # what shutting down does to the stack
        release.set()
        await asyncio.sleep(0.3)  # the snapshot arrives now, with no screen to show it
        stack[:] = screens
        assert app._exception is None


async def test_a_redraw_while_widgets_are_taken_down_draws_nothing(sample):
    """At exit, a clock tick can redraw a screen whose widgets are already gone."""
    from cctop.ui.widgets.totals_bar import TotalsBar

    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await app.screen.query_one(TotalsBar).remove()
        app.redraw()
        await pilot.pause()
        assert app._exception is None


async def test_while_the_history_loads_the_first_sessions_show_without_waiting_for_the_frame_gap(
    sample, monkeypatch
) -> None:
    """A start: the table is empty while the tailer reads. The first sessions read go up at the
    next fast check (FIRST_DATA_WAKE_S), whatever the gap between frames; once they are up, the
    gap holds again. Here the gap and the other timers are a minute: only the fast check can
    show them."""
    from cctop.ui import app as app_module

    projects, _, now = sample
    monkeypatch.setattr(app_module, "MIN_FRAME_GAP_S", 60.0)
    monkeypatch.setattr(app_module, "WAKE_INTERVAL_S", 60.0)
    ledger = demo.make_ledger()
    app = CctopApp(ledger, roots=[projects], now=lambda: now, refresh=60.0, backfilling=lambda: True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)  # mounted, its first frame (empty) shown
        assert not row_keys(table_of(app))
        demo.load(projects, ledger)  # the tailer's first files
        deadline = time.monotonic() + 10
        while not row_keys(table_of(app)) and time.monotonic() < deadline:
            await pilot.pause(0.02)
        assert NEWEST in row_keys(table_of(app))
        frames = app.frames
        ledger.ingest([SessionMeta(NEWEST, now, title="renamed", title_kind=TitleKind.CUSTOM)])
        await pilot.pause(0.3)
        assert app.frames == frames  # the gap holds again: that change waits for its turn
