"""When stdout can take no more: a reader that goes away (``cctop --once --json | head``) ends
cctop quietly, whichever output path wrote (the spliced documents of workers or a store, or one
document built here); a full disk under the output is one clear line. Never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
PROJECTS = SAMPLES / "claude-code-2.1.332" / "claude" / "projects"


def run_into_a_closed_pipe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """cctop with its stdout a pipe whose reader is gone before it writes a byte."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("CLAUDE_CONFIG_DIR", None)
    try:
        return subprocess.run(
            [sys.executable, "-m", "cctop", "--claude-dir", str(PROJECTS), *args],
            stdout=write, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--once", "--json", "--no-store"], 0),
        (["--once", "--json", "--store", "{tmp}/s.sqlite3"], 0),  # the saved documents, spliced in
        (["--once", "--requests", "--no-store"], 0),
        # Rich's own way with a broken pipe: stdout to /dev/null, then exit 1
        (["--once", "--no-store"], 1),
    ],
    ids=["json", "json-store", "requests", "table"],
)
def test_a_reader_that_went_away_ends_cctop_quietly(tmp_path, args, code):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert PROJECTS.is_dir()
    for _ in range(2 if "--store" in args else 1):  # the second run answers from the store
        done = run_into_a_closed_pipe(tmp_path, *args)
        stderr = done.stderr.decode()
        assert done.returncode == code, stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [["--once", "--json"], ["--once"], ["--once", "--requests"], ["report", "daily"]],
    ids=["json", "table", "requests", "report"],
)
def test_a_full_disk_under_the_output_is_one_line(tmp_path, args):
    """``cctop --once --json > file`` with no room left: one clear line and exit 1."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("CLAUDE_CONFIG_DIR", None)
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "cctop", *args, "--no-store", "--claude-dir", str(PROJECTS)],
            stdout=full, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == ["cctop: cannot write the output: No space left on device"]
