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


def test_the_live_view_turns_the_cycle_collector_on_once_the_history_is_in(monkeypatch, tmp_path):
    """The script loads its modules with the collector off (entry.py). The live view keeps it
    off while the history loads (every full pass over the growing ledger froze the UI, up to
    0.2 s on 1 GB) and the tailer turns it on, the history frozen, once it is in: a
    long-lived process needs it."""
    import contextlib
    import gc

    from helpers import eventually

    from cctop import cli, launch

    seen: list[bool] = []

    def live_view(args) -> int:  # run_tui without drawing: its sources, then the wait
        seen.append(gc.isenabled())
        with contextlib.ExitStack() as stack:
            app = launch.tui_app(args, stack)
            assert eventually(lambda: not app.backfilling() and gc.isenabled(), timeout=30)
            seen.append(gc.isenabled())
        return 0

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(cli, "_no_terminal", lambda: None)
    monkeypatch.setattr(launch, "run_tui", live_view)
    was, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.disable()
    try:
        assert cli.main(["--no-store", "--claude-dir", str(PROJECTS)]) == 0
        assert gc.get_freeze_count() > frozen  # the history's objects left the collector's care
    finally:
        gc.unfreeze()
        if was:
            gc.enable()
        else:
            gc.disable()
    assert seen == [False, True]
