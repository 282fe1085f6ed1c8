"""The session screen's summary says where the figures come from, and Claude Code's own cost
where it differs from cctop's."""

from __future__ import annotations

from attribution import CORPUS, feed, transcript_files
from e2e.attribution_corpus import COMPACTED, FORK_BEFORE, PARENT

from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall, Source
from cctop.sources.prices import packaged_pricebook
from cctop.ui.screens.session import summary_text


def _summary(*calls: ApiCall) -> str:
    ledger = Ledger(packaged_pricebook())
    ledger.ingest(calls)
    stats = ledger.snapshot(now=2_000_000_000.0).sessions["s"]
    return summary_text(stats, 2_000_000_000.0, lambda role: "").plain


def _call(source: Source, reported: float | None, message_id: str | None = "m1") -> ApiCall:
    return ApiCall(
        "s", None, "claude-opus-4-8", message_id, "r1", 1_999_999_000.0,
        input_tokens=1000, output_tokens=100, cache_creation_tokens=10_000,
        cache_creation_1h_tokens=10_000, final=True, source=source, reported_cost_usd=reported,
    )  # fmt: skip


def test_sources_and_claude_codes_cost_where_it_differs():
    # cctop prices the 1h write at $10/MTok: 0.005 + 0.0025 + 0.1 = $0.11; Claude Code said $0.09.
    both = _summary(_call(Source.TRANSCRIPT, None), _call(Source.OTLP, 0.09, message_id=None))
    assert "from transcript + OTLP" in both
    assert "cost $0.11 (Claude Code: $0.09)" in both


def test_no_second_figure_when_they_agree_and_one_source_named():
    only_otlp = _summary(_call(Source.OTLP, 0.25, message_id=None))
    assert "cost $0.25 ·" in only_otlp and "Claude Code:" not in only_otlp
    assert "from OTLP" in only_otlp and "transcript" not in only_otlp


def test_a_fork_names_its_parent_and_a_compacted_session_marks_its_cost_a_lower_bound():
    ledger = Ledger(packaged_pricebook())
    feed(ledger, transcript_files(CORPUS / "claude" / "projects"))
    sessions = ledger.snapshot(now=2_000_000_000.0).sessions
    fork = summary_text(sessions[FORK_BEFORE], 2_000_000_000.0, lambda role: "").plain
    assert f"forked from {PARENT[:8]}" in fork
    compacted = summary_text(sessions[COMPACTED], 2_000_000_000.0, lambda role: "").plain
    assert "cost $0.06+ · " in compacted  # the /compact calls are not in it


def test_the_sessions_span_is_named():
    first = _call(Source.TRANSCRIPT, None)
    later = ApiCall(
        "s", None, "claude-opus-4-8", "m2", "r2", 1_999_999_000.0 + 245.0,
        input_tokens=10, output_tokens=10, final=True, source=Source.TRANSCRIPT,
    )  # fmt: skip
    assert "span 4m05s" in _summary(first, later)
    assert "span 0ms" in _summary(first)  # one call: no time between the first and the last
