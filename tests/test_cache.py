"""Cache intelligence: transcripts built for each break cause (and for non-breaks) go through
the real parser and Ledger; dollars are computed by hand from the packaged price table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from cctop.model.cache import (
    CAUSES,
    TTL_1H,
    TTL_5M,
    CacheSummary,
    analyze_requests,
    make_summarizer,
    summarize,
)
from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall, Source
from cctop.model.snapshot import PricedCall
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_all

REPO = Path(__file__).resolve().parents[1]
SPOTTER = REPO / "tests" / "samples" / "claude-jsonl"
BOOK = packaged_pricebook()
M = 1e-6  # $/MTok -> $/token
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc).timestamp()
SID = "11111111-2222-3333-4444-555555555555"
OPUS, SONNET, HAIKU = "claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5"


# -- transcript builders --------------------------------------------------------------


def _iso(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


class Transcript:
    """Lines of one session: main-chain and subagent files under <tmp>/projects/-home-dev-proj/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str | None, list[dict[str, Any]]] = {}
        self.count = 0

    def call(
        self,
        at: float,
        *,
        read: int = 0,
        w5m: int = 0,
        w1h: int = 0,
        input_tokens: int = 3,
        model: str = OPUS,
        agent: str | None = None,
        split: bool = True,
    ) -> None:
        self.count += 1
        usage: dict[str, Any] = {
            "input_tokens": input_tokens,
            "output_tokens": 50,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": w5m + w1h,
        }
        if split:
            usage["cache_creation"] = {"ephemeral_5m_input_tokens": w5m, "ephemeral_1h_input_tokens": w1h}
        self.files.setdefault(agent, []).append(
            {
                "type": "assistant",
                "sessionId": SID,
                "timestamp": _iso(at),
                "cwd": "/home/dev/proj",
                "isSidechain": agent is not None,
                "uuid": f"u{self.count}",
                "requestId": f"req_{self.count}",
                "message": {
                    "id": f"msg_{self.count}",
                    "model": model,
                    "role": "assistant",
                    "stop_reason": "end_turn",
                    "content": [{"type": "text", "text": "ok"}],
                    "usage": usage,
                },
            }
        )

    def compact(self, at: float) -> None:
        self.files.setdefault(None, []).append(
            {
                "type": "system",
                "subtype": "compact_boundary",
                "sessionId": SID,
                "timestamp": _iso(at),
                "uuid": f"c{at}",
                "compactMetadata": {"trigger": "auto", "preTokens": 150_000},
            }
        )

    def write(self) -> Path:
        project = self.root / "projects" / "-home-dev-proj"
        for agent, lines in self.files.items():
            path = project / (f"{SID}.jsonl" if agent is None else f"{SID}/subagents/agent-{agent}.jsonl")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return self.root


def _ledger(*roots: Path) -> Ledger:
    ledger = Ledger(BOOK, cache_summarizer=make_summarizer(BOOK))
    warnings: list[str] = []
    files = [f for root in roots for f in find_transcripts(root / "projects", warnings.append)]
    read_all(files, warnings.append, ledger.ingest)
    assert not warnings
    return ledger


def _summary(transcript: Transcript, now: float | None = None) -> CacheSummary:
    ledger = _ledger(transcript.write())
    cache = ledger.snapshot(now=now or T0 + 86_400).sessions[SID].cache
    assert isinstance(cache, CacheSummary)
    return cache


def _requests(transcript: Transcript):
    ledger = _ledger(transcript.write())
    detail = ledger.session_detail(SID)
    assert detail is not None
    return detail.calls, analyze_requests(detail.calls, detail.compaction_times, BOOK.rates_for)


# -- one scenario per cause -------------------------------------------------------------


def test_ttl_expired_after_five_minutes_of_5m_writes(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w5m=20_000, input_tokens=10)
    t.call(60, read=20_000, w5m=2_000, input_tokens=10)
    t.call(460, w5m=23_000, input_tokens=10)  # 400 s later: the 5m cache is gone
    s = _summary(t)
    assert [b.cause for b in s.breaks] == ["ttl_expired"]
    brk = s.breaks[0]
    # 22,000 tokens had been cached; the rest of the 23,000 written is new content.
    assert brk.tokens == 22_000
    assert brk.agent_id is None
    assert brk.timestamp == pytest.approx(T0 + 460)
    assert brk.extra_cost_usd == pytest.approx(22_000 * (6.25 - 0.50) * M)  # $0.1265
    assert s.break_cost_usd == pytest.approx(0.1265)
    assert s.saved_usd == pytest.approx(20_000 * (5.00 - 0.50) * M)  # $0.09
    assert s.hit_rate == pytest.approx(20_000 / (30 + 20_000 + 45_000))
    assert s.breaks_by_cause == {"ttl_expired": 1, "model_changed": 0, "compacted": 0, "prefix_changed": 0}
    assert (s.write_5m_tokens, s.write_1h_tokens) == (45_000, 0)


