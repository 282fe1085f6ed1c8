"""A screen drawn from the app's frame: it watches the frame and the pause, and draws only
while it is on top (a screen underneath catches up when it is back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.css.query import NoMatches
from textual.screen import Screen

from cctop.ui.messages import Frame

if TYPE_CHECKING:
    from cctop.ui.app import CctopApp


class FrameScreen(Screen):
    app: CctopApp

    def watch_frames(self) -> None:
        """Call once the widgets exist (on_mount): draws the current frame at once, then each new one."""
        self.watch(self.app, "frame", self._on_frame)
        self.watch(self.app, "paused", lambda _paused: self._on_frame(self.app.frame), init=False)

    def on_screen_resume(self) -> None:
        self._on_frame(self.app.frame)

    def _on_frame(self, frame: Frame | None) -> None:
        if not self.is_current:
            return
        try:
            self.draw(frame)
        except NoMatches:  # the app is closing: the widgets are being taken down
            return

    def draw(self, frame: Frame | None) -> None:
        raise NotImplementedError
