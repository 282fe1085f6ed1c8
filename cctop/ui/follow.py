"""Which session ``--session latest|here|ID`` shows, snapshot after snapshot.

``latest`` follows whichever session was most recently active, ``here`` the most recent one
whose cwd is this directory (waiting until there is one), an id prefix stays pinned. Pure:
the app asks ``target()`` on each snapshot and opens what it answers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cctop.model.snapshot import Snapshot

FOLLOW_SPECS = ("latest", "here")


def resolve_session(snapshot: Snapshot, spec: str, cwd: str) -> str | None:
    """``latest``: most recently active; ``here``: most recent in ``cwd``; else an id prefix."""
    sessions = sorted(snapshot.sessions.values(), key=lambda s: (s.last_ts or 0.0, s.id), reverse=True)
    if spec == "latest":
        return sessions[0].id if sessions else None
    if spec == "here":
        here = os.path.normpath(cwd)
        return next((s.id for s in sessions if s.cwd and os.path.normpath(s.cwd) == here), None)
    return next((s.id for s in sessions if s.id.startswith(spec)), None)


@dataclass
class Follow:
    """What the session screen is tied to: a spec to follow, or one pinned session."""

    spec: str  # "latest", "here" or an id prefix
    cwd: str
    following: bool  # False: pinned to the session shown

    @classmethod
    def from_spec(cls, spec: str, cwd: str) -> Follow:
        return cls(spec, cwd, spec in FOLLOW_SPECS)

    def target(self, snapshot: Snapshot) -> str | None:
        return resolve_session(snapshot, self.spec, self.cwd)

    def toggle(self) -> bool:
        """Follow <-> pin; an id given on the command line follows the latest once unpinned."""
        if self.spec not in FOLLOW_SPECS:
            self.spec = "latest"
        self.following = not self.following
        return self.following

    def describe(self) -> str:
        if not self.following:
            return "pinned"
        return "following the latest session" if self.spec == "latest" else "following this directory"
