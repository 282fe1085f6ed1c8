"""Messages the snapshot worker posts to the app (the only way data reaches widgets)."""

from __future__ import annotations

from textual.message import Message

from cctop.model.snapshot import SessionDetail, Snapshot


class SnapshotReady(Message):
    """A fresh snapshot (and the open session's detail), computed off the UI thread."""

    def __init__(
        self,
        snapshot: Snapshot,
        detail: SessionDetail | None,
        detail_id: str | None,
        now: float,
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.detail = detail
        self.detail_id = detail_id
        self.now = now

    def can_replace(self, message: Message) -> bool:
        # A burst collapses into the newest snapshot.
        return isinstance(message, SnapshotReady)


class SnapshotFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
