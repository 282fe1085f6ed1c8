"""Running Claude Code processes, from ``<config dir>/sessions/<pid>.json``.

Claude Code (2.1.x) writes one such file per running process (``pid``, ``sessionId``, ``cwd``,
``status`` busy/idle, ``kind``, ``tmux`` pane, ``procStart``) and deletes it at exit. A file left
behind by a killed process is ignored: its pid must be alive and, where /proc tells, have
started at ``procStart`` (a reused pid has not). A thread polls the folders once a second and
hands the result on when it changed; it never touches the UI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cctop.sources.poller import Poller

POLL_S = 1.0
BUSY, WAITING, RUNNING = "busy", "wait", "run"  # what the table's state column shows


@dataclass(frozen=True, slots=True)
class LiveProcess:
    pid: int
    session_id: str
    state: str  # BUSY (working), WAITING (idle: waiting for you), RUNNING (status unknown)
    kind: str | None
    tmux: str | None
    cwd: str | None


def sessions_dirs(roots: Iterable[Path]) -> list[Path]:
    """``sessions/`` beside each ``projects/`` root (a root may be the config dir itself)."""
    found: dict[Path, None] = {}
    for root in roots:
        base = root.parent if root.name == "projects" else root
        found[base / "sessions"] = None
    return list(found)


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), if readable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def is_alive(pid: int, proc_start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    except OSError:
        return False
    if proc_start:
        started = _proc_start(pid)
        if started is not None and started != proc_start:
            return False  # the pid was reused
    return True


def parse(data: bytes) -> tuple[LiveProcess, str | None] | None:
    """(the process, its procStart) from one file; None if it is not one."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    pid, session = doc.get("pid"), doc.get("sessionId")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(session, str):
        return None
    status = doc.get("status")
    state = BUSY if status == "busy" else WAITING if status == "idle" else RUNNING
    kind, tmux, cwd = (doc.get(k) for k in ("kind", "tmux", "cwd"))
    text = [v if isinstance(v, str) else None for v in (kind, tmux, cwd)]
    start = doc.get("procStart")
    return LiveProcess(pid, session, state, *text), str(start) if isinstance(start, (str, int)) else None


def scan(dirs: Iterable[Path], alive: Callable[[int, str | None], bool] = is_alive) -> dict[str, LiveProcess]:
    """session id -> its live process (the busiest, if several processes have it open)."""
    found: dict[str, LiveProcess] = {}
    rank = {BUSY: 2, WAITING: 1, RUNNING: 0}
    for folder in dirs:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".json"):
                continue
            try:
                with open(entry.path, "rb") as handle:
                    parsed = parse(handle.read(65536))
            except OSError:
                continue  # deleted meanwhile: the process exited
            if parsed is None or not alive(parsed[0].pid, parsed[1]):
                continue
            process = parsed[0]
            held = found.get(process.session_id)
            if held is None or rank[process.state] > rank[held.state]:
                found[process.session_id] = process
    return found


class LiveSessionsPoller(Poller):
    name = "cctop-live-sessions"

    def __init__(self, roots: Iterable[Path], sink: Callable[[Mapping[str, LiveProcess]], None],
                 interval: float = POLL_S) -> None:  # fmt: skip
        super().__init__(interval)
        self.dirs = sessions_dirs(roots)
        self._sink = sink

    def _run(self) -> None:
        last: dict[str, LiveProcess] | None = None
        while not self.stopping:
            found = scan(self.dirs)
            if found != last:
                last = found
                self._sink(dict(found))
            self.wait()
