"""``cctop --once --requests``: one row per deduplicated call, in a real process over real
transcripts, checked against ``--once --json`` for the same selection."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import REAL_CC, SPOTTER, assistant, write_session

from cctop import format as fmt
from cctop.model.records import ApiCall, Source
from cctop.report.requests import COLUMNS
from cctop.store.telemetry import OtlpArchive

ODD = "0dd00000-0000-4000-8000-000000000001"
ODD_CWD = '/home/dev/a,b "q"\x1b[2J'  # project name with a comma, quotes and an escape sequence
PLAIN_UNKNOWN = 'acme,"quoted" model'  # no price: its cost cell stays empty
CONTROL_MODEL = "evil\x1b[31mred\x07\x9b2J\u202e"  # C0, C1 and a bidi override
TEL = "7e100000-0000-4000-8000-000000000002"
INT_FIELDS = [c for c in COLUMNS if c.endswith(("_tokens", "_requests"))]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The real 2.1.197 and spotter transcripts plus a session with awkward values, in one
    config dir the tests may append to."""
    root = tmp_path / "claude"
    shutil.copytree(REAL_CC / "projects", root / "projects")
    shutil.copytree(SPOTTER, root / "projects" / "-home-marco-spotter", ignore=shutil.ignore_patterns("*.md"))
    lines = [
        assistant(ODD, "msg_odd1", "req_odd1", ts="2026-11-23T08:00:00.000Z", model=PLAIN_UNKNOWN,
                  cwd=ODD_CWD),
        assistant(ODD, "msg_mid", "req_mid", ts="2026-11-23T08:00:01.000Z", output_tokens=3,
                  stop_reason=None, cwd=ODD_CWD),
        assistant(ODD, "msg_odd2", "req_odd2", ts="2026-11-23T08:00:02.000Z", model=CONTROL_MODEL,
                  cache_write=900, write_1h=600, cwd=ODD_CWD),
    ]  # fmt: skip
    write_session(root, "-home-dev-odd", ODD, lines)
    return root


def run_cctop(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".data")}  # fmt: skip
    env.pop("CLAUDE_CONFIG_DIR", None)
    result = subprocess.run(
        [sys.executable, "-m", "cctop", *args], capture_output=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result


def requests_csv(root: Path, *args: str, home: Path) -> tuple[list[dict], bytes]:
    out = run_cctop("--once", "--requests", "--claude-dir", str(root), *args, home=home).stdout
    reader = csv.reader(io.StringIO(out.decode("utf-8"), newline=""))
    header, *rows = list(reader)
    assert tuple(header) == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows], out


def requests_jsonl(root: Path, *args: str, home: Path) -> tuple[list[dict], bytes]:
    out = run_cctop("--once", "--requests", "--json", "--claude-dir", str(root), *args, home=home).stdout
    return [orjson.loads(line) for line in out.splitlines()], out


def once_json(root: Path, *args: str, home: Path) -> dict:
    out = run_cctop("--once", "--json", "--claude-dir", str(root), *args, home=home).stdout
    return orjson.loads(out)


def no_raw_controls(out: bytes) -> bool:
    return fmt.safe_text(out.decode("utf-8").replace("\r\n", "").replace("\n", "")) == out.decode(
        "utf-8"
    ).replace("\r\n", "").replace("\n", "")


