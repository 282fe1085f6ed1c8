"""``cctop report``: every report against sums worked out by hand, on a history built here
that spans a month boundary (Oct -> Nov 2026) and New York's DST end (2026-11-01 02:00 EDT
-> 01:00 EST, a 25-hour day), read in two time zones (America/New_York and UTC)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from helpers import assistant, tool_result, write_session

from cctop.cli import main

A = "aaaaaaaa-0000-4000-8000-000000000001"  # project alpha, model test-big
B = "bbbbbbbb-0000-4000-8000-000000000002"  # project beta, test-small and an unknown model
NY = "America/New_York"

# $/MTok: round rates so each call's cost is easy to work out by hand.
PRICES = """
[test-big]
input = 10.0
output = 50.0
cache_write_5m = 12.5
cache_write_1h = 20.0
cache_read = 1.0

[test-small]
input = 1.0
output = 5.0
cache_write_5m = 1.25
cache_write_1h = 2.0
cache_read = 0.1
"""

# (label, session, UTC time, model, input, output, cache read, cache write)
CALLS = [
    ("c1", A, "2026-10-31T23:30:00Z", "test-big", 1000, 2000, 0, 100_000),
    ("c2", A, "2026-11-01T03:30:00Z", "test-big", 100, 1000, 100_000, 2000),
    ("c3", A, "2026-11-01T05:30:00Z", "test-big", 200, 500, 102_000, 1000),  # 01:30 EDT, a tool call
    ("c4", B, "2026-11-01T06:30:00Z", "test-small", 5000, 1000, 0, 0),  # 01:30 EST, the hour again
    ("c5", B, "2026-11-02T04:30:00Z", "test-small", 1000, 1000, 4000, 0),  # 23:30 EST, still Nov 1
    ("c6", A, "2026-11-02T05:30:00Z", "test-big", 100, 100, 0, 104_000),  # a day later: cache break
    ("c7", B, "2026-11-02T05:40:00Z", "acme-9", 10, 10, 0, 0),  # no price: cost unknown
]
# By hand from PRICES: input x in + output x out + read x cache_read + write x cache_write_5m.
COST = {
    "c1": (1000 * 10 + 2000 * 50 + 100_000 * 12.5) / 1e6,  # 1.36
    "c2": (100 * 10 + 1000 * 50 + 100_000 * 1 + 2000 * 12.5) / 1e6,  # 0.176
    "c3": (200 * 10 + 500 * 50 + 102_000 * 1 + 1000 * 12.5) / 1e6,  # 0.1415
    "c4": (5000 * 1 + 1000 * 5) / 1e6,  # 0.01
    "c5": (1000 * 1 + 1000 * 5 + 4000 * 0.1) / 1e6,  # 0.0064
    "c6": (100 * 10 + 100 * 50 + 104_000 * 12.5) / 1e6,  # 1.306
    "c7": None,
}
# Reads at the input rate minus the read rate.
SAVED = {"c2": 100_000 * 9 / 1e6, "c3": 102_000 * 9 / 1e6, "c5": 4000 * 0.9 / 1e6}
# c6 comes 24 h after c3 (5-minute cache): c3 left 103,000 tokens cached, c6 read none and
# wrote them again at the write rate instead of the read rate.
BREAK = {"c6": 103_000 * (12.5 - 1.0) / 1e6}
REPORTED = {"c4": 0.02}  # an old transcript's costUSD
TOOLS = {"c3": 1}


def _cwd(session: str) -> str:
    return "/home/dev/alpha" if session == A else "/home/dev/beta"


@pytest.fixture
def history(tmp_path: Path) -> Path:
    root = tmp_path / "claude"
    lines: dict[str, list[dict]] = {A: [], B: []}
    for label, session, ts, model, inp, out, read, write in CALLS:
        extra: dict = {"cwd": _cwd(session)}
        if label in REPORTED:
            extra["costUSD"] = REPORTED[label]
        content = None
        if label in TOOLS:
            content = [{"type": "tool_use", "id": f"tool-{label}", "name": "Bash", "input": {}}]
        lines[session].append(
            assistant(session, f"msg_{label}", f"req_{label}", ts=ts.replace("Z", ".000Z"), model=model,
                      input_tokens=inp, output_tokens=out, cache_read=read, cache_write=write,
                      content=content, **extra)
        )  # fmt: skip
        if label in TOOLS:
            lines[session].append(tool_result(session, f"tool-{label}", ts=ts.replace(":00Z", ":05.000Z")))
    write_session(root, "-home-dev-alpha", A, lines[A])
    write_session(root, "-home-dev-beta", B, lines[B])
    (tmp_path / "prices.toml").write_text(PRICES)
    return root


def run(capsys, history: Path, *args: str) -> bytes:
    """``cctop`` in this process; the common options go after the subcommand."""
    prices = history.parent / "prices.toml"
    common = ["--claude-dir", str(history), "--prices", str(prices)]
    if "--store" not in args:
        common.append("--no-store")
    assert main([*args, *common]) == 0
    return _out(capsys)


def _out(capsys) -> bytes:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.out.encode("utf-8")


def report(capsys, history: Path, *args: str) -> dict:
    doc = orjson.loads(run(capsys, history, "report", *args, "--json"))
    assert doc["schema"] == 1
    return doc


def expected(labels: list[str]) -> dict:
    """A row's figures summed by hand over the calls ``labels``."""
    calls = [c for c in CALLS if c[0] in labels]
    inp = sum(c[4] for c in calls)
    read = sum(c[6] for c in calls)
    write = sum(c[7] for c in calls)
    priced = [COST[c[0]] for c in calls if COST[c[0]] is not None]
    unpriced = len(calls) - len(priced)
    reported = [REPORTED[c[0]] for c in calls if c[0] in REPORTED]
    return {
        "requests": len(calls),
        "input_tokens": inp,
        "output_tokens": sum(c[5] for c in calls),
        "cache_read_tokens": read,
        "cache_creation_tokens": write,
        "cost_usd": None if unpriced else pytest.approx(sum(priced), abs=1e-9),
        "cost_usd_priced": pytest.approx(sum(priced), abs=1e-9),
        "unpriced_requests": unpriced,
        "reported_cost_usd": pytest.approx(sum(reported)) if reported else None,
        "cache_hit_rate": pytest.approx(read / (inp + read + write)) if inp + read + write else None,
        "saved_usd": pytest.approx(sum(SAVED.get(c[0], 0.0) for c in calls), abs=1e-9),
        "break_cost_usd": pytest.approx(sum(BREAK.get(c[0], 0.0) for c in calls), abs=1e-9),
        "sessions": len({c[1] for c in calls}),
        "tool_calls": sum(TOOLS.get(c[0], 0) for c in calls),
    }


