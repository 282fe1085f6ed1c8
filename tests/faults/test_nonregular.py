"""Only regular files are read: a FIFO named ``*.jsonl`` used to hang a cold ``--once`` and
``--requests`` forever, a link to /dev/zero grew ``--once --no-store`` by a gigabyte every
16 s. Both are skipped with a warning, in every mode."""

from __future__ import annotations

import os

import pytest

from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.tailer import Tailer
from faults.common import PROJECT, cctop, once_json, totals, tree


@pytest.fixture
def hostile_tree(tmp_path):
    root = tree(tmp_path, {"good": 3})
    os.mkfifo(root / PROJECT / "fifo.jsonl")
    os.symlink("/dev/zero", root / PROJECT / "zero.jsonl")
    return tmp_path


@pytest.mark.parametrize("store", [["--no-store"], []], ids=["no-store", "store"])
def test_once_skips_fifo_and_device(hostile_tree, store):
    for _ in range(2):  # cold, then warm (through the saved aggregates when there is a store)
        doc = once_json(hostile_tree, *store)
        assert totals(doc)[0] == 3
        skipped = [w for w in doc["warnings"] if "not a regular file" in w]
        assert any("fifo.jsonl" in w for w in skipped) and any("zero.jsonl" in w for w in skipped)


def test_requests_skips_fifo_and_device(hostile_tree):
    result = cctop(hostile_tree, "--once", "--requests", "--no-store")
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout.splitlines()) == 1 + 3  # header + the good calls
    assert b"fifo.jsonl: not a regular file" in result.stderr


def test_tailer_skips_fifo_and_device(hostile_tree):
    ledger = Ledger(packaged_pricebook())
    tailer = Tailer([hostile_tree / ".claude" / "projects"], ledger.ingest, ledger.warn)
    tailer.start()
    try:
        assert tailer.wait_idle(15)
        snap = ledger.snapshot()
        assert snap.totals.all_time.requests == 3
        assert any("zero.jsonl: not a regular file" in w for w in snap.warnings)
        assert any("fifo.jsonl: not a regular file" in w for w in snap.warnings)
    finally:
        tailer.stop()
