"""A session shows up in the running cctop TUI while the real ``claude`` is still working.

cctop runs as a user runs it (``python -m cctop``) in a pseudo-terminal; claude is started after it,
and the fake API holds claude's second answer back until the session is on screen.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from .fake_api import FakeAnthropicApi, Script, Text, ToolCall, Turn, Usage
from .harness import REPO, ClaudeHome, finish, otlp_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROWS, COLUMNS = 50, 220
# The project column shows the basename of claude's working directory.
PROJECT = "zqlive"
_CONTROL = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]"  # CSI
    rb"|\x1b[\]P_^][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, DCS, ...
    rb"|\x1b[()][0-9A-Za-z]|\x1b."
)


class Terminal:
    """A program on a pseudo-terminal, its output collected by a thread, escapes stripped."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                        start_new_session=True)
        os.close(slave)
        self._master = master
        self._raw = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if not ready:
                if self.process.poll() is not None:
                    return
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._raw += chunk

    def text(self) -> str:
        with self._lock:
            raw = bytes(self._raw)
        return _CONTROL.sub(b"", raw).decode("utf-8", errors="replace")

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def send(self, keys: bytes) -> None:
        os.write(self._master, keys)

    def close(self) -> None:
        if self.process.poll() is None:
            self.send(b"q")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._reader.join(2)
        os.close(self._master)


def test_session_appears_live_while_claude_works(claude_bin: str, tmp_path: Path) -> None:
    release = threading.Event()
    scripts = {
        "live": Script([
            Turn([Text("Working on it."), ToolCall("Bash", {"command": "echo live"})],
                 Usage(input_tokens=11, output_tokens=42, cache_5m=2000, cache_1h=3000)),
            Turn([Text("Finished.")], Usage(input_tokens=3, output_tokens=9, cache_read=5000), hold=release),
        ]),
    }
    home = ClaudeHome(claude_bin, tmp_path / "home", "")
    home.config_dir.mkdir(parents=True)
    cctop_home = tmp_path / "cctop-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP"))}
    env.update(HOME=str(cctop_home), XDG_CONFIG_HOME=str(cctop_home / ".config"),
               XDG_DATA_HOME=str(cctop_home / ".local"), TERM="xterm-256color",
               COLUMNS=str(COLUMNS), LINES=str(ROWS))
    command = [sys.executable, "-m", "cctop", "--no-store", "--claude-dir", str(home.config_dir)]
    tui = Terminal(command, env, REPO)
    try:
        with FakeAnthropicApi(scripts) as api:
            home.base_url = api.base_url
            # Start claude only once cctop is up and showing its (empty) table.
            time.sleep(1.0)
            assert tui.process.poll() is None, f"cctop exited early: {tui.text()[-2000:]}"
            workdir = tmp_path / PROJECT
            workdir.mkdir()
            claude = home.start("<<e2e:live>> watch me work", "--model", "claude-opus-4-8", cwd=workdir)
            try:
                seen = tui.wait_for(PROJECT, timeout=30)
                still_working = claude.poll() is None
            finally:
                release.set()
            result = finish(claude)
            steps = [s.step for s in api.scripted("live")]
        # The second answer was held until now, so claude cannot have finished before.
        assert steps == [0, 1], f"claude did not run the script: {steps}"
        assert seen, f"session never shown; screen text ends with: {tui.text()[-3000:]}"
        assert still_working, "claude had already finished when the session appeared"
        assert result["num_turns"] >= 2
    finally:
        tui.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_otlp_only_session_appears_live_with_claude_codes_cost(claude_bin: str, tmp_path: Path) -> None:
    """cctop --otlp, pointed at no transcripts of this claude: the session still shows up while
    claude works, and once it is done with the cost Claude Code itself reported."""
    release = threading.Event()
    scripts = {
        "otlplive": Script([
            Turn([ToolCall("Bash", {"command": "echo otlp"})],
                 Usage(input_tokens=14, output_tokens=50, cache_5m=1200, cache_1h=30000)),
            Turn([Text("Finished.")],
                 Usage(input_tokens=3, output_tokens=20, cache_read=31200, web_searches=3), hold=release),
        ]),
    }
    port = _free_port()
    cctop_home = tmp_path / "cctop-home"
    unrelated = tmp_path / "unrelated-config"
    (unrelated / "projects").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP"))}
    env.update(HOME=str(cctop_home), XDG_CONFIG_HOME=str(cctop_home / ".config"),
               XDG_DATA_HOME=str(cctop_home / ".local"), TERM="xterm-256color")
    command = [sys.executable, "-m", "cctop", "--no-store", "--claude-dir", str(unrelated), "--otlp",
               "--otlp-grpc-port", "0", "--otlp-http-port", str(port)]
    tui = Terminal(command, env, REPO)
    try:
        with FakeAnthropicApi(scripts) as api:
            home = ClaudeHome(claude_bin, tmp_path / "home", api.base_url)
            assert tui.wait_for(f"127.0.0.1:{port}", timeout=15), f"no OTLP listener: {tui.text()[-2000:]}"
            telemetry = otlp_env("http/protobuf", 0, port)
            claude = home.start("<<e2e:otlplive>> over telemetry", "--model", "claude-opus-4-8",
                                env=telemetry)
            try:
                # Only the table row names the model; the header and the empty-state text do not.
                seen = tui.wait_for("opus-4-8", timeout=30)
                still_working = claude.poll() is None
            finally:
                release.set()
            result = finish(claude)
        assert seen, f"OTLP session never shown; screen text ends with: {tui.text()[-3000:]}"
        assert still_working, "claude had already finished when the session appeared"
        own_cost = f"${result['total_cost_usd']:.2f}"
        # api_request events carry no 5m/1h split nor web searches: an OTLP-only call is shown
        # at Claude Code's own cost, not at cctop's (lower) price of what the event says.
        assert tui.wait_for(own_cost, timeout=5), f"Claude Code's own cost {own_cost} not shown"
    finally:
        tui.close()
