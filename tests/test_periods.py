"""The pure bucketing of cctop.model.periods: 5-hour blocks, the active block's pace, dates
across a DST change."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from cctop.model.periods import (
    BLOCK_SECONDS,
    CallFact,
    LocalTime,
    Mark,
    Usage,
    block_starts,
    period_range,
    summarize,
    within,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc).timestamp()


def call(ts: float, cost: float | None = 1.0, model: str = "m", session: str = "s") -> CallFact:
    return CallFact(ts, session, "p", model, 10, 5, 0, 0, cost, None, 0.0)


def test_a_block_opens_at_the_first_call_after_the_last_one_closed():
    stamps = [T0 + 50 * 60, T0 + 4 * 3600, T0 + 5 * 3600 + 10, T0 + 5 * 3600 + 20, T0 + 20 * 3600 + 1800]
    # 09:50 opens 09:00-14:00 (13:00 inside); 14:00:10 opens 14:00; 05:30 next day opens 05:00.
    assert block_starts(stamps) == [T0, T0 + 5 * 3600, T0 + 20 * 3600]


def test_the_active_block_has_a_burn_rate_and_a_projection():
    usage = Usage((call(T0 + 600, 1.0), call(T0 + 1800, 2.0)))
    now = T0 + 3600 + 600  # an hour after the first call, 3 h 50 min left
    active = summarize(usage, "blocks", timezone.utc, now).active
    assert active is not None
    assert active.burn_rate_usd_per_hour == pytest.approx(3.0)
    assert active.seconds_left == pytest.approx(BLOCK_SECONDS - 4200)
    assert active.projected_cost_usd == pytest.approx(3.0 + 3.0 * (BLOCK_SECONDS - 4200) / 3600)
    assert summarize(usage, "blocks", timezone.utc, T0 + BLOCK_SECONDS).active is None


def test_tool_calls_after_a_block_closed_stay_with_its_call():
    usage = Usage((call(T0),), tool_calls=(Mark(T0 + BLOCK_SECONDS + 5, "s", "p", "m"),))
    report = summarize(usage, "blocks", timezone.utc, T0)
    assert len(report.rows) == 1 and report.rows[0].figures.tool_calls == 1


def test_dates_across_new_yorks_dst_end():
    local = LocalTime(ZoneInfo("America/New_York"))
    first_130 = datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc).timestamp()  # 01:30 EDT
    late = datetime(2026, 11, 2, 4, 59, tzinfo=timezone.utc).timestamp()  # 23:59 EST
    assert local.date(first_130) == local.date(first_130 + 3600) == local.date(late) == date(2026, 11, 1)
    assert local.date(late + 60) == date(2026, 11, 2)


def test_unpriced_calls_make_the_cost_unknown():
    report = summarize(Usage((call(T0, 1.0), call(T0 + 1, None))), "daily", timezone.utc, T0)
    assert report.totals.cost_usd is None and report.totals.cost_usd_priced == 1.0
    assert report.totals.unpriced_requests == 1


def test_within_and_period_range():
    usage = Usage((call(T0), call(T0 + 100)), (Mark(T0 + 50, "s", "p", "m"),))
    kept = within(usage, T0 + 10, T0 + 100)
    assert kept.calls == () and len(kept.tool_calls) == 1
    assert period_range(date(2026, 10, 30), date(2026, 11, 2), "daily") == [
        "2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02",
    ]  # fmt: skip
    assert period_range(date(2026, 10, 30), date(2026, 11, 2), "weekly") == ["2026-W44", "2026-W45"]
    assert period_range(date(2026, 10, 30), date(2026, 11, 2), "monthly") == ["2026-10", "2026-11"]