def test_csv_adds_up_to_once_totals(tree, tmp_path):
    rows, out = requests_csv(tree, "--no-store", home=tmp_path)
    doc = once_json(tree, "--no-store", home=tmp_path)
    totals = doc["totals"]
    assert len(rows) == totals["requests"] > 10
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "web_search_requests"):
        assert sum(int(r[field]) for r in rows) == totals[field], field
    writes = sum(int(r["cache_write_5m_tokens"]) + int(r["cache_write_1h_tokens"]) for r in rows)
    assert writes == totals["cache_creation_tokens"]
    priced = [float(r["cost_usd"]) for r in rows if r["cost_usd"]]
    assert sum(priced) == pytest.approx(totals["cost_usd_priced"], abs=1e-8)
    assert len(rows) - len(priced) == totals["unpriced_requests"] == 2
    # Per session too: each row lands in the session --once counts it in.
    for session in doc["sessions"]:
        mine = [r for r in rows if r["session_id"] == session["id"]]
        assert len(mine) == session["requests"], session["id"]
        assert {r["project"] for r in mine} == {fmt.safe_text(session["project"])}
        assert sum(int(r["cache_write_1h_tokens"]) for r in mine) == session["cache_creation_1h_tokens"]
        lower = any(r["output_is_lower_bound"] == "true" for r in mine)
        assert lower == session["output_tokens_is_lower_bound"], session["id"]
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
    assert out.count(b"\r\n") == len(rows) + 1  # RFC 4180 line ends
    assert no_raw_controls(out)


def test_values_from_logs_round_trip(tree, tmp_path):
    rows, _ = requests_csv(tree, "--no-store", home=tmp_path)
    by_message = {r["message_id"]: r for r in rows}
    unknown = by_message["msg_odd1"]
    assert unknown["model"] == PLAIN_UNKNOWN  # comma and quotes survive CSV quoting
    assert unknown["cost_usd"] == "" and unknown["request_id"] == "req_odd1"
    assert unknown["project"] == fmt.safe_text('a,b "q"\x1b[2J') == 'a,b "q"\\x1b[2J'
    control = by_message["msg_odd2"]
    assert control["model"] == "evil\\x1b[31mred\\x07\\x9b2J\\x202e" and control["cost_usd"] == ""
    assert (control["cache_write_5m_tokens"], control["cache_write_1h_tokens"]) == ("300", "600")
    assert by_message["msg_mid"]["output_is_lower_bound"] == "true"
    assert by_message["msg_mid"]["cost_usd"] not in ("", "0")
    assert by_message["msg_odd1"]["output_is_lower_bound"] == by_message["msg_odd2"]["output_is_lower_bound"]
    assert by_message["msg_odd1"]["output_is_lower_bound"] == "false"
    assert {r["agent"] for r in rows} > {""}  # subagent calls say their agent, the main chain nothing
    assert {r["sources"] for r in rows} == {"transcript"}


def test_json_lines_carry_the_csv_content(tree, tmp_path):
    rows, _ = requests_csv(tree, "--no-store", home=tmp_path)
    objs, out = requests_jsonl(tree, "--no-store", home=tmp_path)
    assert len(objs) == len(rows) and all(tuple(o) == COLUMNS for o in objs)
    by_message = {o["message_id"]: o for o in objs}
    assert by_message["msg_odd2"]["model"] == CONTROL_MODEL  # literal in JSON, escaped on the wire
    assert by_message["msg_odd1"]["project"] == 'a,b "q"\x1b[2J'
    assert by_message["msg_odd1"]["cost_usd"] is None and by_message["msg_mid"]["output_is_lower_bound"]
    assert no_raw_controls(out)
    for obj, row in zip(objs, rows, strict=True):
        for name in COLUMNS:
            value = obj[name]
            if value is None:
                assert row[name] == "", name
            elif isinstance(value, bool):
                assert row[name] == ("true" if value else "false"), name
            elif isinstance(value, float):
                assert float(row[name]) == value, name
            else:
                assert row[name] == fmt.safe_text(value), name


