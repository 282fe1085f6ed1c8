"""Reading transcripts: dedupe, attribution, tools, titles, bad input; against real samples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path, PurePath

import orjson
import pytest
from helpers import (
    REAL_CC,
    REAL_CC_COSTS,
    SPOTTER,
    assistant,
    ledger_for,
    line,
    spotter_tree,
    tool_result,
    user_prompt,
    write_session,
)

from cctop.model.records import ApiCall
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import classify, find_transcripts, project_of
from cctop.sources.transcripts.jsonl import FileRole, TranscriptParser

SID = "11111111-2222-3333-4444-555555555555"


def _stats(root: Path, session: str = SID):
    return ledger_for(root / "projects").snapshot().sessions[session]


# -- real Claude Code output ---------------------------------------------------


def test_real_client_costs_match_claude_codes_own_total():
    snap = ledger_for(REAL_CC / "projects").snapshot()
    for session_id, expected in REAL_CC_COSTS.items():
        stats = snap.sessions[session_id]
        assert stats.cost_usd == pytest.approx(expected, abs=1e-6), session_id
        assert stats.tokens.requests == 3
        assert stats.tool_calls == 2
        assert stats.tool_errors == 0
        assert not stats.output_is_lower_bound  # 2.1.197 writes final usage with a stop_reason
    # The one with a subagent: the subagent's calls are the parent's spend.
    parent = snap.sessions["e59a59f8-31f3-403d-b973-b161a7430aad"]
    assert parent.subagent_count == 1
    assert parent.subagents[0].agent_type == "general-purpose"
    assert parent.tokens.requests == 3 + parent.subagents[0].requests
    assert parent.project == "proj1"


def test_real_client_tokens_are_exact():
    stats = ledger_for(REAL_CC / "projects").snapshot().sessions["2da9138a-9060-4234-9110-d4601e2b59d1"]
    # Summed by hand from the three responses (21/22/23 input, 67/68/56 output, ...).
    assert stats.tokens.input_tokens == 21 + 22 + 23
    assert stats.tokens.output_tokens == 67 + 68 + 56
    assert stats.tokens.cache_read_tokens == 0 + 13403 + 13456
    assert stats.tokens.cache_creation_tokens == 19058 + 5725 + 5747


def test_spotter_counts_from_the_sample_readme(tmp_path):
    snap = ledger_for(spotter_tree(tmp_path) / "projects").snapshot()
    # tool_heavy.jsonl: 4 API calls from 9 assistant lines; the partial line is superseded.
    assert snap.sessions["tool_heavy"].tokens.requests == 4
    # subagent.jsonl: 12 calls; its 19 agent_progress mirror lines add nothing.
    assert snap.sessions["subagent"].tokens.requests == 12
    # subagent + compaction files belong to their parent session and are real spend.
    parent = snap.sessions["ae4a77f8-aedd-4bc1-888f-c94edc91af04"]
    agents = {a.agent_id: a for a in parent.subagents}
    assert agents["aac57f5"].requests == 3
    assert agents["acompact-946d2b"].requests == 1 and agents["acompact-946d2b"].is_compaction
    assert parent.subagent_count == 1
    assert parent.tokens.cache_creation_tokens >= 121_689


def test_progress_mirrors_and_task_summaries_add_nothing():
    role = FileRole(session_id="subagent", agent_id=None)
    parser = TranscriptParser(role)
    records = parser.feed((SPOTTER / "subagent.jsonl").read_bytes())
    calls = [r for r in records if isinstance(r, ApiCall)]
    raw = [orjson.loads(x) for x in (SPOTTER / "subagent.jsonl").read_bytes().splitlines()]
    top_level_keys = {
        (o["message"]["id"], o.get("requestId")) for o in raw if o.get("type") == "assistant"
    }
    # One sighting per response among the top-level lines; nested mirrors add none.
    assert len(calls) == len(top_level_keys) == 12
    assert sum(1 for o in raw if o.get("type") == "progress") > 0


# -- dedupe and attribution ----------------------------------------------------


def test_lines_of_one_response_count_once_with_the_largest_output(tmp_path):
    write_session(tmp_path, "p", SID, [
        assistant(SID, "msg_a", "req_a", output_tokens=3, stop_reason=None),
        assistant(SID, "msg_a", "req_a", output_tokens=40, stop_reason="tool_use"),
        assistant(SID, "msg_a", "req_a", output_tokens=12, stop_reason=None),
    ])  # fmt: skip
    stats = _stats(tmp_path)
    assert stats.tokens.requests == 1
    assert stats.tokens.output_tokens == 40
    assert not stats.output_is_lower_bound


def test_output_is_flagged_as_lower_bound_without_a_final_line(tmp_path):
    write_session(tmp_path, "p", SID, [assistant(SID, "msg_a", "req_a", output_tokens=3, stop_reason=None)])
    assert _stats(tmp_path).output_is_lower_bound


def test_missing_request_id_falls_back_to_message_id(tmp_path):
    write_session(tmp_path, "p", SID, [
        assistant(SID, "msg_a", None, output_tokens=3),
        assistant(SID, "msg_a", None, output_tokens=9),
        assistant(SID, "msg_b", None, output_tokens=1),
    ])  # fmt: skip
    stats = _stats(tmp_path)
    assert stats.tokens.requests == 2
    assert stats.tokens.output_tokens == 10


def test_resumed_session_replaying_history_is_not_double_counted(tmp_path):
    original = [assistant(SID, "msg_a", "req_a", input_tokens=100), assistant(SID, "msg_b", "req_b")]
    write_session(tmp_path, "p", SID, original)
    resumed = "99999999-2222-3333-4444-555555555555"
    replay = [dict(o, sessionId=resumed) for o in original]
    write_session(tmp_path, "p", resumed, [*replay, assistant(resumed, "msg_c", "req_c")])
    snap = ledger_for(tmp_path / "projects").snapshot()
    assert snap.totals.all_time.requests == 3
    assert snap.sessions[SID].tokens.requests + snap.sessions[resumed].tokens.requests == 3


def test_reused_ids_with_different_usage_are_different_calls(tmp_path):
    other = "99999999-2222-3333-4444-555555555555"
    write_session(tmp_path, "p", SID, [assistant(SID, "msg_1", "req_1", input_tokens=21, cache_write=19058)])
    write_session(
        tmp_path, "p", other, [assistant(other, "msg_1", "req_1", input_tokens=21, cache_write=19054)]
    )
    snap = ledger_for(tmp_path / "projects").snapshot()
    assert snap.sessions[SID].tokens.requests == 1
    assert snap.sessions[other].tokens.requests == 1


def test_sidechain_replay_with_new_request_id_keeps_the_parent_copy(tmp_path):
    write_session(tmp_path, "p", SID, [assistant(SID, "msg_a", "req_a", output_tokens=50)])
    write_session(tmp_path, "p", f"{SID}/subagents/agent-btw1", [
        assistant(SID, "msg_a", "req_zzz", output_tokens=50, sidechain=True),
        assistant(SID, "msg_q", "req_q", output_tokens=7, sidechain=True),
    ])  # fmt: skip
    stats = _stats(tmp_path)
    assert stats.tokens.requests == 2
    assert stats.tokens.output_tokens == 57


def test_legacy_flat_agent_file_belongs_to_its_lines_session(tmp_path):
    write_session(tmp_path, "p", SID, [assistant(SID, "msg_a", "req_a")])
    write_session(tmp_path, "p", "agent-0abc", [assistant(SID, "msg_b", "req_b", sidechain=True)])
    stats = _stats(tmp_path)
    assert stats.tokens.requests == 2
    assert {a.agent_id for a in stats.subagents} == {"0abc"}


def test_workflow_agents_belong_to_their_session(tmp_path):
    write_session(tmp_path, "p", SID, [assistant(SID, "msg_a", "req_a")])
    write_session(
        tmp_path, "p", f"{SID}/subagents/workflows/run1/agent-w1", [assistant(SID, "msg_w", "req_w")]
    )
    write_session(
        tmp_path, "p", f"{SID}/subagents/workflows/run1/journal", [assistant(SID, "msg_j", "req_j")]
    )
    assert _stats(tmp_path).tokens.requests == 2  # journal.jsonl is lifecycle events, not a transcript


def test_classify_paths():
    assert classify(PurePath("-enc/abc.jsonl")) == FileRole("abc", None)
    assert classify(PurePath("-enc/agent-x1.jsonl")) == FileRole(None, "x1")
    assert classify(PurePath("-enc/abc/subagents/agent-acompact-1.jsonl")) == FileRole("abc", "acompact-1")
    assert classify(PurePath("-enc/abc/subagents/notes.jsonl")) is None
    assert classify(PurePath("-enc/abc/subagents/agent-1.meta.json")) is None
    assert classify(PurePath("top.jsonl")) is None


@pytest.mark.parametrize("relative", [False, True])
def test_a_files_project_is_its_first_directory_under_the_root(tmp_path, monkeypatch, relative):
    write_session(tmp_path, "-home-dev-a", "s-1", [assistant("s-1", "m1", "r1")])
    write_session(tmp_path, "-home-dev-a", "s-1/subagents/agent-x", [assistant("s-1", "m2", "r2")])
    write_session(tmp_path, "-home-dev-b", "agent-y", [assistant("s-2", "m3", "r3")])
    monkeypatch.chdir(tmp_path)
    root = Path("./projects/") if relative else tmp_path / "projects"
    files = list(find_transcripts(root, print))
    assert len(files) == 3
    for file in files:
        assert file.project == (str(root), Path(file.path).relative_to(root).parts[0])
        assert file.project == project_of(str(file.path), [root])
    assert {f.project[1] for f in files} == {"-home-dev-a", "-home-dev-b"}


def test_synthetic_lines_cost_nothing_and_count_as_errors(tmp_path):
    write_session(tmp_path, "p", SID, [
        assistant(SID, "msg_s", "req_s", model="<synthetic>", input_tokens=0, output_tokens=0,
                  isApiErrorMessage=True, error="rate_limit", apiErrorStatus=429),
    ])  # fmt: skip
    stats = _stats(tmp_path)
    assert stats.cost_usd == 0.0
    assert stats.api_errors == 1
    assert stats.models == ()


def test_unknown_model_is_unpriced_never_zero(tmp_path):
    write_session(tmp_path, "p", SID, [
        assistant(SID, "msg_a", "req_a", model="claude-opus-4-8"),
        assistant(SID, "msg_b", "req_b", model="gpt-9-turbo"),
    ])  # fmt: skip
    snap = ledger_for(tmp_path / "projects").snapshot()
    stats = snap.sessions[SID]
    assert stats.cost_usd is None
    assert stats.tokens.unpriced_requests == 1
    assert stats.tokens.cost_usd > 0  # the priced part is still known, shown as a lower bound
    assert any("gpt-9-turbo" in w for w in snap.warnings)


# -- tools, titles, prompts ----------------------------------------------------


def test_tool_calls_pair_with_results_and_errors(tmp_path):
    uses = [
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}},
        {"type": "tool_use", "id": "toolu_2", "name": "mcp__github__create_issue", "input": {}},
    ]
    write_session(tmp_path, "p", SID, [
        assistant(SID, "msg_a", "req_a", ts="2026-11-20T10:00:00.000Z", content=uses[:1]),
        assistant(SID, "msg_a", "req_a", ts="2026-11-20T10:00:00.000Z", content=uses[1:]),
        assistant(SID, "msg_a", "req_a", ts="2026-11-20T10:00:00.000Z", content=uses[:1]),  # duplicate line
        tool_result(SID, "toolu_1", is_error=True, ts="2026-11-20T10:00:02.500Z"),
        tool_result(SID, "toolu_2", ts="2026-11-20T10:00:01.000Z"),
    ])  # fmt: skip
    stats = _stats(tmp_path)
    assert stats.tool_calls == 2
    assert stats.tool_errors == 1
    tools = {t.name: t for t in stats.tools}
    assert tools["Bash"].errors == 1
    assert tools["Bash"].max_duration_ms == pytest.approx(2500)
    assert tools["mcp__github__create_issue"].mean_duration_ms == pytest.approx(1000)


def test_title_precedence_custom_over_ai_over_summary_over_prompt(tmp_path):
    base = [user_prompt(SID, "fix the   flaky\n test please"), assistant(SID, "m", "r")]
    write_session(tmp_path, "p", SID, base)
    assert _stats(tmp_path).title == "fix the flaky test please"
    write_session(tmp_path, "p", SID, [*base, {"type": "summary", "summary": "Flaky test fix"}])
    assert _stats(tmp_path).title == "Flaky test fix"
    write_session(tmp_path, "p", SID, [
        {"type": "custom-title", "customTitle": "mine", "sessionId": SID}, *base,
        {"type": "ai-title", "aiTitle": "AI title", "sessionId": SID},
    ])  # fmt: skip
    assert _stats(tmp_path).title == "mine"


def test_session_facts(tmp_path):
    write_session(tmp_path, "p", SID, [
        dict(user_prompt(SID, "hello", ts="2026-11-20T09:00:00.000Z"), gitBranch="main", version="2.1.197"),
        dict(assistant(SID, "m1", "r1", ts="2026-11-20T09:00:05.000Z", input_tokens=5, cache_read=1000),
             gitBranch="feature", version="2.1.197"),
    ])  # fmt: skip
    stats = _stats(tmp_path)
    assert (stats.cwd, stats.project, stats.git_branch, stats.version) == (
        "/home/dev/proj",
        "proj",
        "feature",
        "2.1.197",
    )
    assert stats.last_ts - stats.first_ts == pytest.approx(5)
    assert stats.prompts == 1
    assert stats.context_tokens == 1005
    assert stats.context_window == 1_000_000  # Opus 4.8: Claude Code gives it 1M (prices.toml)


# -- bad input -----------------------------------------------------------------


def test_malformed_truncated_and_odd_lines_are_skipped_and_counted(tmp_path):
    good = line(assistant(SID, "msg_a", "req_a"))
    path = tmp_path / "projects" / "p" / f"{SID}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        b'{"type":"assistant", not json\n'
        + good
        + b'["assistant"]\n'
        + b'{"type":"assistant","message":null,"sessionId":"x"}\n'
        + b'{"type":"assistant","message":{"usage":{"input_tokens":"lots"}}}\n'
        + b"\xff\xfe garbage user\n"
        + good[: len(good) // 2]  # a half-written last line, no newline
    )
    snap = ledger_for(tmp_path / "projects").snapshot()
    assert snap.sessions[SID].tokens.requests == 2  # msg_a, plus the message with no id counted once
    assert any("malformed" in w for w in snap.warnings)


def test_a_50_mb_line_is_read_without_trouble(tmp_path):
    huge = {"type": "user", "sessionId": SID, "timestamp": "2026-11-20T10:00:00Z",
            "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "x" * 50_000_000}]}}  # fmt: skip
    path = write_session(tmp_path, "p", SID, [assistant(SID, "m", "r"), huge, assistant(SID, "m2", "r2")])
    assert path.stat().st_size > 50_000_000
    stats = _stats(tmp_path)
    assert stats.tokens.requests == 2


def test_model_layer_imports_no_ui_or_io_frameworks():
    code = (
        "import sys, cctop.model.ledger, cctop.model.pricing, cctop.model.snapshot, cctop.model.records\n"
        "bad = [m for m in ('textual', 'rich', 'sqlite3', 'watchdog') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pricebook_prices_what_the_parser_produces():
    book = packaged_pricebook()
    records = TranscriptParser(FileRole("s", None)).feed(line(assistant("s", "m", "r", write_1h=0)))
    assert book.price(records[-1]) == pytest.approx((10 * 5 + 5 * 25) / 1e6)


def test_timestamps_parse_like_datetime_on_the_fast_path_and_off_it() -> None:
    import random
    from datetime import datetime, timezone

    from cctop.sources.transcripts.jsonl import parse_timestamp

    rng = random.Random(7)
    for _ in range(2000):
        moment = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + rng.uniform(0, 3e7)
        stamp = datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"
        expected = datetime.fromisoformat(stamp[:-1] + "+00:00").timestamp()
        assert parse_timestamp(stamp) == pytest.approx(expected, abs=1e-6), stamp
    assert parse_timestamp("2026-11-20T10:00:59.999Z") == pytest.approx(
        datetime(2026, 11, 20, 10, 0, 59, 999000, tzinfo=timezone.utc).timestamp()
    )
    eight_utc = datetime(2026, 11, 20, 8, tzinfo=timezone.utc).timestamp()
    assert parse_timestamp("2026-11-20T10:00:00+02:00") == eight_utc
    leap, arabic, month13 = "2026-11-20T10:00:60.000Z", "2026-11-20T10:00:٣٣.000Z", "2026-13-20T10:00:00.000Z"
    for bad in (leap, arabic, month13, "", "soon", 5):
        assert parse_timestamp(bad) is None, bad
