"""Pilot tests of the history screen: opened with ``g`` or the palette, it sums the live
ledger's calls as ``cctop report`` does, switches periods and stacking, follows a ledger
that keeps moving, and shows labels from logs as plain text."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone

import demo
import pytest

from cctop.model.periods import summarize
from cctop.model.records import ApiCall, SessionMeta
from cctop.model.usage import usage_of
from cctop.ui.app import CctopApp
from cctop.ui.screens import history as history_screen
from cctop.ui.screens.history import HistoryScreen

SIZE = (100, 30)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc).timestamp()
EVIL = "evil\x1b[31mred\x07"  # a model id from a log with terminal control codes


def _call(session: str, request: str, hours_ago: float, model: str = "claude-opus-4-8", read: int = 0):
    return ApiCall(session, None, model, f"msg_{request}", f"req_{request}", NOW - hours_ago * 3600,
                   input_tokens=1000, output_tokens=500, cache_read_tokens=read, cache_creation_tokens=2000,
                   final=True)  # fmt: skip


@pytest.fixture
def ledger():
    ledger = demo.make_ledger()
    records: list = [
        SessionMeta("s1", NOW - 200 * 3600, cwd="/home/dev/alpha"),
        SessionMeta("s2", NOW - 30 * 3600, cwd="/home/dev/beta"),
    ]
    # Calls spread over the last nine days, two projects, three models (one unpriced).
    for index in range(9):
        records.append(_call("s1", f"a{index}", 24 * index + 2, read=10_000 * index))
    records.append(_call("s2", "b1", 30, model="claude-sonnet-4-5"))
    records.append(_call("s2", "b2", 1, model=EVIL))
    ledger.ingest(records)
    return ledger


def make_app(ledger) -> CctopApp:
    return CctopApp(ledger, now=lambda: NOW)


def expected(ledger, kind: str, by: str):
    usage, _, _ = usage_of(ledger, demo.pricebook().rates_for)
    return summarize(usage, kind, None, NOW, breakdown=by)


async def test_g_opens_the_charts_with_the_reports_figures(ledger):
    app = make_app(ledger)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("g")
        await demo.history_drawn(app, pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        shown = screen.history
        assert shown is not None and shown.kind == "daily" and len(shown.periods) == (100 - 12) // 3  # as fit
        assert shown.report == expected(ledger, "daily", "model")
        assert shown.report.totals.requests == 11
        # The unpriced model is stacked by name; its label is escaped, never a control code.
        legend = screen.query_one("#legend").render().plain
        assert "evil\\x1b[31mred\\x07" in legend and "\x1b" not in legend
        blocks = screen.query_one("#blocks").render().plain
        assert "5-hour blocks" in blocks and "now:" in blocks  # a call an hour ago: a block is active


async def test_weeks_months_and_projects(ledger):
    app = make_app(ledger)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("g")
        await demo.history_drawn(app, pilot)
        screen = app.screen
        for key, kind, by in (
            ("w", "weekly", "model"),
            ("p", "weekly", "project"),
            ("m", "monthly", "project"),
        ):
            draws = screen.draws
            await pilot.press(key)
            await _drawn_again(screen, pilot, draws)
            assert (screen.history.kind, screen.history.by) == (kind, by)
            assert screen.history.report == expected(ledger, kind, by)
        names, series = history_screen.stacks(screen.history)
        assert set(names) == {"alpha", "beta"}
        assert sum(map(sum, series)) == pytest.approx(screen.history.report.totals.cost_usd_priced)
        await pilot.press("escape")
        assert not isinstance(app.screen, HistoryScreen)


async def test_the_palette_opens_it(ledger):
    app = make_app(ledger)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"History charts")
        await pilot.press("enter")
        await demo.history_drawn(app, pilot)
        assert isinstance(app.screen, HistoryScreen)


async def test_it_follows_the_live_ledger(ledger, monkeypatch):
    monkeypatch.setattr(history_screen, "RECOMPUTE_GAP_S", 0.0)
    app = make_app(ledger)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("g")
        await demo.history_drawn(app, pilot)
        screen = app.screen
        before = screen.history.report.totals.requests
        draws = screen.draws
        ledger.ingest([_call("s2", "late", 0.5)])  # as a source thread would
        await _drawn_again(screen, pilot, draws)
        assert screen.history.report.totals.requests == before + 1


async def _drawn_again(screen, pilot, draws: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while screen.draws == draws:
        assert time.monotonic() < deadline, "the history screen did not draw again"
        await pilot.pause(0.05)


def test_facts_cache_redoes_only_changed_sessions(ledger, monkeypatch):
    from cctop.model import usage as report_usage

    cache = report_usage.FactsCache()
    rates_for = demo.pricebook().rates_for
    first, _, _ = cache.usage(ledger, rates_for)
    made: list[str] = []
    real = report_usage._session_facts
    monkeypatch.setattr(
        report_usage, "_session_facts", lambda stats, *a: made.append(stats.id) or real(stats, *a)
    )
    ledger.ingest([_call("s2", "later", 0.2)])
    second, _, _ = cache.usage(ledger, rates_for)
    assert made == ["s2"]  # s1 did not change: its facts are reused
    assert len(second.calls) == len(first.calls) + 1
    assert second == usage_of(ledger, rates_for)[0]  # the same as made afresh


async def test_sums_made_in_the_background_are_drawn_at_once(ledger, monkeypatch):
    from cctop.ui import app as app_module

    monkeypatch.setattr(app_module, "HISTORY_WARM_DELAY_S", 0.05)
    app = make_app(ledger)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        deadline = time.monotonic() + 10
        while app.last_history is None:
            assert time.monotonic() < deadline, "no sums were made in the background"
            await pilot.pause(0.05)
        warm = app.last_history
        assert warm.report == expected(ledger, "daily", "model")
        # Hold the screen's own summing back until the first draw has been looked at.
        release = threading.Event()
        facts_usage = app.history_facts.usage
        monkeypatch.setattr(app.history_facts, "usage", lambda *a: release.wait(10) and facts_usage(*a))
        await pilot.press("g")
        screen = app.screen
        assert screen.draws == 1 and screen.history is warm  # drawn on mount, before any worker
        release.set()
        await _drawn_again(screen, pilot, 1)  # and summed again (the clock moved)
        assert screen.history is not warm and screen.history.report == warm.report


@pytest.mark.parametrize("top", [0.031, 0.5, 1.0, 3.57, 7.0, 12.4, 100.0, 178.3, 2_500.0])
def test_value_axis_ticks_are_even_round_and_cover_the_top(top):
    ticks = history_screen.value_ticks(top)
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert ticks[0] == 0 and ticks[-1] >= top and len(steps) == 1  # evenly spaced, from 0
    (step,) = steps
    assert 2 <= len(ticks) <= 5 and ticks[-2] < top  # no empty step above the top
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5)
