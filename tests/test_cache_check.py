"""Claude Code's prompt-cache diagnosis beside cctop's, and the session screen's line of it."""

from __future__ import annotations

from dataclasses import dataclass

from cctop.model.cache import CacheBreak
from cctop.model.cache_check import cctop_cause, compare
from cctop.model.limit_sample import LimitSample, PromptCacheInfo
from cctop.ui.widgets.claude_view import claude_text, latest_cache_sample


@dataclass
class Summary:  # the fields of cctop's CacheSummary the comparison reads
    breaks: tuple
    expires_at: float | None


def info(cause: str | None = None, expires_at: float | None = 1300.0) -> PromptCacheInfo:
    return PromptCacheInfo(0.35, 2, 1, cause, 1000.0, expires_at, "5m", True)


def test_causes_in_cctops_words():
    assert cctop_cause("ttl_expired_5m") == cctop_cause("ttl_expired_1h") == "ttl_expired"
    assert cctop_cause("model") == "model_changed"
    assert cctop_cause("system_prompt") == cctop_cause("tools") == "prefix_changed"
    assert cctop_cause(None) is None


def test_agreement_and_disagreement():
    main_ttl = CacheBreak(900.0, None, "ttl_expired", 100, 0.01)
    sub_prefix = CacheBreak(950.0, "agent-1", "prefix_changed", 100, 0.01)  # subagents: cctop only
    same = compare(info("ttl_expired_5m", 1300.0), Summary((main_ttl, sub_prefix), 1305.0))
    assert not same.cause_differs and not same.expiry_differs
    other = compare(info("tools", 1300.0), Summary((main_ttl,), 1400.0))
    assert other.cause_differs and other.cctop_cause == "ttl_expired" and other.expiry_differs
    unseen = compare(info("model", None), None)
    assert unseen.cause_differs and unseen.cctop_cause is None and not unseen.expiry_differs
    quiet = compare(info(None), Summary((), None))
    assert not quiet.cause_differs


def test_session_line_marks_where_they_differ():
    sample = LimitSample(0.0, "s1", prompt_cache=info("tools", 1300.0))
    other = LimitSample(1.0, "s2", prompt_cache=info(None))
    assert latest_cache_sample([sample, other], "s1") is sample
    text = claude_text(sample, Summary((CacheBreak(900.0, None, "ttl_expired", 1, 0.0),), 1400.0),
                       {"five_hour": 4.0, "seven_day": 1.25}, 1000.0, lambda role: role)  # fmt: skip
    plain = text.plain
    assert "Claude Code: cache hit 35% · 1 miss of 2 · last miss tools ≠ cctop ttl_expired" in plain
    assert "cache 5:00 ≠ cctop 6:40" in plain and "(main chain)" in plain
    assert "limit share 5h 4.0 pts · wk 1.2 pts" in plain
    assert claude_text(None, None, None, 0.0, lambda role: role) is None
