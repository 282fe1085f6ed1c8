"""Transcripts and telemetry of the same calls, in every arrival order, give one answer.

The real 2.1.197 samples are a hard case: the fake API they were made with reused message
and request ids across the four sessions, so a request id alone does not name a call.
"""

from __future__ import annotations

import itertools
import json

import orjson
import pytest
from helpers import REAL_CC

from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall
from cctop.sources.otlp.codec import SIGNALS, parse_json
from cctop.sources.otlp.decode import OtlpDecoder
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_file

TRACED = "e59a59f8-31f3-403d-b973-b161a7430aad"  # the session the capture holds


def capture_records() -> list:
    decoder = OtlpDecoder()
    records: list = []
    for text in (REAL_CC / "otlp-http-json-capture.jsonl").read_text().splitlines():
        exported = json.loads(text)
        request = parse_json(SIGNALS[exported["kind"]], orjson.dumps(exported["body"]))
        records += decoder.decode(exported["kind"], request).records
    return records


def per_session(ledger: Ledger) -> dict:
    return {
        s.id: (s.tokens.requests, s.tokens.input_tokens, s.tokens.output_tokens, s.tokens.cache_read_tokens,
               s.tokens.cache_creation_tokens, round(s.cost_usd or 0, 9), s.reported_cost_usd is not None,
               s.ttft_ms_median)
        for s in ledger.snapshot(now=2_000_000_000.0).sessions.values()
    }  # fmt: skip


@pytest.fixture(scope="module")
def batches() -> tuple[list[list], list]:
    files = sorted(find_transcripts(REAL_CC / "projects", print), key=lambda f: str(f.path))
    return [read_file(f, print).records for f in files], capture_records()


def test_every_order_of_transcripts_and_telemetry_gives_the_same_sessions(batches) -> None:
    transcripts, telemetry = batches
    assert any(isinstance(r, ApiCall) for r in telemetry)
    answers = set()
    for order in itertools.permutations(range(len(transcripts))):
        for telemetry_at in range(len(transcripts) + 1):
            ledger = Ledger(packaged_pricebook())
            sequence = [transcripts[i] for i in order]
            sequence.insert(telemetry_at, telemetry)
            for records in sequence:
                ledger.ingest(records)
            answers.add(tuple(sorted(per_session(ledger).items())))
    assert len(answers) == 1
    sessions = dict(next(iter(answers)))
    # The telemetry joins the traced session's own calls: no call counted twice, and Claude
    # Code's cost shows beside cctop's.
    transcripts_only = Ledger(packaged_pricebook())
    for records in transcripts:
        transcripts_only.ingest(records)
    alone = per_session(transcripts_only)[TRACED]
    assert sessions[TRACED][:6] == alone[:6] and sessions[TRACED][6] is True
    # The capture's trace spans time the traced session's calls, never another's.
    assert sessions[TRACED][7] is not None
    assert all(figures[7] is None for sid, figures in sessions.items() if sid != TRACED)


def test_a_replayed_call_belongs_to_the_session_telemetry_names_in_every_order() -> None:
    from helpers import assistant, line
    from msgspec.structs import replace

    from cctop.model.records import Source
    from cctop.sources.transcripts.jsonl import FileRole, TranscriptParser

    def parsed(session: str, obj: dict) -> list:
        return TranscriptParser(FileRole(session, None)).feed(line(obj))

    # "b-made" made the call; "a-resumed" (the smaller id) replays its line, usage and all.
    made = parsed("b-made", assistant("b-made", "msg_1", "req_1", input_tokens=40, output_tokens=9))
    replayed = parsed("a-resumed", assistant("a-resumed", "msg_1", "req_1", input_tokens=40, output_tokens=9))
    call = next(r for r in made if isinstance(r, ApiCall))
    telemetry = [replace(call, message_id=None, source=Source.OTLP, reported_cost_usd=0.25)]
    owners = set()
    for order in itertools.permutations([made, replayed, telemetry]):
        ledger = Ledger(packaged_pricebook())
        for records in order:
            ledger.ingest(records)
        sessions = ledger.snapshot(now=2_000_000_000.0).sessions
        owners.add(tuple(sorted((s.id, s.tokens.requests, s.reported_cost_usd) for s in sessions.values())))
    # OTLP's session.id is authoritative: the smaller id no longer takes the maker's call.
    assert owners == {(("a-resumed", 0, None), ("b-made", 1, 0.25))}
