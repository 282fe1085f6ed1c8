"""What the snapshot worker posts to the app (the only way data reaches widgets), and the frame
the app then holds for its screens to watch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.message import Message

from cctop.model.limits import LimitsView
from cctop.model.snapshot import SessionDetail, Snapshot
from cctop.sources.live_sessions import LiveProcess


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: a new frame is news
class Frame:
    """What the screens show: a snapshot, the open session's detail (None when no session
    screen asked for one) and the clock time to show it at (a tick moves it on)."""

    snapshot: Snapshot
    detail: SessionDetail | None
    now: float


class SnapshotReady(Message):
    """A fresh snapshot (and the open session's detail), computed off the UI thread."""

    def __init__(self, frame: Frame, limits: tuple[LimitsView, int] | None = None) -> None:
        super().__init__()
        self.frame = frame
        self.limits = limits  # (the limits view, the samples version it saw) when recomputed

    def can_replace(self, message: Message) -> bool:
        # A burst collapses into the newest snapshot.
        return isinstance(message, SnapshotReady)


class SnapshotFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class LimitSamples(Message):
    """New statusline samples found in the store (cctop.sources.limits_poll)."""

    def __init__(self, samples: list, dropped: int) -> None:
        super().__init__()
        self.samples = samples
        self.dropped = dropped


class LiveProcesses(Message):
    """The running Claude Code processes by session id (cctop.sources.live_sessions)."""

    def __init__(self, processes: Mapping[str, LiveProcess]) -> None:
        super().__init__()
        self.processes = processes
