"""Every call to the session that made it: the attribution corpus (real Claude Code 2.1.332
against the fake API; see e2e/attribution_corpus.py) checked against the fake API's ledger of
what it answered, session by session, in every reading order, with telemetry before and after
the transcripts, as 2.1.332 wrote it and as 2.1.197 would have (no ``requestRef``)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from attribution import CORPUS, TOLERANCE_USD, assert_matches, billed, feed, telemetry, transcript_files
from e2e.attribution_corpus import (
    AGENT,
    AUTO_COMPACTED,
    COMPACTED,
    FAILED,
    FORK_AFTER,
    FORK_BEFORE,
    PARALLEL,
    PARENT,
    RETRIED,
    UNICODE_DIR,
)
from helpers import REAL_CC, REAL_CC_COSTS, SAMPLES, archive_capture, ledger_for

from cctop.model.ledger import Ledger
from cctop.model.records import Prompt
from cctop.sources.prices import packaged_pricebook

PROJECTS = CORPUS / "claude" / "projects"
FORKS = {FORK_BEFORE: PARENT, FORK_AFTER: PARENT}
NOW = 2_000_000_000.0


def as_2_1_197(tmp_path: Path) -> Path:
    """The corpus as 2.1.197 writes a fork: the same copy of the parent's lines, but no
    ``requestRef``/``requestSessionId`` saying who made each call."""
    root = tmp_path / "claude-197" / "projects"
    shutil.copytree(PROJECTS, root)
    for path in root.rglob("*.jsonl"):
        lines = []
        for raw in path.read_bytes().splitlines():
            obj = orjson.loads(raw)
            obj.pop("requestRef", None)
            obj.pop("requestSessionId", None)
            lines.append(orjson.dumps(obj) + b"\n")
        path.write_bytes(b"".join(lines))
    return root


def snapshot(records_in_order) -> dict:
    ledger = Ledger(packaged_pricebook())
    for step in records_in_order:
        step(ledger)
    return dict(ledger.snapshot(NOW).sessions)


@pytest.mark.parametrize("version", ["2.1.332", "2.1.197"])
def test_each_call_belongs_to_the_session_that_made_it_in_both_reading_orders(version, tmp_path) -> None:
    root = PROJECTS if version == "2.1.332" else as_2_1_197(tmp_path)
    files = transcript_files(root)
    # The parent's id sorts between its two forks': whichever order, ids decide nothing.
    assert FORK_BEFORE < PARENT < FORK_AFTER
    truth = billed(with_compactions=False)  # /compact's calls reach no transcript
    for order in (files, files[::-1]):
        sessions = snapshot([lambda ledger, order=order: feed(ledger, order)])
        assert_matches(sessions, truth, TOLERANCE_USD)
        assert {s: sessions[s].forked_from for s in sessions if sessions[s].forked_from} == FORKS
        # A fork is dated and titled by its own part, not the history it copies.
        parent = sessions[PARENT]
        for fork in FORKS:
            assert sessions[fork].first_ts >= _birth(root, fork) > parent.first_ts
            assert sessions[fork].prompts == 2 if fork == FORK_AFTER else 1  # --continue added one
        assert parent.prompts == 3  # start, --resume, --continue: all in the parent's file


def test_a_compaction_without_telemetry_is_marked_and_with_it_counted() -> None:
    files = transcript_files(PROJECTS)
    alone = snapshot([lambda ledger: feed(ledger, files)])
    compacted = alone[COMPACTED]
    assert compacted.unlogged_compactions == 1 and compacted.excludes_unlogged_calls
    # /compact, and an automatic compaction near the window: each a boundary, calls unseen.
    assert {s: alone[s].unlogged_compactions for s in alone if alone[s].excludes_unlogged_calls} == {
        COMPACTED: 1, AUTO_COMPACTED: 1}
    # Claude Code's own total (cost-state) counts the compaction calls cctop cannot see.
    assert compacted.reported_cost_usd > compacted.tokens.cost_usd
    joined = snapshot([lambda ledger: feed(ledger, files), *map(_ingest, telemetry())])
    for session_id in (COMPACTED, AUTO_COMPACTED):
        assert joined[session_id].unlogged_compactions == 0
        assert joined[session_id].tokens.requests == billed()[session_id].requests


def _birth(root: Path, session_id: str) -> float:
    """When a session's file began: its first queue-operation (a fork's is at fork time)."""
    from cctop.sources.transcripts.jsonl import parse_timestamp

    for raw in next(root.glob(f"*/{session_id}.jsonl")).read_bytes().splitlines():
        obj = orjson.loads(raw)
        if obj.get("type") == "queue-operation":
            return parse_timestamp(obj["timestamp"]) or 0.0
    raise AssertionError(f"{session_id}: no queue-operation")


def _ingest(records):
    return lambda ledger: ledger.ingest(records)


@pytest.mark.parametrize("version", ["2.1.332", "2.1.197"])
def test_telemetry_before_between_and_after_the_transcripts_gives_one_answer(version, tmp_path) -> None:
    """OTLP's session.id is authoritative: the same owners, and every call the API answered
    (the compaction calls too), whenever it arrives."""
    root = PROJECTS if version == "2.1.332" else as_2_1_197(tmp_path)
    files = transcript_files(root)
    batches = telemetry()
    truth = billed(with_compactions=True)
    answers = set()
    half = len(files) // 2
    orders = [
        [*map(_ingest, batches), lambda ledger: feed(ledger, files)],
        [lambda ledger: feed(ledger, files), *map(_ingest, batches)],
        [lambda ledger: feed(ledger, files[::-1][:half]), *map(_ingest, batches),
         lambda ledger: feed(ledger, files[::-1][half:])],
    ]  # fmt: skip
    for order in orders:
        sessions = snapshot(order)
        # Calls known only from telemetry cost what Claude Code said, to its rounding.
        assert_matches(sessions, truth, 1e-6)
        # A prompt seen in both sources counts once (promptId = prompt.id); telemetry also
        # counts a typed /compact, which the transcript writes as a command.
        told = {(r.session_id, r.prompt_id) for batch in batches for r in batch if isinstance(r, Prompt)}
        for stats in sessions.values():
            typed = _prompt_ids(root, stats.id)
            reported = {p for s, p in told if s == stats.id}
            assert stats.prompts == len(typed | reported), stats.id
            assert not typed or typed & reported
        # An error both sources report (the fatal 403's request id) counts once.
        assert (sessions[RETRIED].api_errors, sessions[FAILED].api_errors) == (1, 1)
        answers.add(tuple(sorted((s.id, s.tokens.requests, s.forked_from) for s in sessions.values())))
    assert len(answers) == 1


def _prompt_ids(root: Path, session_id: str) -> set[str]:
    """The promptIds of the prompts typed in a session (= OTLP's prompt.id), from its own file."""
    ids: set[str] = set()
    for raw in b"".join(path.read_bytes() for path in root.glob(f"*/{session_id}.jsonl")).splitlines():
        obj = orjson.loads(raw)
        message = obj.get("message") or {}
        if obj.get("type") == "user" and isinstance(message.get("content"), str) and obj.get("promptId"):
            text = message["content"]
            own = ("<command-", "<local-command", "<task-notification>", "This session is being continued")
            if not text.startswith(own) and not obj.get("isMeta"):
                ids.add(obj["promptId"])
    return ids


def test_retries_and_failures_are_errors_not_calls() -> None:
    sessions = snapshot([lambda ledger: feed(ledger, transcript_files(PROJECTS))])
    # A 529 retried: a system/api_error line; the retry's answer is the one call.
    assert (sessions[RETRIED].api_errors, sessions[RETRIED].tokens.requests) == (1, 2)
    # A fatal 403: a <synthetic> error line with zero usage, no call behind it.
    assert (sessions[FAILED].api_errors, sessions[FAILED].tokens.requests) == (1, 0)
    assert sessions[FAILED].models == ()
    # Two subagents in parallel: their calls are their session's spend.
    assert sessions[AGENT].subagent_count == 2
    # Two tools in one turn, one failing, in a directory with a non-ASCII name.
    parallel = sessions[PARALLEL]
    assert (parallel.tool_calls, parallel.tool_errors, parallel.project) == (2, 1, UNICODE_DIR)
    # Resumed on another model: each call priced at its own (assert_matches checks the cost).
    assert set(sessions[PARENT].models) == {"claude-opus-5-5", "claude-sonnet-4-6"}


def test_claude_codes_reported_cost_is_its_own_and_never_a_forks_inherited_total() -> None:
    sessions = snapshot([lambda ledger: feed(ledger, transcript_files(PROJECTS))])
    results = [json.loads(line) for line in (CORPUS / "results.jsonl").read_text().splitlines()]
    latest = {r["session_id"]: r["total_cost_usd"] for r in results}  # cumulative: the last one
    for session_id, stats in sessions.items():
        if session_id in FORKS:  # its cost-state starts from the parent's total
            assert stats.reported_cost_usd is None
        else:
            assert stats.reported_cost_usd == pytest.approx(latest[session_id], abs=1e-9)
        if not stats.excludes_unlogged_calls and session_id not in FORKS:
            assert stats.tokens.cost_usd == pytest.approx(latest[session_id], abs=1e-6)


def test_the_write_split_is_one_figure_from_transcripts_and_from_telemetry() -> None:
    files = transcript_files(PROJECTS)
    batches = telemetry()
    from_files = snapshot([lambda ledger: feed(ledger, files)])
    from_otlp = snapshot(list(map(_ingest, batches)))
    truth = billed(with_compactions=True)
    for session_id, stats in from_otlp.items():
        if session_id not in truth:
            continue
        expected = truth[session_id]
        assert stats.cache_creation_1h_tokens == expected.write_1h_tokens
        assert stats.cache_creation_5m_tokens == expected.cache_creation_tokens - expected.write_1h_tokens
        cache = stats.cache
        assert cache is None or (cache.write_5m_tokens, cache.write_1h_tokens) == (
            stats.cache_creation_5m_tokens, stats.cache_creation_1h_tokens)
    assert from_files[PARENT].cache_creation_1h_tokens == truth[PARENT].write_1h_tokens > 0


def run_once(root: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP"))}
    done = subprocess.run(
        [sys.executable, "-m", "cctop", "--once", "--json", "--claude-dir", str(root.parent), *args],
        capture_output=True, check=True, timeout=120, env=env,
    )  # fmt: skip
    doc = json.loads(done.stdout)
    return {s["id"]: s for s in doc["sessions"]}


def test_the_stores_saved_figures_follow_evidence_that_arrives_later(tmp_path) -> None:
    """2.1.197-style files: the fork is read alone first (its copied history has no other
    owner yet), then the parent's file appears: the calls move, and a warm --once says so."""
    root = as_2_1_197(tmp_path)
    parent_file = next(root.glob(f"*/{PARENT}.jsonl"))
    held_back = tmp_path / "parent.jsonl"
    shutil.move(parent_file, held_back)
    store = str(tmp_path / "store.sqlite3")
    before = run_once(root, "--store", store)
    assert before[FORK_BEFORE]["requests"] > billed()[FORK_BEFORE].requests  # owns the copies
    shutil.move(held_back, parent_file)
    after = run_once(root, "--store", store)
    again = run_once(root, "--store", store)  # the saved aggregates, unchanged tree
    fresh = run_once(root, "--no-store")
    assert after == again == fresh
    truth = billed(with_compactions=False)
    for session_id in (PARENT, FORK_BEFORE, FORK_AFTER):
        assert after[session_id]["requests"] == truth[session_id].requests
        assert after[session_id]["cost_usd"] == pytest.approx(truth[session_id].cost_usd, abs=1e-6)
    assert after[FORK_BEFORE]["forked_from"] == PARENT
    assert after[COMPACTED]["excludes_unlogged_calls"] and after[COMPACTED]["unlogged_compactions"] == 1


def test_a_fork_file_read_in_two_parts_knows_its_copies_the_second_time(tmp_path) -> None:
    """The store holds the first part of a fork's file; the rest is read by a new process,
    which learns from the file's first lines when the fork began (2.1.197-style lines)."""
    root = as_2_1_197(tmp_path)
    fork = next(root.glob(f"*/{FORK_BEFORE}.jsonl"))
    lines = fork.read_bytes().splitlines(keepends=True)
    cut = next(i for i, raw in enumerate(lines) if b'"assistant"' in raw) + 1  # one copied call in
    fork.write_bytes(b"".join(lines[:cut]))
    store = str(tmp_path / "store.sqlite3")
    run_once(root, "--store", store)
    with open(fork, "ab") as handle:
        handle.write(b"".join(lines[cut:]))
    grown = run_once(root, "--store", store)
    assert grown == run_once(root, "--no-store")
    assert grown[FORK_BEFORE]["requests"] == billed()[FORK_BEFORE].requests


def test_both_versions_of_claude_code_read_together() -> None:
    """The real 2.1.197 and 2.1.332 samples in one ledger: Claude Code's own totals, and the
    2.1.332 fork, compaction, retry and background-agent cases (samples README)."""
    both = ledger_for(REAL_CC / "projects", SAMPLES / "claude-code-2.1.332" / "claude" / "projects")
    sessions = both.snapshot(NOW).sessions
    for session_id, cost in REAL_CC_COSTS.items():
        assert sessions[session_id].tokens.cost_usd == pytest.approx(cost, abs=1e-6)
    by_prefix = {session_id[:8]: stats for session_id, stats in sessions.items()}
    # tools then resume: five calls, $0.1941; its fork two, $0.0876, and not the parent's total.
    parent, fork = by_prefix["f6056dd3"], by_prefix["4d8819dc"]
    assert (parent.tokens.requests, round(parent.tokens.cost_usd, 4)) == (5, 0.1941)
    assert (fork.tokens.requests, round(fork.tokens.cost_usd, 4)) == (2, 0.0876)
    assert fork.forked_from == parent.id and fork.reported_cost_usd is None
    assert parent.reported_cost_usd == pytest.approx(parent.tokens.cost_usd, abs=1e-6)
    # /compact: its call is in cost-state only; cctop says its own figure leaves it out.
    compacted = by_prefix["1d76493a"]
    assert compacted.excludes_unlogged_calls and round(compacted.reported_cost_usd, 4) == 0.1097
    # a 529 retried, a fatal 403 (<synthetic>), a background agent's <task-notification>.
    assert (by_prefix["b224a488"].api_errors, by_prefix["b224a488"].tokens.requests) == (1, 2)
    assert (by_prefix["8d2f9178"].api_errors, by_prefix["8d2f9178"].tokens.requests) == (1, 0)
    assert by_prefix["a5555d6f"].prompts == 1
    assert by_prefix["21048aea"].cache_creation_1h_tokens == 16174
    assert by_prefix["c95b4c03"].web_search_requests == 4


def test_every_reading_order_of_the_fork_family_gives_the_same_owners(tmp_path) -> None:
    files = [f for f in transcript_files(as_2_1_197(tmp_path)) if f.role.session_id in (PARENT, *FORKS)]
    answers = set()
    for order in itertools.permutations(files):
        sessions = snapshot([lambda ledger, order=order: feed(ledger, order)])
        figures = ((s.id, s.tokens.requests, s.tool_calls, s.prompts) for s in sessions.values())
        answers.add(tuple(sorted(figures)))
    assert len(answers) == 1


def test_telemetry_says_which_subagent_made_a_call() -> None:
    """2.1.332's api_request carries agent_id: the subagents' calls are theirs over OTLP alone,
    as in their transcripts."""
    from_otlp = snapshot(list(map(_ingest, telemetry())))[AGENT]
    from_files = snapshot([lambda ledger: feed(ledger, transcript_files(PROJECTS))])[AGENT]
    per_agent = {a.agent_id: a.requests for a in from_files.subagents}
    assert len(per_agent) == 2 and all(n == 2 for n in per_agent.values())
    assert {a.agent_id: a.requests for a in from_otlp.subagents} == per_agent


def test_once_joins_kept_telemetry_and_every_call_counts_once_with_its_maker(tmp_path) -> None:
    """Telemetry a live ``cctop --otlp`` kept in the store, joined by ``--once`` to the
    transcripts (stored first, warm after): the /compact calls count, nothing twice."""
    store = tmp_path / "store.sqlite3"
    root = tmp_path / "claude" / "projects"
    shutil.copytree(PROJECTS, root)
    first = run_once(root, "--store", str(store))  # transcripts only: marked, not joined
    assert first[COMPACTED]["excludes_unlogged_calls"] is True
    archive_capture(store, CORPUS / "otlp-http-json-capture.jsonl")
    joined = run_once(root, "--store", str(store))
    truth = billed(with_compactions=True)
    for session_id, expected in truth.items():
        assert joined[session_id]["requests"] == expected.requests, session_id
        assert joined[session_id]["cost_usd"] == pytest.approx(expected.cost_usd, abs=1e-6)
    assert joined[COMPACTED]["excludes_unlogged_calls"] is False
    assert joined[FORK_BEFORE]["forked_from"] == joined[FORK_AFTER]["forked_from"] == PARENT
    assert run_once(root, "--store", str(store)) == joined
