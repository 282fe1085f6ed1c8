"""The attribution corpus made again now, by the pinned Claude Code, and checked as the unit
tests check the committed copy (tests/test_attribution.py): every call in the session that
made it, against the fake API's ledger, with and without telemetry."""

from __future__ import annotations

from pathlib import Path

import pytest
from attribution import TOLERANCE_USD, assert_matches, billed, feed, telemetry, transcript_files

from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook

from .attribution_corpus import COMPACTED, FORK_AFTER, FORK_BEFORE, PARENT, generate
from .harness import cctop_once

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_fresh_corpus_attributes_every_call_to_its_maker(tmp_path: Path, claude_bin: str) -> None:
    corpus = tmp_path / "corpus"
    generate(corpus, claude_bin)
    root = corpus / "claude" / "projects"
    files = transcript_files(root)
    for order in (files, files[::-1]):
        ledger = Ledger(packaged_pricebook())
        feed(ledger, order)
        sessions = dict(ledger.snapshot().sessions)
        assert_matches(sessions, billed(corpus, with_compactions=False), TOLERANCE_USD)
        assert sessions[FORK_BEFORE].forked_from == sessions[FORK_AFTER].forked_from == PARENT
        assert sessions[COMPACTED].excludes_unlogged_calls
    with_telemetry = Ledger(packaged_pricebook())
    for records in telemetry(corpus):
        with_telemetry.ingest(records)
    feed(with_telemetry, files)
    assert_matches(dict(with_telemetry.snapshot().sessions), billed(corpus), 1e-6)
    # As a user runs it, through a store: the same figures.
    document = cctop_once(corpus / "claude", tmp_path, tmp_path / "store.sqlite3")
    once = {s["id"]: s for s in document["sessions"]}
    truth = billed(corpus, with_compactions=False)
    for session_id, expected in truth.items():
        assert once[session_id]["requests"] == expected.requests
        assert once[session_id]["cost_usd"] == pytest.approx(expected.cost_usd, abs=1e-6)
    assert once[FORK_BEFORE]["forked_from"] == PARENT
    assert once[COMPACTED]["excludes_unlogged_calls"] is True
