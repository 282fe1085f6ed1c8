"""Claude Code's own prompt-cache diagnosis (statusline ``prompt_cache``) beside cctop's.

Claude Code diagnoses the main conversation only; cctop covers every agent, from the
transcript. The two are compared where they speak of the same thing: when the main chain's
cache expires, and the cause of its last miss. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from cctop.model.limit_sample import PromptCacheInfo

EXPIRY_TOLERANCE_S = 10.0  # the two clocks start from the same response, seen a moment apart


@dataclass(frozen=True, slots=True)
class CacheCheck:
    claude: PromptCacheInfo
    cause_as_cctop: str | None  # Claude Code's last miss cause in cctop's words
    cctop_cause: str | None  # cctop's cause of the main chain's last break
    cctop_expires_at: float | None
    cause_differs: bool
    expiry_differs: bool


def cctop_cause(claude_cause: str | None) -> str | None:
    """``ttl_expired_5m`` -> ``ttl_expired``, ``model`` -> ``model_changed``, ...; anything
    else that rewrote the prompt (system prompt, tools, messages) is cctop's ``prefix_changed``."""
    if not claude_cause:
        return None
    cause = claude_cause.lower()
    if "ttl" in cause or "expire" in cause:
        return "ttl_expired"
    if "model" in cause:
        return "model_changed"
    if "compact" in cause:
        return "compacted"
    return "prefix_changed"


def compare(claude: PromptCacheInfo, summary: object | None) -> CacheCheck:
    """``summary`` is cctop's CacheSummary of the session (or None)."""
    breaks = [b for b in getattr(summary, "breaks", ()) or () if b.agent_id is None]
    ours = breaks[-1].cause if breaks else None
    expires = getattr(summary, "expires_at", None)
    theirs = cctop_cause(claude.last_miss_cause)
    cause_differs = theirs is not None and theirs != ours
    expiry_differs = (
        claude.expires_at is not None
        and expires is not None
        and abs(claude.expires_at - expires) > EXPIRY_TOLERANCE_S
    )
    return CacheCheck(claude, theirs, ours, expires, cause_differs, expiry_differs)
