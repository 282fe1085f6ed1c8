"""Sample data for screenshots, snapshot tests and the TUI benchmark.

Lays the real transcripts kept in ``tests/samples`` out as a ``projects/`` tree (each file
named after its session, subagent files under ``<session>/subagents/``) and loads it into
a Ledger, with a fixed clock just after the newest line so the pictures never change.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cctop.model.ledger import Ledger
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_all

_SESSION_ID = re.compile(rb'"sessionId":"([0-9a-f-]{36})"')


def default_samples() -> Path:
    """The real transcripts kept in the repository (``tests/samples``)."""
    return Path(__file__).resolve().parent / "samples"


def _session_of(path: Path) -> str:
    match = _SESSION_ID.search(path.read_bytes())
    if match is None:
        raise ValueError(f"{path}: no sessionId")
    return match.group(1).decode()


def lay_out_samples(dest: Path, samples: Path | None = None) -> Path:
    """Copy the sample transcripts under ``dest/projects``; returns that projects dir."""
    samples = default_samples() if samples is None else samples
    projects = dest / "projects"
    real = samples / "claude-code-2.1.197" / "projects"
    shutil.copytree(real, projects, dirs_exist_ok=True)
    spotter = projects / "-Users-marco-spotter"
    spotter.mkdir(parents=True, exist_ok=True)
    old = samples / "claude-jsonl"
    for name in ("tool_heavy.jsonl", "subagent.jsonl"):
        shutil.copyfile(old / name, spotter / f"{_session_of(old / name)}.jsonl")
    for agents in old.glob("*/subagents"):
        shutil.copytree(agents, spotter / agents.parent.name / "subagents", dirs_exist_ok=True)
    return projects


def load(projects: Path, ledger: Ledger) -> int:
    """Read every transcript under ``projects`` into ``ledger`` (synchronously)."""
    files = list(find_transcripts(projects, ledger.warn))
    read_all(files, ledger.warn, ledger.ingest)
    return len(files)


def pricebook():
    """The packaged price table (no user overrides: the pictures must not depend on them).
    A fresh one each time: a book remembers the unknown models it was asked about."""
    from cctop.sources.prices import load_pricebook

    return load_pricebook(None)[0]


def make_ledger() -> Ledger:
    from cctop.model.cache import make_summarizer

    book = pricebook()
    return Ledger(book, cache_summarizer=make_summarizer(book))


def fixed_now(ledger: Ledger, after: float = 40.0) -> float:
    """A clock ``after`` seconds past the newest activity: that session shows as live."""
    snapshot = ledger.snapshot(0.0)
    newest = max((s.last_ts or 0.0) for s in snapshot.sessions.values())
    return newest + after


async def settle(app, pilot, timeout: float = 15.0) -> None:
    """Wait until the app has applied a snapshot of the ledger's current version."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        if app.frames and not app.snapshot_running and app.snapshot is not None:
            if app.snapshot.version == app.ledger.version:
                await pilot.pause()
                return
            app.request_snapshot()
    raise TimeoutError("the app did not show the ledger's data in time")


async def history_drawn(app, pilot, timeout: float = 30.0) -> None:
    """Wait until the history screen on top has drawn its charts."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        if getattr(app.screen, "draws", 0):
            await pilot.pause(0.2)
            return
    raise TimeoutError("the history screen did not draw in time")