def test_1h_writes_survive_five_minutes_and_expire_after_an_hour(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=30_000)
    t.call(400, read=30_000, w1h=1_000)  # 400 s gap: fine for a 1h cache
    t.call(4_400, w1h=32_000)  # 4,000 s gap: expired
    s = _summary(t)
    assert [b.cause for b in s.breaks] == ["ttl_expired"]
    assert s.breaks[0].tokens == 31_000
    assert s.breaks[0].extra_cost_usd == pytest.approx(31_000 * (10.00 - 0.50) * M)  # $0.2945
    assert (s.write_5m_tokens, s.write_1h_tokens) == (0, 63_000)
    assert s.ttl_seconds == TTL_1H


def test_model_changed(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=40_000)
    t.call(30, w1h=41_000, model=SONNET)  # /model sonnet: its cache starts empty
    s = _summary(t)
    assert [b.cause for b in s.breaks] == ["model_changed"]
    assert s.breaks[0].tokens == 40_000
    # Priced at the new model's rates: 1h write $6.00 against a $0.30 read.
    assert s.breaks[0].extra_cost_usd == pytest.approx(40_000 * (6.00 - 0.30) * M)  # $0.228


def test_ttl_wins_over_model_change(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w5m=40_000)
    t.call(1_000, w5m=41_000, model=SONNET)
    assert [b.cause for b in _summary(t).breaks] == ["ttl_expired"]


def test_compacted(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=50_000)
    t.call(20, read=50_000, w1h=2_000)
    t.call(30, read=52_000, w5m=300, agent="acompact-1a2b3c")  # the summarising call
    t.compact(40)
    # The system prompt and tools stay cached; the summary is written anew.
    t.call(50, read=15_000, w1h=6_000, input_tokens=5)
    s = _summary(t)
    assert [b.cause for b in s.breaks] == ["compacted"]
    brk = s.breaks[0]
    assert brk.tokens == 6_005
    assert brk.extra_cost_usd == pytest.approx(6_000 * (10.00 - 0.50) * M + 5 * (5.00 - 0.50) * M)


def test_prefix_changed(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=30_000)
    t.call(10, read=30_000, w1h=500)
    t.call(20, read=20_000, w1h=11_000)  # e.g. the tool list changed: 10,500 cached tokens lost
    s = _summary(t)
    assert [b.cause for b in s.breaks] == ["prefix_changed"]
    assert s.breaks[0].tokens == 10_500
    assert s.breaks[0].extra_cost_usd == pytest.approx(10_500 * (10.00 - 0.50) * M)  # $0.09975


def test_a_fresh_cache_read_back_under_half_is_a_break(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w5m=20_000)
    t.call(10, read=9_000, w5m=11_500)  # 11,000 of the 20,000 just written were not reused
    t.call(20, read=20_500, w5m=500)
    s = _summary(t)
    assert [(b.cause, b.tokens, b.timestamp) for b in s.breaks] == [("prefix_changed", 11_000, T0 + 10)]
    assert s.break_cost_usd == pytest.approx(11_000 * (6.25 - 0.50) * M)


def test_a_fresh_cache_read_back_over_half_is_a_dip(tmp_path: Path) -> None:
    # The shape of Claude Code 2.1.197's second request: 13,405 of the 19,054 tokens written.
    t = Transcript(tmp_path)
    t.call(0, w5m=19_054)
    t.call(10, read=13_405, w5m=5_725)
    assert _summary(t).breaks == ()


def test_subagent_break_is_its_own(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=40_000)
    t.call(10, w5m=12_000, agent="a1b2c3")
    t.call(20, read=12_000, w5m=1_000, agent="a1b2c3")
    t.call(30, read=40_000, w1h=500)
    t.call(420, w5m=14_000, agent="a1b2c3")  # 400 s: the subagent's 5m cache expired
    t.call(430, read=40_500, w1h=500)  # the main chain's 1h cache did not
    s = _summary(t)
    assert [(b.cause, b.agent_id) for b in s.breaks] == [("ttl_expired", "a1b2c3")]
    assert s.breaks[0].tokens == 13_000
    assert s.breaks[0].extra_cost_usd == pytest.approx(13_000 * (6.25 - 0.50) * M)


# -- non-breaks --------------------------------------------------------------------------


