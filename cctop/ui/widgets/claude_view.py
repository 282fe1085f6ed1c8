"""The session screen's line of what Claude Code itself reported through the statusline:
its prompt-cache diagnosis of the main conversation (``≠`` where cctop's differs) and the
session's share of the 5-hour and weekly windows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.text import Text

from cctop.model.cache_check import compare
from cctop.model.limit_sample import LimitSample
from cctop.model.limits import FIVE_HOUR, SEVEN_DAY
from cctop.ui.rows import ttl_text

StyleFor = Callable[[str], str]


def latest_cache_sample(samples: Sequence[LimitSample], session_id: str) -> LimitSample | None:
    return next((s for s in reversed(samples) if s.session_id == session_id and s.prompt_cache), None)


def claude_text(
    sample: LimitSample | None,
    summary: object | None,
    share: Mapping[str, float] | None,
    now: float,
    style_for: StyleFor,
) -> Text | None:
    """None when there is nothing from the statusline for this session."""
    if sample is None and not share:
        return None
    text = Text(no_wrap=True, overflow="ellipsis")
    muted, warn = style_for("muted"), style_for("warn")
    if sample is not None and sample.prompt_cache is not None:
        check = compare(sample.prompt_cache, summary)
        cache = check.claude
        text.append("Claude Code: cache hit ")
        text.append("-" if cache.hit_ratio is None else f"{cache.hit_ratio * 100:.0f}%")
        if cache.misses is not None and cache.requests is not None:
            text.append(f" · {cache.misses} miss of {cache.requests}")
        if cache.last_miss_cause:
            text.append(" · last miss ")
            text.append(cache.last_miss_cause, style=warn if check.cause_differs else "")
            if check.cause_differs:
                text.append(f" ≠ cctop {check.cctop_cause or 'no break'}", style=warn)
        if cache.expires_at is not None:
            ttl, role = ttl_text(cache.expires_at - now)
            text.append(" · cache ")
            text.append(ttl, style=style_for(role))
            if check.expiry_differs and check.cctop_expires_at is not None:
                text.append(f" ≠ cctop {ttl_text(check.cctop_expires_at - now)[0]}", style=warn)
        text.append(" (main chain)", style=muted)
    if share:
        if text.plain:
            text.append("  ")
        parts = [
            f"{label} {share[key]:.1f} pts"
            for key, label in ((FIVE_HOUR, "5h"), (SEVEN_DAY, "wk"))
            if key in share
        ]
        text.append("limit share " + " · ".join(parts))
    return text