def figures(row: dict) -> dict:
    return {k: row[k] for k in expected([])}


def check(doc: dict, rows: dict[str, list[str]]) -> None:
    assert [r["period"] for r in doc["rows"]] == list(rows)
    for row, labels in zip(doc["rows"], rows.values(), strict=True):
        assert figures(row) == expected(labels), row["period"]
    assert figures(doc["totals"]) == expected([label for labels in rows.values() for label in labels])


ALL = [c[0] for c in CALLS]


def test_daily_in_new_york_has_a_25_hour_day(capsys, history):
    doc = report(capsys, history, "daily", "--tz", NY)
    assert doc["report"] == "daily" and doc["timezone"] == NY
    check(doc, {"2026-10-31": ["c1", "c2"], "2026-11-01": ["c3", "c4", "c5"], "2026-11-02": ["c6", "c7"]})
    assert doc["rows"][2]["cost_usd"] is None  # the unknown model: not $0
    assert doc["rows"][2]["cost_usd_priced"] == pytest.approx(COST["c6"])


def test_daily_in_utc(capsys, history):
    doc = report(capsys, history, "daily", "--tz", "UTC")
    check(doc, {"2026-10-31": ["c1"], "2026-11-01": ["c2", "c3", "c4"], "2026-11-02": ["c5", "c6", "c7"]})


def test_local_zone_by_default(capsys, history, monkeypatch):
    import time

    monkeypatch.setenv("TZ", NY)
    time.tzset()
    try:
        doc = report(capsys, history, "daily")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert doc["timezone"] == NY
    assert [r["period"] for r in doc["rows"]] == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert [r["requests"] for r in doc["rows"]] == [2, 3, 2]


def test_monthly_splits_where_the_zone_says(capsys, history):
    check(report(capsys, history, "monthly", "--tz", NY), {"2026-10": ["c1", "c2"], "2026-11": ALL[2:]})
    check(report(capsys, history, "monthly", "--tz", "UTC"), {"2026-10": ["c1"], "2026-11": ALL[1:]})


def test_weekly_is_iso_weeks(capsys, history):
    # Sunday 2026-11-01 closes ISO week 44; Monday 2026-11-02 opens week 45.
    check(report(capsys, history, "weekly", "--tz", NY), {"2026-W44": ALL[:5], "2026-W45": ALL[5:]})
    check(report(capsys, history, "weekly", "--tz", "UTC"), {"2026-W44": ALL[:4], "2026-W45": ALL[4:]})