def test_first_request_and_new_subagent_are_not_breaks(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=40_000)  # first request of the session
    t.call(5, w5m=12_000, agent="a1b2c3")  # first request of a subagent: nothing to read yet
    t.call(6, w5m=9_000, agent="d4e5f6")  # and of another one
    t.call(10, read=40_000, w1h=800)
    s = _summary(t)
    assert s.breaks == ()
    assert s.break_cost_usd == 0.0
    assert sum(s.breaks_by_cause.values()) == 0


def test_small_dips_are_not_breaks(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=100_000)
    t.call(10, read=100_000, w1h=5_000)
    t.call(20, read=100_000, w1h=6_000)  # skipped the previous write (a moved breakpoint)
    t.call(30, read=105_500, w1h=700)
    t.call(40, read=100_000, w1h=7_000)  # 5,500 under the last read: about 5%
    t.call(50, read=106_000, w1h=1_000)
    calls, requests = _requests(t)
    assert [r.cache_break for r in requests] == [None] * 6
    assert _summary(t).breaks == ()


def test_a_cache_too_small_to_matter_never_breaks(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w5m=1_000)
    t.call(1_000, w5m=1_020)  # expired, but at most 1,024 tokens were ever cached
    assert _summary(t).breaks == ()


def test_side_call_on_another_model_neither_breaks_nor_resets(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=40_000)
    t.call(5, input_tokens=400, model=HAIKU)  # a small background query
    t.call(10, read=40_000, w1h=600)
    assert _summary(t).breaks == ()


# -- per-request figures -----------------------------------------------------------------


def test_per_request_figures(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=30_000, w5m=1_000, input_tokens=10)
    t.call(10, read=31_000, w1h=500, input_tokens=10)
    t.call(20, read=20_000, w1h=11_500, input_tokens=10)
    calls, requests = _requests(t)
    assert len(requests) == len(calls) == 3
    first, second, third = requests
    assert (first.read_tokens, first.write_tokens, first.uncached_tokens) == (0, 31_000, 10)
    assert first.hit_rate == 0.0
    assert first.saved_usd == 0.0
    assert first.write_premium_usd == pytest.approx(1_000 * (6.25 - 5.00) * M + 30_000 * (10.00 - 5.00) * M)
    assert second.hit_rate == pytest.approx(31_000 / 31_510)
    assert second.saved_usd == pytest.approx(31_000 * 4.50 * M)
    assert second.write_premium_usd == pytest.approx(500 * 5.00 * M)
    assert first.cache_break is None and second.cache_break is None
    assert third.cache_break is not None and third.cache_break.cause == "prefix_changed"
    assert third.cache_break.tokens == 11_500


def _priced(model: str, at: float | None, **usage: int) -> PricedCall:
    call = ApiCall(SID, usage.pop("agent", None), model, None, None, at, **usage)
    return PricedCall(call, BOOK.price(call), None, frozenset({Source.OTLP}))


def test_unknown_model_has_no_dollars_and_is_left_out_of_sums() -> None:
    calls = [
        _priced(OPUS, T0, cache_creation_tokens=20_000),
        _priced(OPUS, T0 + 10, cache_read_tokens=20_000, cache_creation_tokens=100),
        _priced("mystery-model-9", T0 + 20, cache_read_tokens=20_100, cache_creation_tokens=100),
    ]
    requests = analyze_requests(calls, [], BOOK.rates_for)
    assert requests[2].saved_usd is None and requests[2].write_premium_usd is None
    assert requests[2].hit_rate == pytest.approx(20_100 / 20_200)
    s = summarize(calls, [], BOOK.rates_for, T0 + 30)
    assert s.saved_usd == pytest.approx(20_000 * 4.50 * M)


def test_break_on_unknown_model_counts_without_dollars() -> None:
    calls = [
        _priced("mystery-model-9", T0, cache_creation_tokens=20_000),
        _priced("mystery-model-9", T0 + 900, cache_creation_tokens=20_500),
    ]
    s = summarize(calls, [], BOOK.rates_for, T0)
    assert [(b.cause, b.tokens, b.extra_cost_usd) for b in s.breaks] == [("ttl_expired", 20_000, None)]
    assert s.break_cost_usd == 0.0
    assert s.rewrite_cost_usd is None


