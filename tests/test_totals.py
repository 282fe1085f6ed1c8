"""The header's windows: today's and the last hour's prompt-cache dollars (saved by reads, lost
to breaks), summed by the real Ledger from its calls and its sessions' cache summaries.
Dollars are hand-computed from the packaged price table."""

from __future__ import annotations

from datetime import datetime

import pytest

from cctop.model.cache import make_summarizer
from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall
from cctop.sources.prices import packaged_pricebook

M = 1e-6  # $/MTok -> $/token
OPUS, SONNET = "claude-opus-4-8", "claude-sonnet-4-6"  # $5 in, $0.50 read, $6.25 5m write
A, B, C = (f"{n}{n}{n}{n}0000-0000-4000-8000-000000000000" for n in "abc")


pytestmark = pytest.mark.usefixtures("utc")  # see conftest.py


def _ledger() -> Ledger:
    book = packaged_pricebook()
    return Ledger(book, cache_summarizer=make_summarizer(book))


def _call(sid: str, n: int, ts: float, model: str = OPUS, *, read: int = 0, w5m: int = 0, w1h: int = 0):
    return ApiCall(
        sid, None, model, f"msg_{sid[:4]}_{n}", f"req_{sid[:4]}_{n}", ts,
        0, 40, read, w5m + w1h, w5m, w1h, final=True,
    )  # fmt: skip


def test_saved_and_lost_dollars_per_window() -> None:
    midnight = datetime(2026, 11, 20).timestamp()  # local (UTC) midnight
    now = midnight + 12 * 3600  # noon: the last hour starts at 11:00
    h = 3600.0
    ledger = _ledger()
    ledger.ingest(
        [
            # Session A (Opus, 5m writes). Yesterday: a read and a TTL break, both outside the windows.
            _call(A, 1, midnight - h, w5m=30_000),
            _call(A, 2, midnight - h + 60, read=30_000, w5m=1_000),
            _call(A, 3, midnight - h + 600, w5m=32_000),  # break: 31,000 cached tokens lost
            # 10:00, 10 hours idle: a TTL break today. 20,000 re-written at $6.25 instead of read at $0.50.
            _call(A, 4, midnight + 10 * h, w5m=20_000),
            _call(A, 5, midnight + 10 * h + 60, read=20_000, w5m=2_000),  # saves 20,000 x $4.50
            _call(A, 6, midnight + 11.5 * h, read=22_000, w5m=100),  # last hour: saves 22,000 x $4.50
            _call(A, 7, now + 60, read=22_100),  # after the clock: not counted yet
            # Session B (Sonnet, 1h writes: $3 in, $0.30 read, $6 1h write), all in the last hour.
            _call(B, 1, midnight + 11 * h + 1200, SONNET, w1h=40_000),
            _call(B, 2, midnight + 11.5 * h, SONNET, read=40_000, w1h=500),  # saves 40,000 x $2.70
            # 11:45: nothing read back 15 minutes into a 1h cache: the prefix changed.
            _call(B, 3, midnight + 11.75 * h, SONNET, w1h=41_000),  # 40,500 at $6 instead of $0.30
            # Session C: a model without a price saves and loses nothing we can put a figure on.
            _call(C, 1, midnight + 11.9 * h, "claude-mystery-9", read=50_000),
        ]
    )
    totals = ledger.snapshot(now).totals
    saved_today = 20_000 * 4.50 * M + 22_000 * 4.50 * M + 40_000 * 2.70 * M  # $0.09 + $0.099 + $0.108
    saved_hour = 22_000 * 4.50 * M + 40_000 * 2.70 * M
    lost_hour = 40_500 * (6.00 - 0.30) * M  # $0.23085
    lost_today = 20_000 * (6.25 - 0.50) * M + lost_hour  # $0.115 + $0.23085
    assert totals.today.saved_usd == pytest.approx(saved_today) == pytest.approx(0.297)
    assert totals.last_hour.saved_usd == pytest.approx(saved_hour) == pytest.approx(0.207)
    assert totals.today.break_cost_usd == pytest.approx(lost_today) == pytest.approx(0.34585)
    assert totals.last_hour.break_cost_usd == pytest.approx(lost_hour)
    assert totals.today.unpriced_requests == 1
    # The windows agree with the sessions' own summaries where they cover the same calls.
    b_cache = ledger.snapshot(now).sessions[B].cache
    assert b_cache.saved_usd == pytest.approx(40_000 * 2.70 * M)
    assert b_cache.break_cost_usd == pytest.approx(lost_hour)


def test_a_session_wholly_before_the_windows_adds_nothing() -> None:
    midnight = datetime(2026, 11, 20).timestamp()
    ledger = _ledger()
    ledger.ingest(
        [
            _call(A, 1, midnight - 7200, w5m=30_000),
            _call(A, 2, midnight - 7140, read=30_000),
            _call(A, 3, midnight - 6000, w5m=31_000),  # a TTL break, yesterday
        ]
    )
    snapshot = ledger.snapshot(midnight + 600)
    assert snapshot.sessions[A].cache.break_cost_usd > 0 and snapshot.sessions[A].cache.saved_usd > 0
    for window in (snapshot.totals.today, snapshot.totals.last_hour):
        assert (window.saved_usd, window.break_cost_usd, window.requests) == (0.0, 0.0, 0)


def test_without_a_cache_summarizer_only_saved_dollars_are_known() -> None:
    midnight = datetime(2026, 11, 20).timestamp()
    ledger = Ledger(packaged_pricebook())
    ledger.ingest(
        [
            _call(A, 1, midnight + 60, w5m=30_000),
            _call(A, 2, midnight + 120, read=30_000),
            _call(A, 3, midnight + 1200, w5m=31_000),
        ]
    )
    today = ledger.snapshot(midnight + 1300).totals.today
    assert today.saved_usd == pytest.approx(30_000 * 4.50 * M)
    assert today.break_cost_usd == 0.0
