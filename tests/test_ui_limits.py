"""The TUI's limits line, fed by the real poller from a real store while the app runs, and
its alerts (notification + bell, once per window)."""

from __future__ import annotations

import time

import demo
from rich.text import Text
from textual.css.query import NoMatches

from cctop.model.limit_sample import LimitSample, WindowSample
from cctop.sources.limits_poll import LimitsPoller
from cctop.store import samples as stored
from cctop.ui.app import CctopApp
from cctop.ui.messages import LimitSamples
from cctop.ui.widgets.limits_bar import LimitsBar, limits_text


def bar_text(app: CctopApp) -> str:
    return str(app.screen.query_one(LimitsBar).render())


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


def window(used: float, resets_in: float) -> WindowSample:
    return WindowSample(used, time.time() + resets_in)


async def test_samples_written_to_the_store_reach_the_header(tmp_path):
    store = tmp_path / "s.sqlite3"
    app = CctopApp(demo.make_ledger())
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    poller = LimitsPoller(store, lambda s, d: app.post_message(LimitSamples(s, d)), app.ledger.warn, 0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "limits: no data" in bar_text(app))
        poller.start()
        try:
            now = time.time()
            stored.record(store, LimitSample(now - 600, "a", window(40, 3600), window(13, 86400 * 3)))
            await wait_for(pilot, lambda: "40%" in bar_text(app))
            text = bar_text(app)
            assert "5h" in text and "wk" in text and "13%" in text and "official (statusline)" in text
            assert not bells
            # Past the 80% threshold and running out before the reset: one alert each, a bell each.
            stored.record(store, LimitSample(now, "a", window(85, 3600), window(13, 86400 * 3)))
            await wait_for(pilot, lambda: "85%" in bar_text(app))
            messages = [n.message for n in app._notifications]
            assert any("5-hour limit at 85%" in m for m in messages)
            assert any("runs out before the reset" in m for m in messages)
            assert len(bells) == 2
            stored.record(store, LimitSample(now + 1, "b", window(86, 3600), window(13, 86400 * 3)))
            await wait_for(pilot, lambda: "86%" in bar_text(app))
            assert len(bells) == 2  # the same window and threshold: said once
        finally:
            poller.stop()


def test_no_data_is_never_shown_as_a_figure():
    text = limits_text(None, 0.0, lambda role: "")
    assert isinstance(text, Text) and text.plain.startswith("limits: no data") and "%" not in text.plain
    assert "cctop statusline --install" in text.plain
    # Installed already: the line says the figures are on their way, not how to install.
    waiting = limits_text(None, 0.0, lambda role: "", installed=True).plain
    assert waiting.startswith("limits: no data yet") and "installed" in waiting and "--install" not in waiting
    assert len(waiting) <= 78  # the 80-column pane, less the bar's padding


async def test_the_live_view_knows_when_the_status_line_is_installed(tmp_path):
    from contextlib import ExitStack

    from cctop.cli import build_parser
    from cctop.launch import tui_app

    config = tmp_path / "claude"
    (config / "projects").mkdir(parents=True)
    (config / "settings.json").write_text(
        '{"statusLine": {"type": "command", "command": "/usr/bin/cctop statusline"}}'
    )
    args = build_parser().parse_args(["--no-store", "--claude-dir", str(config)])
    with ExitStack() as stack:
        app = tui_app(args, stack)
        assert app.statusline_installed
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "limits: no data yet" in bar_text(app))
    # A foreign status line command: the install hint stays.
    (config / "settings.json").write_text('{"statusLine": {"type": "command", "command": "~/line.sh"}}')
    with ExitStack() as stack:
        assert not tui_app(args, stack).statusline_installed


def test_an_ended_window_says_so():
    from cctop.model.limits import limits_view

    view = limits_view([LimitSample(0.0, "a", WindowSample(50, 100.0))], now=200.0)
    assert "5h reset" in limits_text(view, 200.0, lambda role: "").plain


async def test_session_screen_shows_claude_codes_cache_view_and_the_share():
    from cctop.model.limit_sample import PromptCacheInfo
    from cctop.model.records import ApiCall
    from cctop.ui.screens.session import SessionScreen

    ledger = demo.make_ledger()
    now = time.time()
    call = ApiCall("s1", None, "claude-opus-4-8", "m1", "r1", now - 100, input_tokens=10, output_tokens=5,
                   cache_creation_tokens=5000, final=True)  # fmt: skip
    ledger.ingest([call])
    app = CctopApp(ledger)
    cache = PromptCacheInfo(0.5, 3, 1, "tools", now - 100, now + 200, "5m", True)
    samples = [
        LimitSample(now - 200, "s1", window(40, 3600)),
        LimitSample(now - 50, "s1", window(44, 3600), prompt_cache=cache),
    ]
    async with app.run_test(size=(120, 30)) as pilot:
        app.post_message(LimitSamples(samples, 0))
        await wait_for(pilot, lambda: app.limits is not None)
        app.open_session("s1")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionScreen) and app.screen.is_mounted)

        def claude_line() -> str:
            try:
                widget = app.screen.query_one("#claude")
            except NoMatches:  # not composed yet
                return ""
            return str(widget.render()) if widget.display else ""

        await wait_for(pilot, lambda: "Claude Code: cache hit 50%" in claude_line())
        line = claude_line()
        assert "last miss tools ≠ cctop no break" in line and "limit share 5h 4.0 pts" in line
