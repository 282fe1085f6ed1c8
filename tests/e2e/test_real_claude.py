"""The real Claude Code CLI against a fake Messages API: cctop must agree with Claude Code itself.

Claude Code prints its own ``total_cost_usd`` and per-model usage with ``--output-format json``;
those are the ground truth here, compared with what cctop makes of the transcripts Claude Code
wrote and of the OTLP telemetry it sent. The usage numbers are chosen by the script below
(1h and 5m cache writes, web searches, a subagent, a failing tool, two models, a resume).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall, Record, Source
from cctop.model.snapshot import SessionStats
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_file

from .fake_api import FakeAnthropicApi, Script, Text, ToolCall, Turn, Usage
from .harness import ClaudeHome, cctop_once, otlp_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

TOLERANCE_USD = 1e-6
MISSING_FILE = "/nonexistent/cctop-e2e/missing.txt"

SCRIPTS = {
    # Main chain: a Bash call, a failing Read, a subagent, then an answer with web searches.
    "tools": Script([
        Turn([Text("Checking."), ToolCall("Bash", {"command": "echo hi", "description": "say hi"})],
             Usage(input_tokens=21, output_tokens=67, cache_5m=1054, cache_1h=18000)),
        Turn([ToolCall("Read", {"file_path": MISSING_FILE})],
             Usage(input_tokens=4, output_tokens=35, cache_read=19054, cache_1h=320)),
        Turn([ToolCall("Agent", {"description": "look around", "prompt": "<<e2e:sub>> look around",
                                 "subagent_type": "general-purpose"})],
             Usage(input_tokens=6, output_tokens=88, cache_read=19374, cache_5m=410)),
        Turn([Text("All done.")],
             Usage(input_tokens=3, output_tokens=52, cache_read=19784, cache_5m=140, web_searches=2)),
    ]),
    "sub": Script([
        Turn([ToolCall("Bash", {"command": "echo sub", "description": "say sub"})],
             Usage(input_tokens=9, output_tokens=31, cache_5m=4100)),
        Turn([Text("Looked around.")], Usage(input_tokens=2, output_tokens=17, cache_read=4100, cache_1h=60)),
    ]),
    # The same session resumed on another model.
    "resumed": Script([
        Turn([ToolCall("Bash", {"command": "echo again", "description": "say again"})],
             Usage(input_tokens=5, output_tokens=40, cache_read=18000, cache_1h=900)),
        Turn([Text("Again done.")],
             Usage(input_tokens=2, output_tokens=12, cache_read=18900, web_searches=1)),
    ]),
    # A second session on a third model.
    "second": Script([
        Turn([Text("Hello from a small model.")],
             Usage(input_tokens=30, output_tokens=25, cache_5m=5000, cache_1h=1000, web_searches=1)),
    ]),
}


@dataclass
class Expected:
    """One session's truth: Claude Code's own figures summed over the runs that made it."""

    session_id: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    requests: int

    @classmethod
    def of(cls, results: Sequence[dict[str, Any]], api: FakeAnthropicApi, scripts: Iterable[str]) -> Expected:
        session_ids = {r["session_id"] for r in results}
        assert len(session_ids) == 1, f"runs belong to several sessions: {session_ids}"
        # Since 2.1.332 a run's result is the session's cumulative figure (a resume continues
        # it), so the last run's is the session's.
        usage = list(results[-1]["modelUsage"].values())
        return cls(
            session_id=session_ids.pop(),
            cost_usd=results[-1]["total_cost_usd"],
            input_tokens=sum(u["inputTokens"] for u in usage),
            output_tokens=sum(u["outputTokens"] for u in usage),
            cache_read_tokens=sum(u["cacheReadInputTokens"] for u in usage),
            cache_creation_tokens=sum(u["cacheCreationInputTokens"] for u in usage),
            requests=sum(len(api.scripted(name)) for name in scripts),
        )

    def tokens(self) -> tuple[int, int, int, int]:
        return self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_creation_tokens


def served_tokens(api: FakeAnthropicApi, scripts: Iterable[str]) -> tuple[int, int, int, int]:
    usages = [s.usage for name in scripts for s in api.scripted(name) if s.usage]
    return (sum(u.input_tokens for u in usages), sum(u.output_tokens for u in usages),
            sum(u.cache_read for u in usages), sum(u.cache_creation for u in usages))


def stats_tokens(stats: SessionStats) -> tuple[int, int, int, int]:
    t = stats.tokens
    return t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_creation_tokens


# -- transcripts -------------------------------------------------------------------------------


@dataclass
class TranscriptWorld:
    api: FakeAnthropicApi
    home: ClaudeHome
    main: Expected  # tools + subagent, then resumed on another model
    second: Expected
    once: dict[str, Any]  # --no-store, after all runs
    stored_first: dict[str, Any]  # with a store, after the first run only
    stored_last: dict[str, Any]  # the same store, after the resume appended to the file it saw
    first_run_cost: float

    def session(self, session_id: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
        sessions = (document or self.once)["sessions"]
        rows = [s for s in sessions if s["id"] == session_id]
        assert rows, f"cctop --once shows no session {session_id}: {[s['id'] for s in sessions]}"
        return rows[0]


@pytest.fixture(scope="module")
def world(claude_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterable[TranscriptWorld]:
    with FakeAnthropicApi(SCRIPTS) as api:
        home = ClaudeHome(claude_bin, tmp_path_factory.mktemp("claude"), api.base_url)
        first = home.run("<<e2e:tools>> check the repo", "--model", "claude-opus-4-8")
        store = home.root / "cctop-store.sqlite"
        stored_first = cctop_once(home.config_dir, home.root, store)
        resumed = home.run("<<e2e:resumed>> once more", "--resume", first["session_id"],
                           "--model", "claude-sonnet-4-6")
        second = home.run("<<e2e:second>> hello", "--model", "claude-haiku-4-5")
        main = Expected.of([first, resumed], api, ["tools", "sub", "resumed"])
        other = Expected.of([second], api, ["second"])
        once = cctop_once(home.config_dir, home.root)
        stored_last = cctop_once(home.config_dir, home.root, store)
        yield TranscriptWorld(api, home, main, other, once, stored_first, stored_last,
                              first["total_cost_usd"])


def test_claude_saw_the_scripted_usage(world: TranscriptWorld) -> None:
    """The harness itself: every scripted turn was requested, and Claude Code's own usage
    totals are the numbers the fake API sent (so the comparisons below mean something)."""
    steps = {name: sorted({s.step for s in world.api.scripted(name)}) for name in SCRIPTS}
    # Every turn was asked for; a background subagent's completion adds a main-chain request
    # past the script (answered by its tail, with zero usage).
    assert {name: list(range(len(script.turns))) for name, script in SCRIPTS.items()} == {
        name: [step for step in found if step < len(SCRIPTS[name].turns)] for name, found in steps.items()
    }
    assert all(s.usage == SCRIPTS[s.script].tail.usage for s in world.api.scripted() if s.beyond_script)
    assert world.main.tokens() == served_tokens(world.api, ["tools", "sub", "resumed"])
    assert world.second.tokens() == served_tokens(world.api, ["second"])
    assert world.main.session_id != world.second.session_id


@pytest.mark.parametrize("which", ["main", "second"])
def test_transcript_cost_and_tokens_equal_claude_code(world: TranscriptWorld, which: str) -> None:
    expected: Expected = getattr(world, which)
    row = world.session(expected.session_id)
    assert row["cost_usd"] == pytest.approx(expected.cost_usd, abs=TOLERANCE_USD)
    got = (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_creation_tokens"])
    assert got == expected.tokens()
    assert row["requests"] == expected.requests


def test_transcript_tools_errors_and_subagents(world: TranscriptWorld) -> None:
    row = world.session(world.main.session_id)
    # Bash, the failing Read and Agent in the main chain, Bash in the subagent, Bash after resuming.
    assert row["tool_calls"] == 5
    assert row["tool_errors"] == 1
    assert row["subagents"] == 1
    second = world.session(world.second.session_id)
    assert (second["tool_calls"], second["tool_errors"], second["subagents"]) == (0, 0, 0)


FIGURES = ("cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
           "requests", "tool_calls", "tool_errors", "subagents")


def test_store_follows_the_resumed_session(world: TranscriptWorld) -> None:
    """With a store: after the first run the session has that run's cost; after the resume appended
    to the same file (and a new session was added) every figure equals the store-less read."""
    first = world.session(world.main.session_id, world.stored_first)
    assert first["cost_usd"] == pytest.approx(world.first_run_cost, abs=TOLERANCE_USD)
    for expected in (world.main, world.second):
        stored = world.session(expected.session_id, world.stored_last)
        fresh = world.session(expected.session_id)
        assert {k: stored[k] for k in FIGURES} == pytest.approx({k: fresh[k] for k in FIGURES}, abs=1e-9)


def test_transcript_totals_add_up(world: TranscriptWorld) -> None:
    assert world.once["totals"]["cost_usd"] == pytest.approx(
        world.main.cost_usd + world.second.cost_usd, abs=TOLERANCE_USD)


# -- OTLP --------------------------------------------------------------------------------------


class Collector:
    """The listener's sink: keeps every record batch it is handed."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._lock = threading.Lock()

    def __call__(self, records: Sequence[Record]) -> None:
        with self._lock:
            self.records.extend(records)

    def api_calls(self, session_id: str) -> list[ApiCall]:
        with self._lock:
            return [r for r in self.records if isinstance(r, ApiCall) and r.session_id == session_id]

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records)