def test_telemetry_without_split_learns_1h_from_a_cache_that_outlived_5_minutes() -> None:
    # OTLP gives only the total written: 5m is assumed until a read after 10 minutes proves 1h.
    calls = [
        _priced(OPUS + "[1m]", T0, cache_creation_tokens=30_000),
        _priced(OPUS, T0 + 600, cache_read_tokens=30_000, cache_creation_tokens=500),
        _priced(OPUS + "[1m]", T0 + 1_800, cache_read_tokens=30_500, cache_creation_tokens=500),
    ]
    s = summarize(calls, [], BOOK.rates_for, T0, model_key=BOOK.normalize)
    assert s.breaks == ()  # and "[1m]" is the same model, not a model change
    assert s.ttl_seconds == TTL_1H
    assert make_summarizer(BOOK).summarize(calls, [], T0).breaks == ()


def test_synthetic_and_empty_calls_are_skipped() -> None:
    calls = [
        _priced(OPUS, T0, cache_creation_tokens=20_000),
        _priced("<synthetic>", T0 + 5),
        _priced(OPUS, T0 + 10, cache_read_tokens=20_000, cache_creation_tokens=200),
    ]
    requests = analyze_requests(calls, [], BOOK.rates_for)
    assert requests[1].hit_rate is None and requests[1].cache_break is None
    assert summarize(calls, [], BOOK.rates_for, T0).breaks == ()


def test_recent_hit_rate_covers_the_last_ten_requests() -> None:
    calls = [_priced(OPUS, T0, cache_creation_tokens=50_000)]
    calls += [_priced(OPUS, T0 + i, cache_read_tokens=50_000, input_tokens=100 * i) for i in range(1, 13)]
    s = summarize(calls, [], BOOK.rates_for, T0)
    # The last ten are i = 3..12: 100 x 75 uncached tokens beside 500,000 read.
    assert s.hit_rate_recent == pytest.approx(500_000 / 507_500)
    assert s.hit_rate == pytest.approx(600_000 / (600_000 + 7_800 + 50_000))


# -- TTL countdown, rewrite cost and JSON ------------------------------------------------


def test_countdown_and_rewrite_cost(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w5m=20_000)
    t.call(100, read=20_000, w5m=1_500)
    t.call(200, w5m=8_000, agent="a1b2c3")  # subagents do not move the main chain's clock
    s = _summary(t, now=T0 + 160)
    assert s.last_request_ts == pytest.approx(T0 + 100)
    assert s.ttl_seconds == TTL_5M
    assert s.expires_at == pytest.approx(T0 + 400)
    assert s.seconds_left(T0 + 160) == pytest.approx(240)
    assert s.seconds_left(T0 + 500) == 0.0
    assert s.rewrite_cost_usd == pytest.approx(21_500 * 6.25 * M)
    doc = s.to_json()
    assert doc["expires_at"] == "2026-11-20T10:06:40.000Z"
    assert doc["hit_rate_recent"] == pytest.approx(s.hit_rate_recent)


def test_rewrite_cost_of_a_1h_cache_uses_the_1h_rate(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=60_000)
    t.call(30, read=60_000, w1h=4_000)
    s = _summary(t)
    assert s.expires_at == pytest.approx(T0 + 30 + 3600)
    assert s.rewrite_cost_usd == pytest.approx(64_000 * 10.00 * M)  # $0.64


def test_to_json_shape(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w5m=20_000)
    t.call(400, w5m=21_000)
    doc = _summary(t).to_json()
    for key in ("hit_rate_recent", "saved_usd", "break_cost_usd", "write_5m_tokens", "write_1h_tokens"):
        assert key in doc
    assert doc["breaks"] == [
        {
            "timestamp": "2026-11-20T10:06:40.000Z",
            "agent_id": None,
            "cause": "ttl_expired",
            "tokens": 20_000,
            "extra_cost_usd": pytest.approx(20_000 * 5.75 * M),
        }
    ]
    assert set(doc["breaks_by_cause"]) == set(CAUSES)
    json.dumps(doc)  # plain JSON types only


# -- real samples and the CLI ------------------------------------------------------------


def _spotter(tmp_path: Path) -> Path:
    shutil.copytree(
        SPOTTER, tmp_path / "projects" / "-home-marco-spotter", ignore=shutil.ignore_patterns("*.md")
    )
    return tmp_path


def test_real_samples_main_agent_writes_are_1h(tmp_path: Path) -> None:
    snapshot = _ledger(_spotter(tmp_path)).snapshot()
    for name in ("subagent", "tool_heavy"):
        stats = snapshot.sessions[name]
        cache = stats.cache
        assert isinstance(cache, CacheSummary)
        assert cache.write_1h_tokens == stats.tokens.cache_creation_tokens > 0
        assert cache.write_5m_tokens == 0
        assert cache.ttl_seconds == TTL_1H
        assert cache.expires_at == pytest.approx(stats.last_ts + TTL_1H, abs=600)
    # The subagents of the other session wrote 5m.
    other = snapshot.sessions["ae4a77f8-aedd-4bc1-888f-c94edc91af04"].cache
    assert isinstance(other, CacheSummary)
    assert other.write_1h_tokens == 0 and other.write_5m_tokens > 0


