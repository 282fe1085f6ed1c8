"""A thread that watches the store for new statusline samples and hands them on.

``cctop statusline`` (another process, run by Claude Code) writes a row per message; this
polls with one indexed query every ``interval`` seconds (a few microseconds when nothing is
new), so a figure reaches the TUI well within a second of the statusline call. It never
touches the UI: ``sink`` is given the new samples (the app posts them as a message).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from cctop.model.limit_sample import LimitSample
from cctop.sources.poller import Poller
from cctop.store.samples import SampleReader

HISTORY_S = 8 * 86400.0  # what a start reads back: a weekly window and a day of margin
Sink = Callable[[list[LimitSample], int], None]  # (new samples, samples dropped so far)


class LimitsPoller(Poller):
    name = "cctop-limits"

    def __init__(self, store_path: Path, sink: Sink, warn: Callable[[str], None], interval: float = 0.25):
        super().__init__(interval)
        self.store_path = Path(store_path)
        self._sink = sink
        self._warn = warn
        self._dropped = 0

    def _run(self) -> None:
        try:
            reader = SampleReader(self.store_path)
        except sqlite3.Error as exc:
            self._warn(f"limits: cannot read the statusline samples in {self.store_path} ({exc})")
            return
        try:
            since: float | None = time.time() - HISTORY_S
            failed = False
            while not self.stopping:
                try:
                    samples = reader.new(since)
                    dropped = reader.dropped()
                    failed = False
                except sqlite3.Error as exc:  # busy or damaged: say it once, keep trying
                    if not failed:
                        self._warn(f"limits: reading the statusline samples failed ({exc})")
                    failed = True
                    samples, dropped = [], self._dropped
                since = None
                if samples or dropped != self._dropped:
                    self._dropped = dropped
                    self._sink(samples, dropped)
                self.wait()
        finally:
            reader.close()
