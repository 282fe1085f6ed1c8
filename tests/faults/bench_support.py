"""Synthetic ledgers for the scale tests (small versions of bench/faults_bench.py's)."""

from __future__ import annotations

import demo

from cctop.model.records import ApiCall, SessionMeta, TitleKind


def ticking_ledger(sessions: int, now: float = 1_800_000_000.0):
    """``sessions`` sessions whose last request was 30 s ago: every cache countdown ticks."""
    ledger = demo.make_ledger()
    for i in range(sessions):
        sid = f"00000000-0000-4000-8000-{i:012d}"
        last = now - 30 - i * 0.001
        ledger.ingest([
            SessionMeta(sid, last, cwd=f"/home/dev/p{i % 7}", title=f"t{i}", title_kind=TitleKind.CUSTOM),
            ApiCall(sid, None, "claude-opus-4-8", f"m{i}", f"r{i}", last, 10, 20, 3000, 2000,
                    cache_creation_5m_tokens=2000, final=True),
        ])  # fmt: skip
    return ledger, now
