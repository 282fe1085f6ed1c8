"""A private tmux server for end-to-end tests: a window split in two panes, programs started
in them from small shell scripts (so each gets exactly the environment it needs), and what
each pane shows read back with ``capture-pane``."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest


class Tmux:
    def __init__(self, socket_dir: Path, width: int, height: int) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("needs tmux")
        self.socket = socket_dir / "tmux.sock"
        self.width, self.height = width, height
        self._scripts = socket_dir
        self._count = 0
        # A shell that reads no rc file: the left pane until something runs there.
        self.run("new-session", "-d", "-x", str(width), "-y", str(height), "-s", "e2e",
                 "env -i PATH=/usr/bin:/bin TERM=xterm-256color sh")  # fmt: skip
        self.run("set-option", "-g", "status", "off")
        self.left = self.run("display-message", "-p", "-t", "e2e", "#{pane_id}").strip()
        self.right: str | None = None

    def run(self, *args: str) -> str:
        command = ["tmux", "-S", str(self.socket), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def script(self, command: list[str], env: Mapping[str, str], cwd: Path, output: Path | None = None):
        """A shell script that runs ``command`` in ``cwd`` with exactly ``env`` (its stdout to
        ``output`` when given); the script's path."""
        self._count += 1
        path = self._scripts / f"run{self._count}.sh"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        to = f" > {shlex.quote(str(output))}" if output else ""
        path.write_text(f"#!/bin/sh\n{exports}cd {shlex.quote(str(cwd))}\nexec {shlex.join(command)}{to}\n")
        path.chmod(0o755)
        return str(path)

    def split_right(self, columns: int, script: str) -> str:
        """``split-window -h``: a pane of ``columns`` on the right running ``script``."""
        self.right = self.run("split-window", "-h", "-l", str(columns), "-t", self.left, "-P", "-F",
                              "#{pane_id}", script).strip()  # fmt: skip
        return self.right

    def type_in(self, pane: str, line: str) -> None:
        self.run("send-keys", "-t", pane, "-l", line)
        self.run("send-keys", "-t", pane, "Enter")

    def capture(self, pane: str, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", pane)

    def pane_width(self, pane: str) -> int:
        return int(self.run("display-message", "-p", "-t", pane, "#{pane_width}").strip())

    def wait_for(self, pane: str, check: Callable[[str], bool], timeout: float, step: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.capture(pane)):
                return True
            time.sleep(step)
        return False

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30)
        if self.socket.exists():
            os.unlink(self.socket)
