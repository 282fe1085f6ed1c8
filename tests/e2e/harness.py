"""Finding (or installing) the real Claude Code CLI, running it against the fake API, and running
cctop the way a user does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PINNED = "2.1.332"
PACKAGE = f"@anthropic-ai/claude-code@{PINNED}"
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".e2e-cache" / "npm"
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120

# Variables of the calling environment that would send claude elsewhere or change what it writes.
_STRIPPED_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OTEL_", "AWS_", "GOOGLE_", "VERTEX", "DISABLE_")


def _version_of(binary: str) -> str | None:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, DISABLE_AUTOUPDATER="1"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().split(" ", 1)[0] if done.returncode == 0 else None


def _cached_binaries() -> Iterator[Path]:
    yield CACHE / "node_modules" / ".bin" / "claude"
    # If npm skipped the postinstall that copies the native binary over the stub, the
    # platform package still holds it.
    yield from sorted((CACHE / "node_modules" / "@anthropic-ai").glob("claude-code-*/claude"))


def find_or_install_claude() -> str:
    """Path of a claude binary of the pinned version, or pytest.skip with the reason."""
    override = os.environ.get("CCTOP_E2E_CLAUDE")
    if override:
        return override
    for candidate in _cached_binaries():
        if candidate.exists() and _version_of(str(candidate)) == PINNED:
            return str(candidate)
    on_path = shutil.which("claude")
    if on_path and _version_of(on_path) == PINNED:
        return on_path
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"needs Claude Code {PINNED}: no `claude` of that version on PATH, no npm to install it")
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(CACHE), PACKAGE],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {PACKAGE} took over {INSTALL_TIMEOUT_S} s (registry unreachable?)")
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        pytest.skip(f"npm install {PACKAGE} failed (no registry access?): {tail}")
    for candidate in _cached_binaries():
        if candidate.exists() and _version_of(str(candidate)) == PINNED:
            return str(candidate)
    pytest.skip(f"installed {PACKAGE} but no working claude binary in {CACHE}")


class ClaudeFailed(AssertionError):
    pass


@dataclass
class ClaudeHome:
    """A throwaway HOME + CLAUDE_CONFIG_DIR for claude, and a project directory to run it in."""

    claude: str
    root: Path
    base_url: str

    @property
    def config_dir(self) -> Path:
        return self.root / "claude-config"

    @property
    def workdir(self) -> Path:
        return self.root / "project"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_PREFIXES)}
        env.update(
            HOME=str(self.root),
            CLAUDE_CONFIG_DIR=str(self.config_dir),
            ANTHROPIC_BASE_URL=self.base_url,
            ANTHROPIC_API_KEY="x",
            DISABLE_AUTOUPDATER="1",
            DISABLE_ERROR_REPORTING="1",
        )
        env.update(extra or {})
        return env

    def start(self, prompt: str, *args: str, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [self.claude, "-p", prompt, "--output-format", "json",
                   "--allowedTools", "Bash,Read,Agent", *args]
        return subprocess.Popen(command, cwd=cwd or self.workdir, env=self.env(env), text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, prompt: str, *args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Run ``claude -p`` to the end and return its ``--output-format json`` result."""
        return finish(self.start(prompt, *args, env=env))


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise ClaudeFailed(f"claude did not finish in {RUN_TIMEOUT_S} s; stderr: {err[-2000:]}") from None
    if process.returncode != 0:
        raise ClaudeFailed(f"claude exited {process.returncode}: {out[-1000:]} {err[-2000:]}")
    result = json.loads(out)
    if result.get("is_error"):
        raise ClaudeFailed(f"claude reported an error: {out[-2000:]}")
    return result


def otlp_env(protocol: str, grpc_port: int, http_port: int) -> dict[str, str]:
    """Claude Code's telemetry settings for one OTLP protocol, with short export intervals."""
    port = grpc_port if protocol == "grpc" else http_port
    return {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_LOGS_EXPORT_INTERVAL": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
    }


def cctop_once(claude_dir: Path, home: Path, store: Path | None = None) -> dict[str, Any]:
    """``cctop --once --json`` over one config dir, as a user would run it: ``--no-store`` unless
    a store path is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local"))
    storage = ["--store", str(store)] if store else ["--no-store"]
    done = subprocess.run(
        [sys.executable, "-m", "cctop", "--once", "--json", *storage, "--claude-dir", str(claude_dir)],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO,
    )
    assert done.returncode == 0, f"cctop --once failed ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout)
