"""cctop's first use: a 160-column terminal split in two, the real ``claude`` on the left and
``cctop --session latest`` in an 80-column pane on the right. A first session, then a second
one started later: cctop must switch to the second within 2 s of its first line, and show the
cost Claude Code itself reports for it."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from .fake_api import FakeAnthropicApi, Script, Text, ToolCall, Turn, Usage
from .harness import REPO, ClaudeHome
from .tmux import Tmux

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WIDTH, HEIGHT, PANE = 160, 40, 80
SWITCH_S = 2.0

SCRIPTS = {
    "first": Script([
        Turn([Text("Looking."), ToolCall("Bash", {"command": "echo one", "description": "say one"})],
             Usage(input_tokens=12, output_tokens=40, cache_5m=3000, cache_1h=9000)),
        Turn([Text("Done.")], Usage(input_tokens=3, output_tokens=11, cache_read=12000)),
    ]),
    "second": Script([
        Turn([Text("On it."), ToolCall("Bash", {"command": "echo two", "description": "say two"})],
             Usage(input_tokens=30, output_tokens=95, cache_5m=14000, cache_1h=21000)),
        Turn([Text("Finished.")], Usage(input_tokens=4, output_tokens=25, cache_read=35000, cache_5m=600)),
    ]),
}  # fmt: skip


def _claude_run(tmux: Tmux, home: ClaudeHome, script: str, out: Path) -> None:
    command = [home.claude, "-p", f"<<e2e:{script}>> please", "--output-format", "json",
               "--allowedTools", "Bash", "--model", "claude-opus-4-8"]  # fmt: skip
    home.workdir.mkdir(parents=True, exist_ok=True)
    tmux.type_in(tmux.left, tmux.script(command, home.env(), home.workdir, output=out))


def _wait_for_file(path: Path, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # still being written
        time.sleep(0.1)
    raise AssertionError(f"claude wrote no result to {path} in {timeout} s")


def _first_call_of_new_session(projects: Path, known: set[Path], timeout: float) -> tuple[Path, float]:
    """The new transcript, and the moment its first response line was on disk."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in projects.glob("*/*.jsonl"):
            if path not in known and b'"usage"' in path.read_bytes():
                return path, time.monotonic()
        time.sleep(0.02)
    raise AssertionError("the second session never wrote a response")


def _summary_cost(screen: str) -> str | None:
    match = re.search(r"cost (\$[0-9.,]+)", screen)
    return match.group(1) if match else None


def test_split_pane_follows_the_newest_session_with_claude_codes_cost(claude_bin: str, tmp_path: Path):
    tmux = Tmux(tmp_path, WIDTH, HEIGHT)
    try:
        with FakeAnthropicApi(SCRIPTS) as api:
            home = ClaudeHome(claude_bin, tmp_path / "home", api.base_url)
            projects = home.config_dir / "projects"
            projects.mkdir(parents=True)
            cctop_home = tmp_path / "cctop-home"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP", "TMUX"))}
            env.update(HOME=str(cctop_home), XDG_CONFIG_HOME=str(cctop_home / ".config"),
                       XDG_DATA_HOME=str(cctop_home / ".local"), TERM="xterm-256color")  # fmt: skip
            cctop = [sys.executable, "-m", "cctop", "--session", "latest", "--no-store",
                     "--claude-dir", str(home.config_dir)]  # fmt: skip
            right = tmux.split_right(PANE, tmux.script(cctop, env, REPO))
            assert tmux.pane_width(right) == PANE
            assert tmux.wait_for(right, lambda s: "files" in s, 20), tmux.capture(right)

            _claude_run(tmux, home, "first", tmp_path / "first.json")
            first = _wait_for_file(tmp_path / "first.json", 120)
            first_id = first["session_id"][:8]
            shown = tmux.wait_for(right, lambda s: first_id in s, 10)
            assert shown, f"first session not shown:\n{tmux.capture(right)}"
            known = set(projects.glob("*/*.jsonl"))

            _claude_run(tmux, home, "second", tmp_path / "second.json")
            _path, written = _first_call_of_new_session(projects, known, 120)
            second_path_id = _path.stem[:8]
            switched = tmux.wait_for(right, lambda s: second_path_id in s, 10, step=0.02)
            took = time.monotonic() - written
            screen = tmux.capture(right)
            assert switched, f"cctop never switched to {second_path_id}:\n{screen}"
            assert took <= SWITCH_S, f"switched after {took:.2f} s"
            second = _wait_for_file(tmp_path / "second.json", 120)
            assert second["session_id"][:8] == second_path_id
            own = f"${second['total_cost_usd']:.2f}"
            agrees = tmux.wait_for(right, lambda s: _summary_cost(s) == own, 5)
            screen = tmux.capture(right)
            assert agrees, f"cctop shows {_summary_cost(screen)}, Claude Code says {own}:\n{screen}"
            print(f"switched {took:.2f} s after the first line; cost {own}\n{screen}")
            assert "following" in screen
            assert all(len(line) <= PANE for line in screen.splitlines())
    finally:
        tmux.close()
