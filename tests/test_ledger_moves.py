"""A call and a tool call first seen as copies in another session's file move to the session
that made them when its own lines arrive: both sessions' figures, computed before and after,
follow them."""

from __future__ import annotations

import pytest

from cctop.model.cache import make_summarizer
from cctop.model.ledger import Ledger
from cctop.model.records import REPLAYED, WRITTEN, ApiCall, ToolResult, ToolUse
from cctop.sources.prices import packaged_pricebook

MAKER, HOLDER = "aaaa0000-0000-4000-8000-000000000000", "bbbb0000-0000-4000-8000-000000000000"
BOOK = packaged_pricebook()


def _call(session: str, message_id: str, ts: float, evidence: int = WRITTEN) -> ApiCall:
    return ApiCall(
        session, None, "claude-opus-4-8", message_id, f"req_{message_id}", ts,
        100, 40, 5000, 2000, 2000, 0, final=True, evidence=evidence,
    )  # fmt: skip


def test_a_copied_call_and_tool_call_move_to_their_maker_with_their_figures() -> None:
    ledger = Ledger(BOOK, cache_summarizer=make_summarizer(BOOK))
    own, copied = _call(HOLDER, "msg_own", 900.0), _call(HOLDER, "msg_made", 1000.0, REPLAYED)
    ledger.ingest([
        own, copied,
        ToolUse(HOLDER, None, "toolu_1", "Bash", 1000.0, evidence=REPLAYED),
        ToolResult(HOLDER, "toolu_1", False, 1002.0, evidence=REPLAYED),
    ])  # fmt: skip
    before = ledger.snapshot(now=5000.0).sessions
    assert before[HOLDER].tokens.requests == 2 and before[HOLDER].tool_calls == 1

    ledger.ingest([_call(MAKER, "msg_made", 1000.0), ToolUse(MAKER, None, "toolu_1", "Bash", 1000.0)])
    after = ledger.snapshot(now=5001.0).sessions
    maker, holder = after[MAKER], after[HOLDER]
    assert maker.tokens.requests == 1 and holder.tokens.requests == 1
    assert maker.tokens.cost_usd == pytest.approx(BOOK.price(copied))
    assert holder.tokens.cost_usd == pytest.approx(BOOK.price(own))
    assert maker.tool_calls == 1 and holder.tool_calls == 0 and holder.tools == ()
    assert [(t.name, t.timed, t.total_duration_ms) for t in maker.tools] == [("Bash", 1, 2000.0)]
    assert maker.cache is not None and maker.cache.write_5m_tokens == 2000
    assert holder.forked_from == MAKER
    detail = ledger.session_detail(MAKER, now=5001.0)
    assert detail is not None and [p.call.message_id for p in detail.calls] == ["msg_made"]
