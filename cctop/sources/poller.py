"""A daemon thread that polls something every ``interval`` seconds until stopped; what it
finds goes to a sink (the app posts it as a message: the thread never touches the UI)."""

from __future__ import annotations

import threading


class Poller:
    name = "cctop-poller"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self) -> bool:
        """Sleep one interval; True once stopped."""
        return self._stop.wait(self.interval)

    def _run(self) -> None:
        raise NotImplementedError
