"""The limits model: current figure per window, pace, each session's share, alerts."""

from __future__ import annotations

import pytest

from cctop.model.limit_sample import LimitSample, WindowSample
from cctop.model.limits import alerts, first_time, limits_view

RESET_5H = 20_000.0
RESET_7D = 500_000.0


def sample(t: float, session: str, five: float | None, week: float | None = None,
           reset5: float = RESET_5H) -> LimitSample:  # fmt: skip
    return LimitSample(
        observed_at=t,
        session_id=session,
        five_hour=None if five is None else WindowSample(five, reset5),
        seven_day=None if week is None else WindowSample(week, RESET_7D),
    )


def test_no_samples_no_data():
    view = limits_view([], now=0.0)
    assert not view.has_data and view.five_hour is None and dict(view.shares) == {}


def test_samples_without_limits_say_nothing():
    view = limits_view([LimitSample(1.0, "a", cost_usd=0.5)], now=2.0)
    assert not view.has_data


def test_the_figure_is_the_windows_high_water_mark():
    # Session b's process had no response lately: it repeats an older, lower figure.
    samples = [sample(100, "a", 40, 10), sample(200, "a", 45, 11), sample(300, "b", 41, 10)]
    view = limits_view(samples, now=400.0)
    assert view.five_hour.used_percentage == 45 and view.five_hour.observed_at == 200
    assert view.five_hour.session_id == "a" and not view.five_hour.expired
    assert view.seven_day.used_percentage == 11


def test_a_new_window_replaces_the_old_one_and_a_passed_reset_expires_it():
    samples = [sample(100, "a", 90, reset5=1000), sample(1100, "a", 3, reset5=19_000)]
    view = limits_view(samples, now=1200.0)
    assert view.five_hour.used_percentage == 3 and view.five_hour.resets_at == 19_000
    stale = limits_view(samples[:1], now=1200.0)
    assert stale.five_hour.expired and stale.five_hour.pace_at_reset is None


def test_pace_projects_the_recent_rate_to_the_reset():
    # 10 points in 1000 s: 0.01/s; 10,000 s left after the last sample -> +100 -> runs out.
    samples = [sample(9000, "a", 20), sample(10_000, "a", 30)]
    view = limits_view(samples, now=10_000.0)
    assert view.five_hour.pace_at_reset == pytest.approx(130.0)
    assert view.five_hour.runs_out_at == pytest.approx(10_000 + 70 / 0.01)
    slow = limits_view([sample(9000, "a", 20), sample(10_000, "a", 21)], now=10_000.0)
    assert slow.five_hour.pace_at_reset == pytest.approx(31.0) and slow.five_hour.runs_out_at is None


def test_pace_needs_enough_time_between_samples():
    view = limits_view([sample(9000, "a", 20), sample(9030, "a", 30)], now=9030.0)
    assert view.five_hour.pace_at_reset is None and view.five_hour.runs_out_at is None
    # A burst of a few minutes is not a pace (it read "→782%" live); ten minutes of samples are.
    burst = limits_view([sample(9000, "a", 31), sample(9180, "a", 47)], now=9180.0)
    assert burst.five_hour.pace_at_reset is None
    steady = limits_view([sample(9000, "a", 31), sample(9600, "a", 33)], now=9600.0)
    assert steady.five_hour.pace_at_reset is not None
    # The weekly window's lookback is a day: an hour of samples says nothing of its pace yet.
    week = [sample(9000, "a", 31, week=10), sample(12_600, "a", 33, week=12)]
    assert limits_view(week, now=12_600.0).seven_day.pace_at_reset is None
    later = [*week, sample(9000 + 5 * 3600, "a", 40, week=15)]
    assert limits_view(later, now=9000.0 + 5 * 3600).seven_day.pace_at_reset is not None


def test_shares_split_each_rise_by_the_calls_made_in_between():
    samples = [sample(100, "a", 40), sample(200, "a", 46), sample(300, "b", 50), sample(400, "a", 50)]
    calls = [
        (150.0, "a", 0.2),  # between 100 and 200: a made $0.20, b $0.10 -> 6 points split 4:2
        (160.0, "b", 0.1),
        (250.0, "b", 0.5),  # between 200 and 300: only b -> 4 points
        (350.0, "a", 0.3),  # between 300 and 400: no rise -> nothing
        (50.0, "a", 9.0),  # before the first sample: not attributable
    ]
    view = limits_view(samples, now=500.0, calls=calls)
    assert view.shares["a"]["five_hour"] == pytest.approx(4.0)
    assert view.shares["b"]["five_hour"] == pytest.approx(6.0)
    assert sum(s["five_hour"] for s in view.shares.values()) == pytest.approx(50 - 40)


def test_a_rise_with_no_known_call_goes_to_the_reporting_session():
    view = limits_view([sample(100, "a", 40), sample(200, "b", 43)], now=300.0)
    assert dict(view.shares) == {"b": {"five_hour": 3.0}}


def test_stale_repeats_do_not_count_a_rise_twice():
    samples = [sample(100, "a", 40), sample(200, "a", 45), sample(300, "b", 41), sample(400, "a", 47)]
    view = limits_view(samples, now=500.0)
    assert sum(s["five_hour"] for s in view.shares.values()) == pytest.approx(7.0)


def test_alerts_once_per_threshold_and_window():
    view = limits_view([sample(9000, "a", 70), sample(10_000, "a", 82)], now=10_000.0)
    found = alerts(view)
    assert [a.key for a in found] == [("five_hour", "at80"), ("five_hour", "runs_out")]
    assert found[0].severity == "warning" and "82%" in found[0].text and found[0].resets_at == RESET_5H
    higher = alerts(limits_view([sample(9000, "a", 70), sample(10_000, "a", 96)], now=10_000.0))
    assert higher[0].key == ("five_hour", "at95") and higher[0].severity == "error"
    assert alerts(view, thresholds=(90,)) == [found[1]]
    said: dict = {}
    assert [first_time(a, said) for a in found] == [True, True]
    assert [first_time(a, said) for a in found] == [False, False]
    # The same window, its reset reported a second later by another response: not said again.
    jittered = alerts(
        limits_view([sample(9000, "a", 70), sample(10_000, "a", 83, reset5=RESET_5H + 1)], 10_000.0)
    )
    assert [first_time(a, said) for a in jittered] == [False, False]
    # The next window: said again.
    later = alerts(limits_view([sample(30_000, "a", 81, reset5=RESET_5H + 18_000)], now=30_000.0))
    assert [first_time(a, said) for a in later] == [True]