def test_real_sample_mcp_reconnect_is_a_prefix_change(tmp_path: Path) -> None:
    # tool_heavy.jsonl: after "/mcp" reconnected a server, the next request read only the
    # system-prompt part (18,014 of 25,798 + 208 cached tokens) and re-wrote the rest.
    cache = _ledger(_spotter(tmp_path)).snapshot().sessions["tool_heavy"].cache
    assert isinstance(cache, CacheSummary)
    assert [(b.cause, b.tokens) for b in cache.breaks] == [("prefix_changed", 25_798 + 208 - 18_014)]
    assert cache.break_cost_usd == pytest.approx(7_992 * (10.00 - 0.50) * M)  # claude-opus-4-6
    subagent = _ledger(tmp_path).snapshot().sessions["subagent"].cache
    assert isinstance(subagent, CacheSummary)
    assert subagent.breaks == ()


def test_once_json_carries_the_cache_object(tmp_path: Path) -> None:
    t = Transcript(tmp_path)
    t.call(0, w1h=40_000)
    t.call(30, read=40_000, w1h=1_000)
    t.call(4_000, w1h=42_000)
    t.write()
    out = subprocess.run(
        [sys.executable, "-m", "cctop", "--once", "--json", "--no-store", "--claude-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    (session,) = json.loads(out.stdout)["sessions"]
    cache = session["cache"]
    assert cache["write_1h_tokens"] == 83_000
    assert cache["saved_usd"] == pytest.approx(40_000 * 4.50 * M)
    assert cache["break_cost_usd"] == pytest.approx(41_000 * 9.50 * M)
    assert [b["cause"] for b in cache["breaks"]] == ["ttl_expired"]
    assert cache["breaks"][0]["timestamp"] == "2026-11-20T11:06:40.000Z"
    assert cache["expires_at"] == "2026-11-20T12:06:40.000Z"


# -- telemetry-only sessions ---------------------------------------------------------------

CAPTURE = REPO / "tests" / "samples" / "claude-code-2.1.197" / "otlp-http-json-capture.jsonl"


def test_telemetry_only_subagent_calls_in_the_main_chain_are_not_breaks() -> None:
    # The real capture: its subagent calls (read 0, 11,283 written) come between main-chain
    # calls that had 19,054 tokens cached. 2.1.197 names the agent; without that attribute
    # (stripped here) they would land in the main chain and must not look like breaks.
    from cctop.sources.otlp.codec import SIGNALS, parse_json
    from cctop.sources.otlp.decode import OtlpDecoder

    decoder = OtlpDecoder()
    records: list = []
    for text in CAPTURE.read_text().splitlines():
        line = json.loads(text)
        request = parse_json(SIGNALS[line["kind"]], json.dumps(line["body"]).encode())
        records += decoder.decode(line["kind"], request).records
    calls = sorted((r for r in records if isinstance(r, ApiCall)), key=lambda c: c.timestamp or 0.0)
    assert [c.agent_id is not None for c in calls] == [False, True, True, False, False]
    for agent_names in (True, False):
        ledger = Ledger(BOOK, cache_summarizer=make_summarizer(BOOK))
        ledger.ingest(
            r if agent_names or not isinstance(r, ApiCall) else replace(r, agent_id=None) for r in records
        )
        stats = ledger.snapshot().sessions["e59a59f8-31f3-403d-b973-b161a7430aad"]
        cache = stats.cache
        assert isinstance(cache, CacheSummary)
        assert cache.breaks == ()
        assert cache.write_5m_tokens == stats.tokens.cache_creation_tokens  # no split: priced as 5m
        assert cache.saved_usd == pytest.approx((8_242 + 13_457 + 13_510) * 4.50 * M)


def test_telemetry_only_call_that_resends_everything_is_still_a_break() -> None:
    calls = [
        _priced(OPUS, T0, cache_creation_tokens=30_000),
        _priced(OPUS, T0 + 10, input_tokens=2_000),  # a subagent's first call, maybe: not a break
        _priced(OPUS, T0 + 20, cache_read_tokens=30_000, cache_creation_tokens=1_000),
        _priced(OPUS, T0 + 30, cache_creation_tokens=31_500),  # everything resent: a break
    ]
    s = summarize(calls, [], BOOK.rates_for, T0)
    assert [(b.cause, b.tokens, b.timestamp) for b in s.breaks] == [("prefix_changed", 31_000, T0 + 30)]
