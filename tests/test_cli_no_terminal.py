"""``cctop`` with no terminal to draw on (a pipe, a file, TERM=dumb) prints the ``--once``
table once and exits 0, saying so in one stderr line (``top -b`` style)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

PROJECTS = Path(__file__).resolve().parent / "samples" / "claude-code-2.1.197" / "projects"


def run_cctop(tmp_path: Path, *args: str, env: dict[str, str] | None = None, stdout=subprocess.PIPE):
    base = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    base.pop("CLAUDE_CONFIG_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "cctop", "--claude-dir", str(PROJECTS), "--no-store", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**base, **(env or {})},
        timeout=60,
    )


def test_stdout_to_a_pipe_prints_the_table_once_and_exits_0(tmp_path):
    done = run_cctop(tmp_path)
    assert done.returncode == 0
    out = done.stdout.decode()
    assert "proj1" in out and "$0.31" in out and "\x1b" not in out  # the table, no escape codes
    assert done.stderr.decode().splitlines() == [
        "cctop: stdout is not a terminal: printing the --once table instead of the live view"
    ]


def test_session_latest_to_a_file_still_lists_the_sessions(tmp_path):
    with open(tmp_path / "out.txt", "wb") as out:
        done = run_cctop(tmp_path, "--session", "latest", stdout=out)
    assert done.returncode == 0
    assert "proj1" in (tmp_path / "out.txt").read_text()


def test_term_dumb_on_a_real_terminal_prints_the_table(tmp_path):
    leader, follower = pty.openpty()
    try:
        done = run_cctop(tmp_path, env={"TERM": "dumb"}, stdout=follower)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the writer is gone and everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    assert "TERM=dumb" in done.stderr.decode()
    assert b"proj1" in b"".join(chunks)


def test_the_live_view_starts_with_the_cycle_collector_on(monkeypatch):
    # The script loads its modules with it off (entry.py); a long-lived process needs it.
    import gc

    from cctop import cli, launch

    seen = []
    monkeypatch.setattr(cli, "_no_terminal", lambda: None)
    monkeypatch.setattr(launch, "run_tui", lambda args: seen.append(gc.isenabled()) or 0)
    was = gc.isenabled()
    gc.disable()
    try:
        assert cli.main(["--no-store"]) == 0
    finally:
        if was:
            gc.enable()
    assert seen == [True]
