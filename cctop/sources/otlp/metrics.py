"""Turn OTLP Sum data points into the increments cctop adds up.

Claude Code exports DELTA sums by default; CUMULATIVE is opt-in. Either way a client
may re-send a batch after a timeout, so ingestion must be idempotent:

* DELTA: a point covers (start, time]; the same series with the same window is a
  re-send and is ignored.
* CUMULATIVE: keep the last (start, time, value) per series. A later point adds
  ``value - last``; a changed start time or a drop in a monotonic sum is a reset (a
  new process, e.g. ``claude --resume`` under the same session id), so the new value
  counts whole. A point no newer than the last one is a re-send or stale: ignored.

Pure and single-threaded: callers serialise access.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class MetricDeltas:
    """Per-series memory, bounded so a long-running listener cannot grow without limit."""

    def __init__(self, max_series: int = 20_000, max_windows: int = 100_000) -> None:
        self._max_series = max_series
        self._max_windows = max_windows
        self._cumulative: OrderedDict[Hashable, tuple[int, int, float]] = OrderedDict()
        self._delta_windows: OrderedDict[tuple[Hashable, int, int], None] = OrderedDict()

    def delta(
        self,
        series: Hashable,
        start_ns: int,
        time_ns: int,
        value: float,
        *,
        cumulative: bool,
        monotonic: bool = True,
    ) -> float | None:
        """The amount this point adds to its series, or None when it adds nothing new."""
        if cumulative:
            return self._cumulative_delta(series, start_ns, time_ns, value, monotonic)
        return self._delta_delta(series, start_ns, time_ns, value)

    def _delta_delta(self, series: Hashable, start_ns: int, time_ns: int, value: float) -> float | None:
        if time_ns == 0:
            return value  # no window to recognise a re-send by
        window = (series, start_ns, time_ns)
        if window in self._delta_windows:
            return None
        self._delta_windows[window] = None
        if len(self._delta_windows) > self._max_windows:
            self._delta_windows.popitem(last=False)
        return value

    def _cumulative_delta(
        self, series: Hashable, start_ns: int, time_ns: int, value: float, monotonic: bool
    ) -> float | None:
        # A point whose time equals its start reports an unknown-start reset:
        # it only sets the baseline.
        whole = 0.0 if start_ns and time_ns == start_ns else value
        last = self._cumulative.get(series)
        if last is None:
            added: float | None = whole
        else:
            last_start, last_time, last_value = last
            if start_ns != last_start:
                if start_ns < last_start and time_ns <= last_time:
                    return None  # a late point from an older segment
                added = whole
            elif time_ns <= last_time:
                return None  # re-sent or out of order
            elif monotonic and value < last_value:
                added = whole
            else:
                added = value - last_value
        self._cumulative[series] = (start_ns, time_ns, value)
        self._cumulative.move_to_end(series)
        if len(self._cumulative) > self._max_series:
            self._cumulative.popitem(last=False)
        return added
