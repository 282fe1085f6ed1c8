"""``cctop --once --json`` with statusline samples in the store: ``limits`` and each session's
``limit_share``, the same from a fresh read and from the saved aggregates."""

from __future__ import annotations

import re
import time

import orjson
import pytest
from helpers import assistant, write_session
from test_cli_once import run_cctop

from cctop import format as fmt
from cctop.model.limit_sample import LimitSample, WindowSample
from cctop.store import samples as stored


def test_limits_and_shares_in_the_json(tmp_path):
    now = time.time()
    t0 = now - 3000
    root = tmp_path / "claude"
    write_session(root, "-home-dev-proj", "aaaa", [assistant("aaaa", "m1", "r1", ts=fmt.iso(t0 + 100))])
    write_session(root, "-home-dev-proj", "bbbb", [assistant("bbbb", "m2", "r2", ts=fmt.iso(t0 + 200))])
    store = tmp_path / "s.sqlite3"
    reset5, reset7 = now + 3600, now + 5 * 86400

    def sample(t: float, session: str, five: float, week: float) -> LimitSample:
        return LimitSample(t, session, WindowSample(five, reset5), WindowSample(week, reset7))

    for s in (sample(t0, "aaaa", 40, 10), sample(t0 + 150, "aaaa", 44, 11), sample(t0 + 250, "bbbb", 50, 12)):
        assert stored.record(store, s) == stored.ADDED
    docs = []
    for _ in range(2):  # a fresh read, then the saved aggregates
        where = ("--claude-dir", str(root), "--store", str(store))
        result = run_cctop("--once", "--json", *where, home=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        docs.append(orjson.loads(result.stdout))
    cold, warm = docs
    assert cold["limits"] == warm["limits"]
    five = cold["limits"]["five_hour"]
    assert five["used_percentage"] == 50 and five["session_id"] == "bbbb" and five["source"] == "statusline"
    assert five["resets_at"] == fmt.iso(reset5) and five["observed_at"] == fmt.iso(t0 + 250)
    assert cold["limits"]["seven_day"]["used_percentage"] == 12 and cold["limits"]["spend_limit"] is None
    for doc in docs:
        shares = {s["id"]: s["limit_share"] for s in doc["sessions"]}
        assert shares["aaaa"] == {"five_hour": pytest.approx(4.0), "seven_day": pytest.approx(1.0)}
        assert shares["bbbb"] == {"five_hour": pytest.approx(6.0), "seven_day": pytest.approx(1.0)}
    assert list(cold) == list(warm) and list(cold)[-2:] == ["limits", "warnings"]


def test_no_samples_no_limits(tmp_path):
    root = tmp_path / "claude"
    write_session(root, "-home-dev-proj", "aaaa", [assistant("aaaa", "m1", "r1")])
    for store in (("--store", str(tmp_path / "s.sqlite3")), ("--no-store",)):
        result = run_cctop("--once", "--json", "--claude-dir", str(root), *store, home=tmp_path)
        doc = orjson.loads(result.stdout)
        assert doc["limits"] is None and doc["sessions"][0]["limit_share"] is None


def test_the_table_says_the_figures_under_it(tmp_path):
    now = time.time()
    root = tmp_path / "claude"
    write_session(root, "-home-dev-proj", "aaaa", [assistant("aaaa", "m1", "r1", ts=fmt.iso(now - 100))])
    store = tmp_path / "s.sqlite3"
    where = ("--claude-dir", str(root), "--store", str(store))
    plain = run_cctop("--once", *where, home=tmp_path, columns=200)
    assert plain.returncode == 0 and b"limits" not in plain.stdout
    sample = LimitSample(now - 50, "aaaa", WindowSample(47, now + 3600), WindowSample(14, now + 3 * 86400))
    assert stored.record(store, sample) == stored.ADDED
    shown = run_cctop("--once", *where, home=tmp_path, columns=200).stdout.decode()
    assert re.search(r"limits \(official, statusline, \d+s ago\): 5h 47%, resets in 59:\d\d", shown)
    assert "· wk 14%, resets in 2d" in shown
