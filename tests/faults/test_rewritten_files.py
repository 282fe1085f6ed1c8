"""A file changed under the same path is read again from byte 0 and what its old content said
is taken back, in the live view and in the store alike. ``cat new > F`` (same inode, bigger)
was read from the old offset (19 calls instead of 20, 5,140 input tokens instead of 200) and
the store kept it; a truncated or renamed-over file kept its old calls in the TUI."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assistant, eventually, ledger_for, line, write_session

from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.tailer import Tailer
from cctop.store.database import Store
from faults.common import PROJECT, once_json, totals


def figures(ledger: Ledger) -> tuple:
    snapshot = ledger.snapshot()
    t = snapshot.totals.all_time
    return t.requests, t.input_tokens, t.output_tokens, round(t.cost_usd, 9), tuple(sorted(snapshot.sessions))


def truth(root: Path) -> tuple:
    return figures(ledger_for(root))




@contextlib.contextmanager
def tailing(root: Path, store: Store | None) -> Iterator[tuple[Tailer, Ledger]]:
    ledger = Ledger(packaged_pricebook())
    tailer = Tailer([root], ledger.ingest, ledger.warn, store=store, on_deleted=ledger.mark_files_deleted,
                    retract=ledger.forget_sessions)  # fmt: skip
    tailer.start()
    try:
        assert tailer.wait_idle(15)
        yield tailer, ledger
    finally:
        tailer.stop()


def old_lines(session: str = "s1") -> list[dict]:
    return [assistant(session, f"old{i}", f"rold{i}", input_tokens=257) for i in range(19)]


def new_lines(session: str = "s1") -> list[dict]:
    return [assistant(session, f"new{i}", f"rnew{i}", input_tokens=10) for i in range(20)]


def rewrite_in_place(path: Path) -> None:
    with open(path, "r+b") as handle:  # cat new > F: same inode
        handle.truncate(0)
        handle.write(b"".join(line(o) for o in new_lines()))


def truncate_to_fewer(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"".join(line(o) for o in new_lines()[:3]))


def rename_over(path: Path) -> None:
    other = path.with_name("incoming.tmp")
    other.write_bytes(b"".join(line(o) for o in new_lines()[:7]))
    os.replace(other, path)


CHANGES = {
    "rewritten-in-place": rewrite_in_place,
    "truncated": truncate_to_fewer,
    "renamed-over": rename_over,
}


@pytest.mark.parametrize("use_store", [False, True], ids=["memory", "store"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_live_view_follows_the_new_content(tmp_path, change, use_store):
    path = write_session(tmp_path, PROJECT, "s1", old_lines())
    write_session(tmp_path, PROJECT, "s2", [assistant("s2", "keep", "rkeep")])
    root = tmp_path / "projects"
    store = Store.open(tmp_path / "s.sqlite3", print) if use_store else None
    try:
        with tailing(root, store) as (tailer, ledger):
            assert figures(ledger) == truth(root)
            CHANGES[change](path)
            tailer.touch(path)
            assert eventually(lambda: figures(ledger) == truth(root)), (figures(ledger), truth(root))
            with open(path, "ab") as handle:  # and it is followed from there on
                handle.write(line(assistant("s1", "after", "rafter")))
            assert eventually(lambda: figures(ledger) == truth(root))
        if store is not None:  # a restart from the store agrees
            with tailing(root, store) as (_, again):
                assert figures(again) == truth(root)
    finally:
        if store is not None:
            store.close()


@pytest.mark.parametrize("change", list(CHANGES))
def test_once_with_a_store_follows_the_new_content(tmp_path, change):
    home = tmp_path
    path = write_session(home / ".claude", PROJECT, "s1", old_lines())
    write_session(home / ".claude", PROJECT, "s2", [assistant("s2", "keep", "rkeep")])
    store = ("--store", str(tmp_path / "s.sqlite3"))
    once_json(home, *store)
    CHANGES[change](path)
    expected = totals(once_json(home, "--no-store"))
    assert totals(once_json(home, *store)) == expected
    assert totals(once_json(home, *store)) == expected  # warm


@pytest.mark.parametrize("change", list(CHANGES))
def test_once_full_rebuild_follows_the_new_content(tmp_path, change):
    """Past 20 changed files a warm --once rebuilds everything instead of following changes."""
    home = tmp_path
    paths = [write_session(home / ".claude", PROJECT, f"s{n}", old_lines(f"s{n}")) for n in range(25)]
    store = ("--store", str(tmp_path / "s.sqlite3"))
    once_json(home, *store)
    for path in paths:
        CHANGES[change](path)
    expected = totals(once_json(home, "--no-store"))
    assert totals(once_json(home, *store)) == expected
    assert totals(once_json(home, *store)) == expected
