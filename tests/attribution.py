"""The truth of the attribution corpus (``tests/samples/attribution-2.1.332``, made by
``e2e/attribution_corpus.py``): what the fake API answered, per session, beside what cctop
makes of the transcripts and telemetry Claude Code wrote."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from helpers import SAMPLES

from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall, Record
from cctop.model.snapshot import SessionStats
from cctop.sources.otlp.codec import SIGNALS, parse_json
from cctop.sources.otlp.decode import OtlpDecoder
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import TranscriptFile, find_transcripts
from cctop.sources.transcripts.reader import read_file

CORPUS = SAMPLES / "attribution-2.1.332"
TOLERANCE_USD = 1e-9


@dataclass
class Billed:
    """One session's share of what the fake API answered."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    write_1h_tokens: int = 0
    web_search_requests: int = 0
    cost_usd: float = 0.0
    tools: dict[str, int] = field(default_factory=dict)

    def add(self, row: dict) -> None:
        usage = row["usage"]
        call = ApiCall(
            row["session"], None, row["model"], row["message_id"], row["request_id"], None,
            usage["input_tokens"], usage["output_tokens"], usage["cache_read"],
            usage["cache_5m"] + usage["cache_1h"], usage["cache_5m"], usage["cache_1h"],
            usage["web_searches"], final=True,
        )  # fmt: skip
        self.requests += 1
        self.input_tokens += call.input_tokens
        self.output_tokens += call.output_tokens
        self.cache_read_tokens += call.cache_read_tokens
        self.cache_creation_tokens += call.cache_creation_tokens
        self.write_1h_tokens += call.cache_creation_1h_tokens
        self.web_search_requests += call.web_search_requests
        price = packaged_pricebook().price(call)
        assert price is not None, f"the corpus uses a model the price table lacks: {row['model']}"
        self.cost_usd += price
        for name in row["called"]:
            self.tools[name] = self.tools.get(name, 0) + 1


def served(corpus: Path = CORPUS) -> list[dict]:
    """Every answer with a response (injected errors have none)."""
    rows = [json.loads(line) for line in (corpus / "ledger.jsonl").read_text().splitlines()]
    return [row for row in rows if row["status"] == 200]


def capture(corpus: Path = CORPUS) -> list[dict]:
    return [json.loads(line) for line in (corpus / "otlp-http-json-capture.jsonl").read_text().splitlines()]


def compaction_request_ids(corpus: Path = CORPUS) -> set[str]:
    """The calls /compact made: Claude Code's telemetry tags them (transcripts never show them)."""
    ids = set()
    for batch in capture(corpus):
        if batch["kind"] != "logs":
            continue
        for resource in batch["body"].get("resourceLogs", []):
            for scope in resource.get("scopeLogs", []):
                for log in scope.get("logRecords", []):
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in log.get("attributes", [])}
                    if attrs.get("event.name") == "api_request" and attrs.get("query_source") == "compact":
                        ids.add(attrs["request_id"])
    return ids


def billed(corpus: Path = CORPUS, with_compactions: bool = True) -> dict[str, Billed]:
    """Per session (the session header the CLI sent): what the API answered it."""
    skip = set() if with_compactions else compaction_request_ids(corpus)
    out: dict[str, Billed] = defaultdict(Billed)
    for row in served(corpus):
        if row["request_id"] not in skip:
            out[row["session"]].add(row)
    return dict(out)


def telemetry(corpus: Path = CORPUS) -> list[list[Record]]:
    """The capture decoded as the OTLP listener decodes it, one batch per export request."""
    decoder = OtlpDecoder()
    batches = []
    for batch in capture(corpus):
        signal = SIGNALS[batch["kind"]]
        message = parse_json(signal, orjson.dumps(batch["body"]))
        batches.append(list(decoder.decode(signal.name, message).records))
    return batches


def transcript_files(root: Path) -> list[TranscriptFile]:
    files = list(find_transcripts(root, _no_warning))
    return sorted(files, key=lambda f: str(f.path))


def _no_warning(message: str) -> None:
    raise AssertionError(message)


def feed(ledger: Ledger, files: Iterable[TranscriptFile]) -> None:
    for file in files:
        ledger.ingest(read_file(file, _no_warning).records)


def figures(stats: SessionStats) -> Billed:
    t = stats.tokens
    return Billed(
        t.requests, t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_creation_tokens,
        stats.cache_creation_1h_tokens, stats.web_search_requests, t.cost_usd,
        {tool.name: tool.calls for tool in stats.tools},
    )  # fmt: skip


def assert_matches(
    sessions: dict[str, SessionStats], truth: dict[str, Billed], cost_tolerance: float
) -> None:
    """Every session's requests, tokens, cost and tool calls equal what the API answered it;
    sessions the API never answered have none."""
    for session_id, stats in sessions.items():
        expected = truth.get(session_id, Billed())
        got = figures(stats)
        assert abs(got.cost_usd - expected.cost_usd) <= cost_tolerance, (session_id, got, expected)
        got.cost_usd = expected.cost_usd
        assert got == expected, session_id
    assert set(truth) <= set(sessions)