def transcript_records(config_dir: Path) -> list[Record]:
    records: list[Record] = []
    warnings: list[str] = []
    for file in find_transcripts(config_dir / "projects", warnings.append):
        records.extend(read_file(file, warnings.append).records)
    assert not warnings, warnings
    return records


def ledger_of(*batches: Sequence[Record]) -> Ledger:
    ledger = Ledger(packaged_pricebook())
    for batch in batches:
        ledger.ingest(batch)
    return ledger


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_otlp_session_matches_claude_code(claude_bin: str, tmp_path: Path, protocol: str) -> None:
    from cctop.sources.otlp.listener import OtlpConfig, OtlpListener

    collector = Collector()
    listener = OtlpListener(OtlpConfig(bind="127.0.0.1", grpc_port=-1, http_port=-1), collector)
    assert listener.start() == []
    status = listener.status
    try:
        with FakeAnthropicApi(SCRIPTS) as api:
            # cctop is never pointed at this config dir: OTLP is all it sees of the session.
            home = ClaudeHome(claude_bin, tmp_path, api.base_url)
            result = home.run("<<e2e:tools>> check the repo", "--model", "claude-opus-4-8",
                              env=otlp_env(protocol, status.grpc_port or 0, status.http_port or 0))
            expected = Expected.of([result], api, ["tools", "sub"])
            # OTLP also reports the side calls (title generation) that transcripts never show;
            # the fake API gives them zero usage, so costs and tokens still agree.
            calls = sum(1 for s in api.served if s.path == "/v1/messages")
        deadline = time.monotonic() + 15
        while len(collector.api_calls(expected.session_id)) < calls and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        listener.stop()
    assert listener.status.errors == 0, listener.status.last_error
    otlp = collector.snapshot()

    # OTLP alone: the session is there with Claude Code's own cost and usage.
    alone = ledger_of(otlp).snapshot().sessions
    assert expected.session_id in alone, f"no session {expected.session_id} over {protocol}: {list(alone)}"
    stats = alone[expected.session_id]
    assert stats.sources == frozenset({Source.OTLP})
    assert stats.reported_cost_usd == pytest.approx(expected.cost_usd, abs=TOLERANCE_USD)
    assert stats_tokens(stats) == expected.tokens()
    assert stats.tokens.requests == calls
    assert (stats.tool_calls, stats.tool_errors) == (4, 1)
    # The delta metrics, summed over however many exports carried them, say the same.
    metrics = stats.activity
    assert metrics.get("claude_code.cost.usage") == pytest.approx(expected.cost_usd, abs=TOLERANCE_USD)
    kinds = ("input", "output", "cacheRead", "cacheCreation")
    assert tuple(metrics.get(f"claude_code.token.usage:{k}") for k in kinds) == expected.tokens()

    # Transcripts and OTLP together, in either order: every call once, priced to Claude Code's cost.
    transcripts = transcript_records(home.config_dir)
    for batches in ((transcripts, otlp), (otlp, transcripts)):
        both = ledger_of(*batches).snapshot().sessions[expected.session_id]
        assert both.sources == frozenset({Source.OTLP, Source.TRANSCRIPT})
        assert both.tokens.requests == calls
        assert stats_tokens(both) == expected.tokens()
        assert both.cost_usd == pytest.approx(expected.cost_usd, abs=TOLERANCE_USD)
        assert both.reported_cost_usd == pytest.approx(expected.cost_usd, abs=TOLERANCE_USD)
        assert (both.tool_calls, both.tool_errors) == (4, 1)
