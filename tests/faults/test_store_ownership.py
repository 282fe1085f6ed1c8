"""The store belongs to cctop: ``--rebuild --store keep.txt`` used to delete a user's file
(and ``keep.txt-wal``), ``--store notes.txt`` to rename it to ``.corrupt-...``; the store
was created 0644 (titles and paths readable by other users)."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from cctop.store.database import Store, StoreError
from faults.common import cctop, tree


@pytest.mark.parametrize("rebuild", [[], ["--rebuild"]], ids=["open", "rebuild"])
def test_a_text_file_is_neither_used_moved_nor_deleted(tmp_path, rebuild):
    tree(tmp_path, {"s1": 2})
    keep = tmp_path / "keep.txt"
    keep.write_text("my notes\n")
    (tmp_path / "keep.txt-wal").write_text("mine too\n")
    result = cctop(tmp_path, "--once", "--json", "--store", str(keep), *rebuild)
    assert result.returncode == 0
    assert keep.read_text() == "my notes\n"
    assert (tmp_path / "keep.txt-wal").read_text() == "mine too\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".claude", "keep.txt", "keep.txt-wal"]
    err = result.stderr.decode()
    assert "is not a cctop store" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_another_programs_sqlite_file_is_refused(tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    before = other.read_bytes()
    for rebuild in (False, True):
        with pytest.raises(StoreError, match="not a cctop store"):
            Store.open(other, print, rebuild=rebuild)
    assert other.read_bytes() == before


def test_a_store_from_before_the_mark_still_opens(tmp_path):
    path = tmp_path / "s.sqlite3"
    Store.open(path, print).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id = 0")
    db.close()
    Store.open(path, print).close()  # known by its tables, and marked now
    assert int.from_bytes(path.read_bytes()[68:72], "big") != 0


def test_a_damaged_cctop_store_is_still_moved_aside(tmp_path):
    path = tmp_path / "s.sqlite3"
    Store.open(path, print).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page's body
    path.write_bytes(bytes(data))
    said: list[str] = []
    Store.open(path, said.append).close()
    assert said and "moved it to" in said[0]
    assert any(p.name.startswith("s.sqlite3.corrupt-") for p in tmp_path.iterdir())


def test_store_directory_0700_and_files_0600(tmp_path):
    path = tmp_path / "data" / "cctop" / "cctop.sqlite3"
    store = Store.open(path, print)
    try:
        store.commit(str(tmp_path / "x.jsonl"), 1, 2, 3, 0.0, 0, 3, [])
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for suffix in ("", "-wal", "-shm"):
            assert (
                stat.S_IMODE((tmp_path / "data" / "cctop" / f"cctop.sqlite3{suffix}").stat().st_mode) == 0o600
            )
    finally:
        store.close()
