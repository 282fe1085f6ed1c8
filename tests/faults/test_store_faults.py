"""A source never dies silently. The live view used to freeze for good on the first store
error (the tailer thread died on "database or disk is full" and never came back after space
was freed; a damaged store left 3 of 1,493 sessions on screen, and the same after a
restart). Now it carries on in memory, says so in the header, and goes back to the store by
itself; a damaged store is set aside and refilled, in the TUI and in ``--once`` alike."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assistant, eventually, line, write_session

from cctop.launch import _tailer_part
from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.tailer import Tailer
from cctop.store.database import Store
from faults.common import PROJECT, calls, cctop, once_json, totals

SESSIONS = 40




def history(home: Path, sessions: int = SESSIONS) -> Path:
    for n in range(sessions):
        session = f"s{n:03d}"
        write_session(home / ".claude", PROJECT, session, calls(session, 5, prefix=session))
    return home / ".claude" / "projects"


def requests(ledger: Ledger) -> int:
    return ledger.snapshot().totals.all_time.requests


@contextlib.contextmanager
def tailing(root: Path, store: Store | None) -> Iterator[tuple[Tailer, Ledger, list[str]]]:
    ledger = Ledger(packaged_pricebook())
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        ledger.warn(message)

    tailer = Tailer([root], ledger.ingest, warn, store=store, on_deleted=ledger.mark_files_deleted)
    tailer.start()
    try:
        assert tailer.wait_idle(20)
        yield tailer, ledger, warnings
    finally:
        tailer.stop()


def append(root: Path, session: str, prefix: str, count: int) -> None:
    with open(root / PROJECT / f"{session}.jsonl", "ab") as handle:
        for i in range(count):
            handle.write(line(assistant(session, f"{prefix}{i}", f"r{prefix}{i}")))


# -- disk full ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 4 MB tmpfs (root can mount one); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as handle:  # unbuffered: nothing left to flush at close
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    return ballast


def test_disk_full_runs_in_memory_and_recovers_when_space_is_freed(tmp_path, small_disk):
    root = history(tmp_path, 4)
    store_path = small_disk / "cctop.sqlite3"
    store = Store.open(store_path, print)
    try:
        with tailing(root, store) as (tailer, ledger, warnings):
            assert requests(ledger) == 4 * 5
            ballast = fill(small_disk)  # the disk fills up under a running cctop
            append(root, "s000", "more", 30)
            assert eventually(lambda: requests(ledger) == 4 * 5 + 30)
            assert tailer.status.store_state == "store: disk full — running in memory"
            assert any("disk is full" in w for w in warnings)
            assert tailer._worker.is_alive()
            ballast.unlink()  # space is back: the store catches up by itself
            assert eventually(lambda: tailer.status.store_state is None)
            append(root, "s001", "after", 3)
            assert eventually(lambda: requests(ledger) == 4 * 5 + 33)
            assert tailer.wait_idle(10)
    finally:
        store.close()
    # What the store holds now is the whole truth: a warm --once agrees with --no-store.
    home = tmp_path
    warm = once_json(home, "--store", str(store_path))
    assert totals(warm) == totals(once_json(home, "--no-store"))
    assert warm["totals"]["requests"] == 4 * 5 + 33


def test_sqlite_full_injected_without_a_tmpfs(tmp_path):
    """The same with SQLITE_FULL from a page limit, where no tmpfs can be mounted."""
    root = history(tmp_path, 3)
    store = Store.open(tmp_path / "s.sqlite3", print)
    try:
        with tailing(root, store) as (tailer, ledger, _):
            pages = store._db.execute("PRAGMA page_count").fetchone()[0]
            store._db.execute(f"PRAGMA max_page_count = {pages}")
            append(root, "s000", "big", 400)
            assert eventually(lambda: requests(ledger) == 15 + 400)
            assert tailer.status.store_state == "store: disk full — running in memory"
            assert "; store: disk full — running in memory" in _tailer_part(tailer)()[0]  # the header
            store._db.execute("PRAGMA max_page_count = 1073741823")
            assert eventually(lambda: tailer.status.store_state is None)
            assert tailer.wait_idle(10)
    finally:
        store.close()
    assert once_json(tmp_path, "--store", str(tmp_path / "s.sqlite3"))["totals"]["requests"] == 415


# -- a damaged store ----------------------------------------------------------------------


def damage(path: Path, unnoticed_by_open: bool = False) -> None:
    """64 KB of random bytes in the middle, as the attack did (the first page survives).
    ``unnoticed_by_open``: one page that opening the store does not trip over (old records),
    so what notices it is the check after opening."""
    clean = path.read_bytes()
    assert len(clean) > 4 * 65536, len(clean)
    size = 4096 if unnoticed_by_open else 65536  # one page: open reads a few whole tables
    for start in range(len(clean) // 2, len(clean) - size, 4096):
        data = bytearray(clean)
        data[start : start + size] = random.Random(7).randbytes(size)
        path.write_bytes(bytes(data))
        if not unnoticed_by_open:
            return
        said: list[str] = []
        with contextlib.suppress(Exception):
            Store.open(path, said.append).close()
        for aside in path.parent.glob(f"{path.name}.corrupt-*"):
            aside.unlink()
        if not said:
            path.write_bytes(bytes(data))
            return
    raise AssertionError("no damage that opening the store does not notice")


def built_store(tmp_path: Path, root: Path) -> Path:
    path = tmp_path / "s.sqlite3"
    store = Store.open(path, print)
    try:
        with tailing(root, store):
            pass
    finally:
        store.close()
    damage(path, unnoticed_by_open=True)
    return path


def big_history(home: Path) -> Path:
    """Enough transcripts that the store spans a few hundred KB (long prompts are stored)."""
    root = history(home, 300)
    return root


def test_tui_sets_a_damaged_store_aside_and_refills_it(tmp_path):
    root = big_history(tmp_path)
    path = built_store(tmp_path, root)
    store = Store.open(path, print)
    with tailing(root, store) as (tailer, ledger, warnings):
        assert requests(ledger) == 300 * 5
        assert eventually(lambda: tailer.status.store_state == "store damaged — rebuilt")
        assert any("moved it to" in w for w in warnings)
    tailer._tracker.store.close()
    assert list(tmp_path.glob("s.sqlite3.corrupt-*"))
    # The refilled store answers alone, exactly.
    again = Store.open(path, print)
    try:
        with tailing(root, again) as (tailer, ledger, warnings):
            assert requests(ledger) == 300 * 5
            assert tailer.status.store_state is None and not warnings
    finally:
        again.close()


@pytest.mark.parametrize("hidden", [True, False], ids=["under-saved-aggregates", "64k-in-the-middle"])
def test_once_notices_a_damaged_store(tmp_path, hidden):
    root = big_history(tmp_path)
    path = tmp_path / "s.sqlite3"
    first = once_json(tmp_path, "--store", str(path))  # saves the aggregates
    assert first["totals"]["requests"] == 300 * 5
    damage(path, unnoticed_by_open=hidden)
    truth = once_json(tmp_path, "--no-store")
    result = cctop(tmp_path, "--once", "--json", "--store", str(path))
    assert result.returncode == 0
    doc = __import__("orjson").loads(result.stdout)
    assert totals(doc) == totals(truth)
    assert any("moved it to" in w for w in doc["warnings"]) or b"moved it to" in result.stderr
    again = once_json(tmp_path, "--store", str(path))
    assert totals(again) == totals(truth) and not again["warnings"]
    assert root.is_dir()


# -- one bad file never stops the others ----------------------------------------------------


def test_an_error_on_one_file_skips_it_and_the_rest_go_on(tmp_path, monkeypatch):
    from cctop.sources.transcripts import tracker

    root = history(tmp_path, 2)
    poison = root / PROJECT / "poison.jsonl"
    real_feed = tracker.TranscriptParser.feed

    def feed(self, data):
        if b"poison" in data:
            raise RuntimeError("a record no code expected")
        return real_feed(self, data)

    monkeypatch.setattr(tracker.TranscriptParser, "feed", feed)
    with tailing(root, None) as (tailer, ledger, warnings):
        poison.write_bytes(line(assistant("poison", "pm", "pr")))
        assert eventually(lambda: tailer.status.errors >= 1)
        append(root, "s001", "later", 4)
        assert eventually(lambda: requests(ledger) == 10 + 4)
        assert tailer._worker.is_alive()
        assert any("poison.jsonl: skipped after an error" in w for w in warnings)
    assert os.path.exists(poison)


def test_once_on_a_full_disk_answers_exactly_and_says_why(tmp_path, small_disk):
    """--once whose store cannot grow reads the transcripts instead: the same totals as
    --no-store, one line on stderr, no traceback."""
    history(tmp_path, 4)
    store_path = small_disk / "cctop.sqlite3"
    once_json(tmp_path, "--store", str(store_path))
    append(tmp_path / ".claude" / "projects", "s000", "grown", 500)  # the store must grow to keep it
    fill(small_disk)
    result = cctop(tmp_path, "--once", "--json", "--store", str(store_path))
    assert result.returncode == 0
    import orjson

    assert totals(orjson.loads(result.stdout)) == totals(once_json(tmp_path, "--no-store"))
    err = result.stderr.decode()
    assert "Traceback" not in err and "full" in err, err


def test_the_header_says_when_the_store_could_not_be_used():
    import argparse

    from cctop.launch import _store_state

    args = argparse.Namespace(no_store=False)
    assert _store_state(args, None, []) == "store: unusable (see the warnings) — running in memory"
    moved = ["the store /x is unreadable (malformed); moved it to x.corrupt-1 and rebuilt it"]
    assert _store_state(args, object(), moved) == "store damaged — rebuilt"
    assert _store_state(args, object(), []) is None
    assert _store_state(argparse.Namespace(no_store=True), None, []) is None