def test_since_keeps_calls_from_then_on(tree, tmp_path):
    rows, _ = requests_csv(tree, "--no-store", home=tmp_path)
    cutoff = rows[len(rows) // 2]["timestamp"]
    later, _ = requests_csv(tree, "--no-store", "--since", cutoff, home=tmp_path)
    assert later == [r for r in rows if r["timestamp"] >= cutoff]
    assert 0 < len(later) < len(rows)
    odd, _ = requests_csv(tree, "--no-store", "--project", "a,b", home=tmp_path)
    assert {r["session_id"] for r in odd} == {ODD} and len(odd) == 3
    assert requests_csv(tree, "--no-store", "--session", ODD[:8], home=tmp_path)[0] == odd


def test_store_and_no_store_write_the_same(tree, tmp_path):
    store = str(tmp_path / "store.sqlite3")
    _, fresh = requests_csv(tree, "--no-store", home=tmp_path)
    _, cold = requests_csv(tree, "--store", store, home=tmp_path)
    _, warm = requests_csv(tree, "--store", store, home=tmp_path)
    assert cold == warm == fresh
    # An appended call: stored records plus the new bytes, then a warm --once in between.
    transcript = tree / "projects" / "-home-dev-odd" / f"{ODD}.jsonl"
    new = assistant(ODD, "msg_new", "req_new", ts="2026-11-24T00:00:00.000Z")
    with transcript.open("ab") as handle:
        handle.write(orjson.dumps(new) + b"\n")
    _, fresh = requests_csv(tree, "--no-store", home=tmp_path)
    _, appended = requests_csv(tree, "--store", store, home=tmp_path)
    once_json(tree, "--store", store, home=tmp_path)
    _, again = requests_csv(tree, "--store", store, home=tmp_path)
    assert appended == again == fresh and b"req_new" in fresh
    jsonl_store = requests_jsonl(tree, "--store", store, home=tmp_path)[1]
    assert jsonl_store == requests_jsonl(tree, "--no-store", home=tmp_path)[1]


def test_kept_telemetry_joins_call_by_call(tmp_path):
    root = tmp_path / "claude"
    write_session(root, "-home-dev-tel", TEL, [assistant(TEL, "msg_t1", "req_t1", output_tokens=40)])
    store = tmp_path / "store.sqlite3"
    requests_csv(root, "--store", str(store), home=tmp_path)  # creates the store
    archive = OtlpArchive(store)
    telemetry = dict(session_id=TEL, agent_id=None, model="claude-opus-4-8", message_id=None,
                     source=Source.OTLP, timestamp=1795000000.0, input_tokens=5,
                     output_tokens=40)  # fmt: skip
    archive.append([ApiCall(request_id="req_t1", reported_cost_usd=0.5, **telemetry)])
    archive.append([ApiCall(request_id="req_t2", reported_cost_usd=0.25, **telemetry)])
    archive.close()
    rows, _ = requests_csv(root, "--store", str(store), home=tmp_path)
    by_request = {r["request_id"]: r for r in rows}
    assert by_request["req_t1"]["sources"] == "both" and by_request["req_t1"]["reported_cost_usd"] == "0.5"
    assert by_request["req_t1"]["message_id"] == "msg_t1"
    assert by_request["req_t2"]["sources"] == "otlp" and by_request["req_t2"]["message_id"] == ""
    assert float(by_request["req_t2"]["reported_cost_usd"]) == 0.25
    totals = once_json(root, "--store", str(store), home=tmp_path)["totals"]
    assert len(rows) == totals["requests"] == 2
    assert sum(float(r["cost_usd"]) for r in rows) == pytest.approx(totals["cost_usd_priced"], abs=1e-8)
    assert sum(int(r["output_tokens"]) for r in rows) == totals["output_tokens"]


def test_requests_needs_once(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cctop", "--requests"], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert b"--requests goes with --once" in result.stderr
    assert b"--requests" in run_cctop("--help", home=tmp_path).stdout


def test_no_transcripts_gives_the_header_and_says_why(tmp_path):
    result = run_cctop("--once", "--requests", "--no-store", home=tmp_path)
    assert result.stdout.decode() == ",".join(COLUMNS) + "\r\n"
    assert b"No Claude Code transcripts found" in result.stderr
    assert run_cctop("--once", "--requests", "--json", "--no-store", home=tmp_path).stdout == b""
