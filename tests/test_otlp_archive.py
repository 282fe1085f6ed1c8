"""Telemetry goes into the store: a session seen only over OTLP survives a restart."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
from helpers import SAMPLES, archive_capture, send_capture

from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook
from cctop.store.database import Store
from cctop.store.telemetry import OtlpArchive, archive_sink

CAPTURE = SAMPLES / "claude-code-2.1.197" / "otlp-http-json-capture.jsonl"
SESSION = "e59a59f8-31f3-403d-b973-b161a7430aad"


def figures(ledger: Ledger) -> tuple:
    stats = ledger.snapshot(now=2_000_000_000.0).sessions[SESSION]
    t = stats.tokens
    return (t.requests, t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_creation_tokens,
            round(stats.cost_usd, 9), round(stats.reported_cost_usd, 9), stats.tool_calls)  # fmt: skip


def test_a_telemetry_only_session_survives_a_restart(tmp_path):
    path = tmp_path / "cctop.sqlite3"
    Store.open(path, print).close()  # the archive lives in the history store's database
    live = Ledger(packaged_pricebook())
    archive = OtlpArchive(path)
    warnings: list[str] = []
    try:
        send_capture(archive_sink(live.ingest, archive, warnings.append))
    finally:
        archive.close()
    before = figures(live)
    assert before[0] > 0 and before[5] == pytest.approx(before[6])  # OTLP-only: Claude Code's cost

    restarted = Ledger(packaged_pricebook())
    reopened = OtlpArchive(path)
    for records in reopened.load():
        restarted.ingest(records)
    reopened.close()
    assert figures(restarted) == before
    assert warnings == []
    Store.open(path, print).close()  # and the store still opens beside the archive's table


def test_replaying_the_archive_twice_counts_once(tmp_path):
    archive = OtlpArchive(tmp_path / "a.sqlite3")
    ledger = Ledger(packaged_pricebook())
    send_capture(archive_sink(ledger.ingest, archive, print))
    once = figures(ledger)
    for records in archive.load():
        ledger.ingest(records)  # the same batches again, as after a restart without a new ledger
    assert figures(ledger)[:6] == once[:6]
    archive.close()


def test_a_failing_archive_warns_once_and_the_screen_still_gets_the_records(tmp_path):
    archive = OtlpArchive(tmp_path / "a.sqlite3")
    archive.close()  # any write now fails
    ledger = Ledger(packaged_pricebook())
    warnings: list[str] = []
    send_capture(archive_sink(ledger.ingest, archive, warnings.append))
    assert figures(ledger)[0] > 0
    assert len(warnings) == 1 and "not kept" in warnings[0]


def test_once_shows_telemetry_only_sessions_from_the_store_and_never_twice(tmp_path):
    store = tmp_path / "cctop.sqlite3"
    archive_capture(store)
    empty = tmp_path / "no-transcripts"
    empty.mkdir()

    def once(claude_dir) -> dict:
        command = [sys.executable, "-m", "cctop", "--once", "--json", "--store", str(store),
                   "--claude-dir", str(claude_dir)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, check=True, timeout=120)
        return {s["id"]: s for s in orjson.loads(done.stdout)["sessions"]}

    for _ in range(2):  # the first run fills the store, the second answers from saved figures
        only_otlp = once(empty)
        assert list(only_otlp) == [SESSION]
        assert only_otlp[SESSION]["sources"] == ["otlp"]
        assert only_otlp[SESSION]["cost_usd"] == pytest.approx(only_otlp[SESSION]["reported_cost_usd"])
    both = once(SAMPLES / "claude-code-2.1.197")
    assert len(both) == 4  # the OTLP session also has a transcript: shown once, from both
    assert both[SESSION]["sources"] == ["otlp", "transcript"]


def test_a_damaged_batch_is_skipped_with_a_warning_and_the_rest_still_counts(tmp_path):
    import sqlite3

    store = tmp_path / "cctop.sqlite3"
    archive_capture(store)
    with sqlite3.connect(store) as db:
        healthy = db.execute("SELECT count(*) FROM otlp_batches").fetchone()[0]
        for damaged in (b"not json", b"[[999, 1, 2]]", b'[["x"]]'):
            db.execute("INSERT INTO otlp_batches (received, data) VALUES (0, ?)", (damaged,))
    warnings: list[str] = []
    reopened = OtlpArchive(store)
    assert len(list(reopened.load(warnings.append))) == healthy
    reopened.close()
    assert warnings == ["skipped 3 kept telemetry batch(es) that could not be decoded"]
    empty = tmp_path / "no-transcripts"
    empty.mkdir()
    command = [sys.executable, "-m", "cctop", "--once", "--json", "--store", str(store),
               "--claude-dir", str(empty)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, check=True, timeout=120)
    document = orjson.loads(done.stdout)
    assert [s["id"] for s in document["sessions"]] == [SESSION]
    assert any("skipped 3 kept telemetry batch(es)" in w for w in document["warnings"])
