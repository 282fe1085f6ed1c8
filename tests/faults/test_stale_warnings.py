"""Warnings that no longer hold disappear. A file unreadable once kept its old figures and
its "Permission denied" warning in a warm ``--once`` forever after it became readable (a
chmod changes no size, so the saved aggregates still looked current), and the live view
never read it again at the same size."""

from __future__ import annotations

import errno
import time

import orjson
import pytest
from helpers import assistant, line, write_session

from cctop.cli import main
from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts import reader, regular, tracker
from cctop.sources.transcripts.tailer import Tailer

PROJECT = "-home-dev-proj"


@pytest.fixture
def locked(monkeypatch):
    """Make chosen files unreadable (as a mode-000 file is, for a test run as root)."""
    paths: set[str] = set()

    def guarded(path):
        if str(path) in paths:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return regular.open_regular(path)

    def guarded_fd(path):
        if str(path) in paths:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return regular.open_regular_fd(path)

    monkeypatch.setattr(reader, "open_regular_fd", guarded_fd)
    monkeypatch.setattr(tracker, "open_regular", guarded)
    return paths


def once(capsysbinary, *args: str) -> dict:
    assert main(["--once", "--json", *args]) == 0
    return orjson.loads(capsysbinary.readouterr().out)


@pytest.mark.parametrize("runs_while_locked", [1, 2])
def test_warm_once_reads_a_file_that_became_readable(tmp_path, capsysbinary, locked, runs_while_locked):
    write_session(tmp_path, PROJECT, "open", [assistant("open", "m1", "r1")])
    calls = [assistant("shut", "m2", "r2"), assistant("shut", "m3", "r3")]
    shut = write_session(tmp_path, PROJECT, "shut", calls)
    args = ("--claude-dir", str(tmp_path), "--store", str(tmp_path / "s.sqlite3"))
    locked.add(str(shut))
    for _ in range(runs_while_locked):
        doc = once(capsysbinary, *args)
        assert doc["totals"]["requests"] == 1
        assert [w for w in doc["warnings"] if "Permission denied" in w]
    locked.clear()  # chmod 644: same inode, same size
    for _ in range(2):
        doc = once(capsysbinary, *args)
        assert doc["totals"]["requests"] == 3
        assert not [w for w in doc["warnings"] if "Permission denied" in w], doc["warnings"]


def test_tailer_reads_it_and_withdraws_the_warning(tmp_path, locked):
    root = tmp_path / "projects"
    write_session(tmp_path, PROJECT, "open", [assistant("open", "m1", "r1")])
    shut = write_session(tmp_path, PROJECT, "shut", [assistant("shut", "m2", "r2")])
    locked.add(str(shut))
    ledger = Ledger(packaged_pricebook())
    tailer = Tailer([root], ledger.ingest, ledger.warn, unwarn=ledger.withdraw)
    tailer.start()
    try:
        assert tailer.wait_idle(15)
        assert ledger.snapshot().totals.all_time.requests == 1
        assert any("Permission denied" in w for w in ledger.snapshot().warnings)
        locked.clear()
        tailer.touch(shut)  # what the attribute change of a chmod reports
        deadline = time.monotonic() + 15
        while ledger.snapshot().totals.all_time.requests != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ledger.snapshot().totals.all_time.requests == 2
        assert not any("Permission denied" in w for w in ledger.snapshot().warnings)
        with open(shut, "ab") as handle:  # and it is followed from there on
            handle.write(line(assistant("shut", "m3", "r3")))
        assert tailer.wait_idle(5)
        deadline = time.monotonic() + 15
        while ledger.snapshot().totals.all_time.requests != 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ledger.snapshot().totals.all_time.requests == 3
    finally:
        tailer.stop()
