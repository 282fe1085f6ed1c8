"""Sessions seen only over OTLP have no working directory: they are named by their short id,
"(telemetry only)" and the terminal / OS / arch the telemetry carries, so two of them can be
told apart (real Claude Code 2.1.197 telemetry, a copy of it as a second session)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from cctop import format as fmt
from cctop.model.ledger import Ledger
from cctop.model.records import SessionMeta, Source, TitleKind
from cctop.report import sessions as report
from cctop.sources.otlp.codec import SIGNALS, parse_json
from cctop.sources.otlp.decode import OtlpDecoder
from cctop.sources.prices import packaged_pricebook
from cctop.store.stats_codec import stats_from_json, stats_to_json
from cctop.ui import rows
from cctop.ui.screens.session import summary_text

CAPTURE = Path(__file__).resolve().parent / "samples/claude-code-2.1.197/otlp-http-json-capture.jsonl"


def _decoded(text: str) -> list:
    decoder = OtlpDecoder()
    records: list = []
    for line in text.splitlines():
        if line.strip():
            doc = json.loads(line)
            request = parse_json(SIGNALS[doc["kind"]], orjson.dumps(doc["body"]))
            records += decoder.decode(doc["kind"], request).records
    return records


def test_two_otlp_only_sessions_are_told_apart_by_id_and_origin():
    text = CAPTURE.read_text()
    first = _decoded(text)
    session_id = next(r.session_id for r in first if isinstance(r, SessionMeta))
    other = session_id[:-4] + "beef"
    # The same run from another machine: another session id, another terminal.
    second = _decoded(text.replace(session_id, other).replace('"xterm"', '"tmux-256color"'))
    ledger = Ledger(packaged_pricebook())
    ledger.ingest(first)
    ledger.ingest(second)
    sessions = ledger.snapshot(now=2e9).sessions
    a, b = sessions[session_id], sessions[other]
    assert a.telemetry_only and a.sources == frozenset({Source.OTLP})
    assert (a.origin, b.origin) == ("xterm, linux/amd64", "tmux-256color, linux/amd64")
    cells = [dict(zip(rows.COLUMN_KEYS, rows.session_cells(s, 2e9, 0.0), strict=True)) for s in (a, b)]
    assert [c["project"][0] for c in cells] == [session_id[:8], other[:8]]
    assert cells[0]["title"][0].startswith("(telemetry only) xterm, linux/amd64")
    assert cells[1]["title"][0].startswith("(telemetry only) tmux-256color, linux/amd64")
    summary = summary_text(a, 2e9, lambda role: "").plain
    assert summary.startswith(f"{session_id[:8]} · (telemetry only) xterm, linux/amd64")
    assert stats_from_json(stats_to_json(a)).origin == a.origin  # the store keeps it
    table = report.table(ledger.snapshot(now=2e9), [a, b], 160).plain  # --once names them too
    assert f"{session_id[:8]} " in table and "(telemetry only) tmux-256color" in table


def test_a_session_with_transcripts_keeps_its_project_name():
    ledger = Ledger(packaged_pricebook())
    ledger.ingest([SessionMeta("s1", 1.0, cwd="/home/dev/proj", title="fix it", title_kind=TitleKind.AI)])
    ledger.ingest([SessionMeta("s1", 2.0, source=Source.OTLP, origin="xterm, linux/amd64")])
    stats = ledger.snapshot(now=10.0).sessions["s1"]
    assert not stats.telemetry_only
    assert fmt.session_names(stats) == ("proj", "fix it")
