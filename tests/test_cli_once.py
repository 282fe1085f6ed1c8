"""``cctop --once`` end to end: real process, real files, the documented JSON schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import REAL_CC, REAL_CC_COSTS, assistant, spotter_tree, user_prompt, write_session

from cctop.cli import parse_since

SESSION_KEYS = {
    "id", "project", "cwd", "git_branch", "title", "models", "first_ts", "last_ts", "requests",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "cache_creation_5m_tokens", "cache_creation_1h_tokens", "web_search_requests", "cache_hit_rate",
    "cost_usd", "tool_calls", "tool_errors", "tools", "subagents", "context_tokens", "context_window",
}  # fmt: skip


def run_cctop(*args: str, home: Path | None = None, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    if home is not None:  # isolate from the developer's own ~/.claude
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".data"))
        env.pop("CLAUDE_CONFIG_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "cctop", *args], capture_output=True, env=env, timeout=120, check=False
    )


def once_json(*args: str, home: Path | None = None) -> dict:
    result = run_cctop("--once", "--json", "--no-store", *args, home=home)
    assert result.returncode == 0, result.stderr.decode()
    return orjson.loads(result.stdout)


def test_json_document_schema_and_ground_truth():
    doc = once_json("--claude-dir", str(REAL_CC))
    assert set(doc) >= {"generated_at", "sessions", "totals", "warnings"}
    by_id = {s["id"]: s for s in doc["sessions"]}
    for session in doc["sessions"]:
        assert set(session) >= SESSION_KEYS, SESSION_KEYS - set(session)
        total = session["input_tokens"] + session["cache_read_tokens"] + session["cache_creation_tokens"]
        assert session["cache_hit_rate"] == pytest.approx(session["cache_read_tokens"] / total)
    for session_id, cost in REAL_CC_COSTS.items():
        assert by_id[session_id]["cost_usd"] == pytest.approx(cost, abs=1e-6)
        assert by_id[session_id]["tools"]["Bash"]["calls"] >= 1
    # Most recent first, and totals add up.
    last = [s["last_ts"] for s in doc["sessions"]]
    assert last == sorted(last, reverse=True)
    assert doc["totals"]["requests"] == sum(s["requests"] for s in doc["sessions"])
    assert doc["totals"]["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in doc["sessions"]))


def test_the_script_ends_a_one_shot_report_without_teardown_and_with_all_its_output(tmp_path):
    # The interpreter's teardown (atexit handlers, freeing every object) is skipped.
    script = (
        "import atexit, sys; atexit.register(lambda: print('teardown', file=sys.stderr)); "
        "from cctop.entry import main; sys.exit(main())"
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config"), "COLUMNS": "80"}
    for args in (["--json"], []):
        args = ["--once", *args, "--no-store", "--claude-dir", str(REAL_CC)]
        ended = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, env=env, timeout=120, check=False
        )
        usual = run_cctop(*args, home=tmp_path)
        assert ended.returncode == usual.returncode == 0, ended.stderr.decode()
        assert b"teardown" not in ended.stderr
        assert len(ended.stdout) > 300
        assert _without_generated_at(ended.stdout) == _without_generated_at(usual.stdout)


def _without_generated_at(output: bytes) -> list[bytes]:
    return [line for line in output.splitlines() if b'"generated_at"' not in line]


def test_filters(tmp_path):
    root = spotter_tree(tmp_path)
    write_session(root, "-home-dev-other", "abc-1", [assistant("abc-1", "m", "r", ts="2026-11-25T10:00:00Z")])
    assert {s["id"] for s in once_json("--claude-dir", str(root), "--session", "abc")["sessions"]} == {
        "abc-1"
    }
    assert "abc-1" not in {
        s["id"] for s in once_json("--claude-dir", str(root), "--project", "spot")["sessions"]
    }
    recent = once_json("--claude-dir", str(root), "--since", "2026-11-01")["sessions"]
    assert [s["id"] for s in recent] == ["abc-1"]


def test_no_transcripts_says_where_it_looked(tmp_path):
    result = run_cctop("--once", "--no-store", home=tmp_path)
    assert result.returncode == 0
    message = result.stderr.decode()
    assert "No Claude Code transcripts found" in message
    assert str(tmp_path / ".claude" / "projects") in message
    assert "--claude-dir" in message
    doc = once_json(home=tmp_path)
    assert doc["sessions"] == [] and any("No Claude Code transcripts" in w for w in doc["warnings"])


def test_claude_config_dir_entries_are_merged(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_session(a, "p", "s-a", [assistant("s-a", "m1", "r1")])
    write_session(b, "p", "s-b", [assistant("s-b", "m2", "r2")])
    env_home = tmp_path / "home"
    env_home.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "cctop", "--once", "--json", "--no-store"],
        env={**os.environ, "HOME": str(env_home), "CLAUDE_CONFIG_DIR": f"{a},{b / 'projects'}"},
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    assert {s["id"] for s in orjson.loads(result.stdout)["sessions"]} == {"s-a", "s-b"}


def test_table_shows_log_text_literally(tmp_path):
    evil = "[bold red]pwn[/] [link=http://x]y[/link] \x1b[31mred\x1b[0m \x07"
    write_session(tmp_path, "p", "s-1", [user_prompt("s-1", evil), assistant("s-1", "m", "r")])
    result = run_cctop("--once", "--no-store", "--claude-dir", str(tmp_path), home=tmp_path, columns=250)
    out = result.stdout.decode()
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout
    assert "[bold red]pwn[/] [link=http://x]y[/link] \\x1b[31mred" in out


def test_json_output_never_contains_raw_control_bytes(tmp_path):
    write_session(tmp_path, "p", "s-1", [user_prompt("s-1", "a\x1b[2Jb"), assistant("s-1", "m", "r")])
    result = run_cctop("--once", "--json", "--no-store", "--claude-dir", str(tmp_path), home=tmp_path)
    assert b"\x1b" not in result.stdout  # JSON escapes it as \u001b
    assert orjson.loads(result.stdout)["sessions"][0]["title"] == "a\x1b[2Jb"


@pytest.mark.parametrize(
    "text",
    ["plain ascii", "tab\tnewline\n", "del\x7f", "c1\x85\x9b", "zero\u200bwidth", "rtl\u202eltr",
     "iso\u2066x\u2069", "sep\u2028\u2029", "é ü 漢字 🙂", "\u2070\u2030 nearby but safe", ""],
)  # fmt: skip
def test_json_safe_escapes_what_safe_text_neutralises_and_nothing_else(text):
    from cctop.format import _JSON_UNSAFE, json_safe

    data = orjson.dumps({"t": text, "n": [1.5, None]})
    safe = json_safe(data)
    assert orjson.loads(safe) == orjson.loads(data)
    assert _JSON_UNSAFE.search(safe) is None and b"\x1b" not in safe
    assert (safe == data) == (_JSON_UNSAFE.search(data) is None)


@pytest.mark.parametrize(
    ("text", "seconds_ago"), [("30m", 1800), ("2h", 7200), ("7d", 7 * 86400), ("1w", 7 * 86400)]
)
def test_parse_since_durations(text, seconds_ago):
    assert parse_since(text, now=1_000_000.0) == 1_000_000.0 - seconds_ago


def test_parse_since_rejects_nonsense():
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_since("yesterday-ish")


def test_warnings_and_paths_on_stderr_never_carry_control_codes(tmp_path):
    evil = tmp_path / "proj\x1b[2Jects"
    path = write_session(evil, "p", "s-1", [assistant("s-1", "m", "r")])
    with path.open("ab") as handle:
        handle.write(b'{"type":"assistant", broken\n')
    result = run_cctop("--once", "--no-store", "--claude-dir", str(evil), home=tmp_path, columns=250)
    assert result.returncode == 0
    assert b"\x1b" not in result.stdout + result.stderr
    assert "malformed" in result.stderr.decode() and "\\x1b[2J" in result.stderr.decode()
    gone = tmp_path / "gone\x1b]0;x\x07"
    missing = run_cctop("--once", "--no-store", "--claude-dir", str(gone), home=tmp_path)
    assert b"\x1b" not in missing.stderr and b"\x07" not in missing.stderr
    assert "No Claude Code transcripts found" in missing.stderr.decode()


@pytest.mark.parametrize("columns", [60, 44])
def test_the_table_fits_a_narrow_pane_by_leaving_lesser_figures_out(columns):
    result = run_cctop("--once", "--no-store", "--claude-dir", str(REAL_CC), columns=columns)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    header = lines[1].split()
    assert header[:3] == ["last", "project", "req"] and {"hit", "cost"} <= set(header)
    assert "input" not in header  # the first to go
    for line in lines[1:]:
        if not line.startswith("*"):  # the caption under the table wraps as text
            assert len(line) <= columns, line