def test_blocks_are_five_hour_windows_from_the_hour(capsys, history):
    doc = report(capsys, history, "blocks", "--tz", "UTC")
    # c1 23:30 opens 23:00-04:00 (c2 03:30 inside); c3 05:30 opens 05:00-10:00 (c4 06:30);
    # c5 a day later opens 04:00-09:00 with c6 and c7.
    check(
        doc,
        {
            "2026-10-31T23:00+00:00": ["c1", "c2"],
            "2026-11-01T05:00+00:00": ["c3", "c4"],
            "2026-11-02T04:00+00:00": ["c5", "c6", "c7"],
        },
    )
    assert [(r["start"], r["end"]) for r in doc["rows"]][0] == (
        "2026-10-31T23:00:00.000Z",
        "2026-11-01T04:00:00.000Z",
    )
    assert doc["active_block"] is None  # long over
    # The same windows named in New York time, across the DST change.
    names = [r["period"] for r in report(capsys, history, "blocks", "--tz", NY)["rows"]]
    assert names == ["2026-10-31T19:00-04:00", "2026-11-01T01:00-04:00", "2026-11-01T23:00-05:00"]


def test_models_projects_sessions(capsys, history):
    check(
        report(capsys, history, "models"),
        {"test-big": ["c1", "c2", "c3", "c6"], "test-small": ["c4", "c5"], "acme-9": ["c7"]},
    )
    check(
        report(capsys, history, "projects"), {"alpha": ["c1", "c2", "c3", "c6"], "beta": ["c4", "c5", "c7"]}
    )
    doc = report(capsys, history, "sessions")
    check(doc, {A: ["c1", "c2", "c3", "c6"], B: ["c4", "c5", "c7"]})
    assert [r["project"] for r in doc["rows"]] == ["alpha", "beta"]


def test_breakdown_by_model(capsys, history):
    doc = report(capsys, history, "daily", "--tz", NY, "--breakdown", "model")
    nov2 = doc["rows"][2]
    assert [m["model"] for m in nov2["models"]] == ["test-big", "acme-9"]  # largest cost first
    assert figures(nov2["models"][0]) == expected(["c6"])
    assert figures(nov2["models"][1]) == expected(["c7"])
    assert "models" not in report(capsys, history, "daily")["rows"][0]


def test_since_and_until_in_the_zone(capsys, history):
    # --until with a date includes that whole day, in the report's zone.
    doc = report(capsys, history, "daily", "--tz", NY, "--since", "2026-11-01", "--until", "2026-11-01")
    check(doc, {"2026-11-01": ["c3", "c4", "c5"]})
    doc = report(capsys, history, "daily", "--tz", "UTC", "--since", "2026-11-01T05:00Z")
    check(doc, {"2026-11-01": ["c3", "c4"], "2026-11-02": ["c5", "c6", "c7"]})


def test_project_filter(capsys, history):
    check(
        report(capsys, history, "monthly", "--tz", "UTC", "--project", "beta"),
        {"2026-11": ["c4", "c5", "c7"]},
    )


@pytest.mark.parametrize("store", [False, True])
def test_daily_sums_equal_once_totals(capsys, history, tmp_path, store):
    """The rows add up to --once --json's totals: the same deduplicated calls."""
    extra = ["--store", str(tmp_path / "s.sqlite3")] if store else []
    once = orjson.loads(run(capsys, history, "--once", "--json", *extra))["totals"]
    doc = report(capsys, history, "daily", "--tz", NY, *extra)
    for field in ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
                  "unpriced_requests", "tool_calls"):  # fmt: skip
        assert sum(r[field] for r in doc["rows"]) == once[field] == doc["totals"][field], field
    assert sum(r["cost_usd_priced"] for r in doc["rows"]) == pytest.approx(once["cost_usd_priced"])
    assert doc["totals"]["cost_usd"] is None and once["cost_usd"] is None  # c7 is unpriced
    assert doc["totals"]["sessions"] == once["sessions"] == 2


def test_csv_carries_the_json_figures(capsys, history):
    doc = report(capsys, history, "daily", "--tz", NY, "--breakdown", "model")
    out = run(capsys, history, "report", "daily", "--tz", NY, "--breakdown", "model", "--csv")
    assert out.count(b"\r\n") == out.count(b"\n")  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(out.decode(), newline="")))
    assert list(rows[0])[:2] == ["period", "model"]
    flat = []
    for row in doc["rows"]:
        flat.append((row["period"], "", row))
        flat.extend((row["period"], m["model"], m) for m in row["models"])
    assert [(r["period"], r["model"]) for r in rows] == [(p, m) for p, m, _ in flat]
    for got, (_, _, want) in zip(rows, flat, strict=True):
        assert int(got["requests"]) == want["requests"]
        assert got["cost_usd"] == ("" if want["cost_usd"] is None else got["cost_usd"])
        if want["cost_usd"] is not None:
            assert float(got["cost_usd"]) == pytest.approx(want["cost_usd"])
        assert float(got["saved_usd"]) == pytest.approx(want["saved_usd"])


