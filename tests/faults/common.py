"""What the fault tests share: an isolated ``cctop`` run and small transcript trees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from helpers import assistant, write_session

PROJECT = "-home-dev-proj"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", "HOME": str(home)}
    env.update(XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".data"))
    env.pop("CLAUDE_CONFIG_DIR", None)
    env.update(extra)
    return env


def cctop(home: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """``cctop ARGS`` in its own HOME (its store under it), transcripts under ``home/.claude``."""
    return subprocess.run(
        [sys.executable, "-m", "cctop", "--claude-dir", str(home / ".claude"), *args],
        capture_output=True,
        env=env_for(home, **env),
        timeout=timeout,
        check=False,
    )


def once_json(home: Path, *args: str) -> dict:
    result = cctop(home, "--once", "--json", *args)
    assert result.returncode == 0, result.stderr.decode()
    return orjson.loads(result.stdout)


def totals(doc: dict) -> tuple:
    t = doc["totals"]
    return (t["requests"], t["input_tokens"], t["output_tokens"], t["cache_read_tokens"])


def calls(session: str, count: int, prefix: str = "m", **kw) -> list[dict]:
    return [assistant(session, f"{prefix}{i}", f"r{prefix}{i}", **kw) for i in range(count)]


def tree(home: Path, sessions: dict[str, int], project: str = PROJECT) -> Path:
    """``home/.claude/projects/<project>/<session>.jsonl`` with that many calls each."""
    for session, count in sessions.items():
        write_session(home / ".claude", project, session, calls(session, count, prefix=session))
    return home / ".claude" / "projects"
