"""Subscription limits end to end: the real, latest Claude Code run interactively in tmux as a
subscriber (a fake OAuth token, no API key) against the fake API, which sends the
``anthropic-ratelimit-unified-*`` headers; ``cctop statusline --install`` chains the user's
previous status line command. Checked: the 5-hour / weekly figures recorded in the store, the
chained output still in Claude Code's status line (an 80-column pane: the line fits, uncut), a
running cctop showing each new figure within 2 s of the statusline call, and ``--once --json``
attributing the rise to the session.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cctop.sources.live_sessions import WAITING, scan, sessions_dirs
from cctop.store import samples as stored

from .fake_api import FakeAnthropicApi, Script, Text, Turn, Usage, ratelimit_headers
from .harness import REPO, ClaudeHome, cctop_once, find_or_install_claude

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


PREVIOUS = "printf 'PREV-STATUS'"  # the user's own status line command before cctop's


class Tmux:
    """A private tmux server: programs in their own sessions, screens read with capture-pane."""

    def __init__(self, root: Path) -> None:
        self.socket = str(root / "tmux.sock")

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"tmux {args[0]}: {done.stderr}"
        return done.stdout

    def start(self, name: str, script: Path, cwd: Path, width: int = 200) -> None:
        self("new-session", "-d", "-s", name, "-x", str(width), "-y", "50", "-c", str(cwd), f"sh {script}")

    def type(self, name: str, text: str) -> None:
        self("send-keys", "-t", f"={name}:", "-l", text)
        self("send-keys", "-t", f"={name}:", "Enter")

    def screen(self, name: str) -> str:
        return self("capture-pane", "-p", "-t", f"={name}:")  # exact: "top" alone means a pane

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=30)


def wait_until(what: str, check: Callable[[], object], timeout: float, tmux: Tmux, pane: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; {pane} shows:\n{tmux.screen(pane)}")


def script(path: Path, env: dict[str, str], command: list[str]) -> Path:
    lines = ["#!/bin/sh"] + [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    path.write_text("\n".join([*lines, "exec " + shlex.join(command), ""]))
    return path


def limit_samples(store: Path) -> list:
    if not store.exists():
        return []
    return [s for s in stored.load(store)[0] if s.five_hour is not None]


def recorded(store: Path, before: int, used: float) -> Callable[[], list]:
    return lambda: [s for s in limit_samples(store)[before:] if s.five_hour.used_percentage == used]


def showing(tmux: Tmux, pane: str, needle: str) -> Callable[[], str | None]:
    def check() -> str | None:
        screen = tmux.screen(pane)
        return screen if needle in screen else None

    return check


def test_statusline_records_official_limits_from_the_real_cli(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    claude = find_or_install_claude()  # the pinned, latest CLI
    now = time.time()
    reset_5h, reset_7d = now + 3 * 3600, now + 4 * 86400
    turn = Turn([Text("Hello from the fake API.")], Usage(input_tokens=20, output_tokens=10, cache_5m=4000))
    api = FakeAnthropicApi({"limits": Script([turn])})
    api.response_headers = ratelimit_headers(0.42, reset_5h, 0.13, reset_7d)
    store = tmp_path / "cctop.sqlite3"
    tmux = Tmux(tmp_path)
    with api:
        home = ClaudeHome(claude, tmp_path, api.base_url)
        config, workdir = home.config_dir, home.workdir
        config.mkdir(parents=True)
        workdir.mkdir(parents=True)
        # A seeded config skips onboarding and the trust dialog (no network check at start).
        (config / ".claude.json").write_text(json.dumps({
            "hasCompletedOnboarding": True, "theme": "dark",
            "projects": {str(workdir): {"hasTrustDialogAccepted": True}},
        }))  # fmt: skip
        (config / "settings.json").write_text(
            json.dumps({"statusLine": {"type": "command", "command": PREVIOUS}})
        )
        env = home.env({"CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-fake", "TERM": "xterm-256color"})
        env.pop("ANTHROPIC_API_KEY")  # a subscriber: only then does Claude Code pass rate_limits on
        installed = subprocess.run(
            [sys.executable, "-m", "cctop", "statusline", "--install", "--store", str(store)],
            capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr
        assert f"was: {PREVIOUS}" in installed.stdout
        command = json.loads((config / "settings.json").read_text())["statusLine"]["command"]
        assert "--chain" in command and "statusline" in command

        top_env = {k: v for k, v in env.items() if not k.startswith(("CLAUDE", "ANTHROPIC"))}
        top_env["XDG_DATA_HOME"] = str(tmp_path / "data")
        top_command = [sys.executable, "-m", "cctop", "--store", str(store), "--claude-dir", str(config)]
        top = script(tmp_path / "top.sh", top_env, top_command)
        cc = script(tmp_path / "claude.sh", env, [claude])
        try:
            tmux.start("monitor", top, REPO)
            wait_until(
                "cctop's limits line",
                lambda: "limits: no data" in tmux.screen("monitor"),
                60,
                tmux,
                "monitor",
            )
            tmux.start("claude", cc, workdir, width=80)  # the pane beside cctop
            # Claude Code runs the status line at start too (no rate_limits before a response).
            wait_until(
                "the chained status line", lambda: "PREV-STATUS" in tmux.screen("claude"), 60, tmux, "claude"
            )

            for used_5h, used_7d in ((42, 13), (47, 14)):
                api.response_headers = ratelimit_headers(used_5h / 100, reset_5h, used_7d / 100, reset_7d)
                before = len(limit_samples(store))
                tmux.type("claude", f"<<e2e:limits>> hello {used_5h}")
                samples = wait_until(
                    f"a recorded sample at {used_5h}%", recorded(store, before, used_5h), 90, tmux, "claude"
                )
                sample = samples[0]
                assert sample.seven_day.used_percentage == used_7d
                assert sample.five_hour.resets_at == int(reset_5h) and sample.seven_day.resets_at == int(
                    reset_7d
                )
                assert sample.session_id
                wait_until(
                    f"cctop showing {used_5h}%",
                    lambda u=used_5h: f"{u}%" in tmux.screen("monitor"),
                    10,
                    tmux,
                    "monitor",
                )
                shown_after = time.time() - sample.observed_at
                assert shown_after <= 2.0, (
                    f"cctop showed the figure {shown_after:.2f} s after the statusline call"
                )
                status = wait_until(
                    "cctop's line in Claude Code's status line",
                    showing(tmux, "claude", f"5h {used_5h}%"),
                    30,
                    tmux,
                    "claude",
                )
                assert "PREV-STATUS" in status and f"wk {used_7d}%" in status
                # Fitted to the 80 columns Claude Code gives it (COLUMNS): never cut off.
                row = next(r for r in status.splitlines() if "PREV-STATUS" in r)
                assert "…" not in row, row
            # Claude Code now waits for the user: its sessions/<pid>.json says so, and cctop shows it.
            live = scan(sessions_dirs([config]))
            assert live[sample.session_id].state == WAITING, live
            wait_until(
                "cctop showing the session as waiting",
                showing(tmux, "monitor", "\nwait "),
                10,
                tmux,
                "monitor",
            )
        finally:
            tmux.close()
    doc = cctop_once(config, tmp_path, store=store)
    limits = doc["limits"]
    assert limits["five_hour"]["used_percentage"] == 47 and limits["seven_day"]["used_percentage"] == 14
    assert limits["five_hour"]["source"] == "statusline"
    session = next(s for s in doc["sessions"] if s["id"] == sample.session_id)
    # The rise from 42% to 47% came with this session's second call: all of it is its share.
    assert session["limit_share"]["five_hour"] == pytest.approx(5.0)
    assert os.path.exists(store)