def test_table_and_options_before_the_word(capsys, history):
    prices = str(history.parent / "prices.toml")
    assert (
        main(["--no-store", "--claude-dir", str(history), "--prices", prices, "report", "weekly", "--tz", NY])
        == 0
    )
    out = _out(capsys).decode()
    lines = out.splitlines()
    assert lines[0] == f"cctop report weekly ({NY})"
    assert lines[1].split()[:3] == ["period", "req", "input"]
    assert lines[2].startswith("2026-W44") and lines[-1].startswith("total")
    assert "≥$3.00" in lines[-1]  # priced part of a total with an unknown model


def test_bad_zone_is_a_clear_error(capsys, history):
    with pytest.raises(SystemExit) as exc:
        main(["report", "daily", "--tz", "Mars/Olympus", "--no-store", "--claude-dir", str(history)])
    assert exc.value.code == 2
    assert "not a time zone" in capsys.readouterr().err


def test_saved_facts_follow_a_growing_transcript(capsys, history, tmp_path):
    """The second report answers from the facts the first one kept; a line appended since
    makes them stale, and the third report counts it."""
    import sqlite3

    store = ["--store", str(tmp_path / "s.sqlite3")]
    first = report(capsys, history, "daily", "--tz", "UTC", *store)
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM report_cache").fetchone()[0] == 1
    assert report(capsys, history, "daily", "--tz", "UTC", *store)["rows"] == first["rows"]
    path = history / "projects" / "-home-dev-beta" / f"{B}.jsonl"
    late = assistant(B, "msg_c8", "req_c8", ts="2026-11-02T06:00:00.000Z", model="test-small",
                     input_tokens=1_000_000, output_tokens=0, cwd=_cwd(B))  # fmt: skip
    with path.open("ab") as handle:
        handle.write(orjson.dumps(late) + b"\n")
    third = report(capsys, history, "daily", "--tz", "UTC", *store)
    assert third["rows"][-1]["requests"] == first["rows"][-1]["requests"] + 1
    assert third["rows"][-1]["input_tokens"] == first["rows"][-1]["input_tokens"] + 1_000_000


def test_damaged_saved_facts_are_read_again(capsys, history, tmp_path):
    import sqlite3

    store = ["--store", str(tmp_path / "s.sqlite3")]
    first = report(capsys, history, "daily", "--tz", "UTC", *store)
    short = b'{"format": 3, "calls": [[1.0], [0]], "tools": [], "breaks": [], "names": []}'
    columns = [[1.0], [5], [5], [5], [1], [1], [1], [1], [None], [None], [None]]  # names out of range
    named = orjson.dumps({"format": 3, "calls": columns, "tools": [], "breaks": [], "names": []})
    for damage in (b"\x00not json", short, named):
        with sqlite3.connect(tmp_path / "s.sqlite3") as db:
            db.execute("UPDATE report_cache SET data = ?", (damage,))
        assert report(capsys, history, "daily", "--tz", "UTC", *store)["rows"] == first["rows"]


@pytest.mark.parametrize("kind", ["weekly", "monthly"])
def test_wide_table_with_breakdown_has_the_sparkline_column(capsys, history, monkeypatch, kind):
    monkeypatch.setenv("COLUMNS", "160")  # wide enough for the daily-cost sparkline
    out = run(capsys, history, "report", kind, "--tz", NY, "--breakdown", "model").decode()
    header, *rows = out.splitlines()[1:]
    assert header.endswith("daily cost")
    sparks = [line for line in rows if line.startswith("2026-")]
    assert sparks and all(any(ch in line for ch in "▁▂▃▄▅▆▇█") for line in sparks)
    assert any(line.startswith("  test-big") for line in rows)  # the breakdown rows are there too


@pytest.mark.parametrize("columns", [80, 60, 40])
def test_a_narrow_pane_gets_whole_columns_never_a_wrapped_line(capsys, history, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    wide = run(capsys, history, "report", "daily", "--tz", NY).decode().splitlines()
    for line in wide[1:]:
        assert len(line) <= columns, line
    header = wide[1].split()
    assert header[:2] == ["period", "req"] and {"hit", "cost"} <= set(header)  # always there
    sessions = run(capsys, history, "report", "sessions", "--tz", NY).decode().splitlines()
    assert "sess" not in sessions[1].split()  # one session a row: the count says nothing
    assert all(len(line) <= columns for line in sessions[1:])
    if columns == 40:
        assert "input" not in header and "saved" not in header  # the lesser figures went first
