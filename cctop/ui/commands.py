"""Command palette: jump to any session by project, title or id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from cctop import format as fmt

if TYPE_CHECKING:
    from cctop.model.snapshot import SessionStats
    from cctop.ui.app import CctopApp

RECENT = 10


def _label(stats: SessionStats) -> str:
    title = stats.title or "(untitled)"
    return fmt.safe_text(f"Open {stats.project} · {title} · {stats.id[:8]}")


class SessionCommands(Provider):
    """Sessions of the latest snapshot. Labels come from logs, so they are shown as plain
    Text (Textual's ``Matcher.highlight`` would parse them as markup)."""

    @property
    def _sessions(self) -> list[SessionStats]:
        app: CctopApp = self.app  # type: ignore[assignment]
        snapshot = app.snapshot
        if snapshot is None:
            return []
        return sorted(snapshot.sessions.values(), key=lambda s: s.last_ts or 0.0, reverse=True)

    def _open(self, session_id: str):
        return lambda: self.app.open_session(session_id)  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for stats in self._sessions[:RECENT]:
            label = _label(stats)
            yield DiscoveryHit(Text(label), self._open(stats.id), text=label, help="open this session")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for stats in self._sessions:
            label = _label(stats)
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, Text(label), self._open(stats.id), text=label, help="open this session")
