"""One statusline sample: what a ``cctop statusline`` call received. Named tuples rather than
dataclasses: the statusline command imports this on every message and must start fast."""

from __future__ import annotations

from typing import NamedTuple

# Where a window's use becomes worth a warning, then an alarm (percent): the live view's alerts
# and the status line's colours. Here, not in model.limits: the status line imports this.
DEFAULT_THRESHOLDS = (80.0, 95.0)


class WindowSample(NamedTuple):
    used_percentage: float
    resets_at: float | None  # POSIX seconds; None when the sample gave none


class PromptCacheInfo(NamedTuple):
    """Claude Code's own diagnosis of the main conversation's prompt cache (statusline
    ``prompt_cache``); subagents are not in it."""

    hit_ratio: float | None
    requests: int | None
    misses: int | None
    last_miss_cause: str | None
    last_miss_at: float | None
    expires_at: float | None
    ttl: str | None
    warm: bool | None


class LimitSample(NamedTuple):
    """What one statusline call carried, with the time cctop received it."""

    observed_at: float
    session_id: str | None
    five_hour: WindowSample | None = None
    seven_day: WindowSample | None = None
    spend_limit: WindowSample | None = None
    cost_usd: float | None = None  # Claude Code's cumulative cost of the session
    context_used_percentage: float | None = None
    context_window_size: int | None = None
    prompt_cache: PromptCacheInfo | None = None
    model: str | None = None

    def window(self, name: str) -> WindowSample | None:
        window: WindowSample | None = getattr(self, name)
        return window
