"""The SQLite store: warm starts read only appended bytes, kills never lose or double a line,
a corrupt store is rebuilt, history outlives transcripts, prices apply at read time."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePath

import orjson
import pytest
from helpers import REAL_CC, REPO, SPOTTER, assistant, ledger_for, line, use_workers
from test_tailer import Live, figures

from cctop.cli import main
from cctop.model.ledger import Ledger
from cctop.model.records import (
    Activity,
    ApiCall,
    ApiError,
    Compaction,
    Prompt,
    SessionMeta,
    Source,
    SubagentMeta,
    TitleKind,
    ToolResult,
    ToolUse,
)
from cctop.sources import load as history
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import classify, find_transcripts, quick_scan
from cctop.sources.transcripts.tracker import FileTracker
from cctop.store import record_codec
from cctop.store.database import SCHEMA_VERSION, Store

PROJECT = "-home-dev-proj1"


def sample_tree(tmp_path: Path) -> Path:
    """Both sample sets under one projects/ root (the spotter files named as sessions)."""
    root = tmp_path / "claude" / "projects"
    shutil.copytree(REAL_CC / "projects", root)
    spotter = root / "-home-marco-spotter"
    shutil.copytree(SPOTTER, spotter, ignore=shutil.ignore_patterns("README.md"))
    (spotter / "ae4a77f8-aedd-4bc1-888f-c94edc91af04.jsonl").write_bytes(
        line(assistant("ae4a77f8-aedd-4bc1-888f-c94edc91af04", "msg_parent", "req_parent"))
    )
    return root


def open_store(path: Path, warnings: list[str] | None = None) -> Store:
    return Store.open(path, (warnings if warnings is not None else []).append)


def load_tracker(root: Path, store: Store) -> tuple[Ledger, FileTracker]:
    """A restart: the ledger rebuilt from the store plus whatever the files gained since."""
    ledger = Ledger(packaged_pricebook())
    tracker = FileTracker([root], ledger.ingest, ledger.warn, store, ledger.mark_files_deleted)
    files = tracker.scan()
    tracker.load_store(present={str(f.path) for f in files})
    for file in files:
        tracker.update(str(file.path), file.role)
    return ledger, tracker


def once(capsysbinary, *args: str) -> tuple[dict, bytes]:
    assert main(["--once", "--json", *args]) == 0
    out = capsysbinary.readouterr().out
    return orjson.loads(out), out


def comparable(doc: dict) -> dict:
    doc = orjson.loads(orjson.dumps(doc))  # a deep copy
    doc.pop("generated_at")
    for session in doc["sessions"]:
        session["agents"] = sorted(session["agents"], key=lambda a: a["id"])
    return doc


def test_every_record_type_survives_the_codec() -> None:
    records = [
        ApiCall(
            "s",
            "a1",
            "claude-opus-4-8",
            "msg",
            "req",
            1.5,
            1,
            2,
            3,
            4,
            1,
            3,
            1,
            "fast",
            "us",
            True,
            True,
            Source.TRANSCRIPT,
            0.25,
            12.0,
            3.0,
        ),  # fmt: skip
        ApiCall("s", None, "", None, None, None),
        ToolUse("s", None, "toolu_1", "Bash", 2.0),
        ToolResult("s", "toolu_1", True, 3.0, 5.0, "Bash", Source.OTLP),
        Prompt("s", "p1", 4.0, 99),
        Compaction("s", "acompact-1", 5.0, "auto", 1000),
        SessionMeta("s", 6.0, "/w", "main", "2.1.197", "a title", TitleKind.AI),
        SubagentMeta("s", "a1", "Explore", "look"),
        ApiError("s", 7.0, "529", "overloaded", "claude-opus-4-8", 2),
        Activity("s", "claude_code.lines_of_code.count", 3.0, 8.0, (("type", "added"),)),
    ]
    assert record_codec.decode(record_codec.encode(records)) == records


def test_quick_scan_classifies_like_classify(tmp_path: Path) -> None:
    names = [
        ("p", "s.jsonl"), ("p", "agent-x.jsonl"), ("p", "s", "subagents", "agent-y.jsonl"),
        ("p", "s", "workflows", "r", "agent-z.jsonl"), ("p", "s", "subagents", "notes.jsonl"),
        ("p", "journal.jsonl"), ("s.jsonl",), ("p", "s", "tool-results", "agent-q.jsonl"),
        ("p", "s.json"),
    ]  # fmt: skip
    for parts in names:
        path = tmp_path.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    found = quick_scan([tmp_path])
    assert found is not None
    for parts in names:
        assert (str(tmp_path.joinpath(*parts)) in found) == (classify(PurePath(*parts)) is not None), parts
    assert set(found) == {str(f.path) for f in find_transcripts(tmp_path, print)}


def test_warm_start_reads_only_appended_bytes(tmp_path: Path) -> None:
    root = sample_tree(tmp_path)
    first = Live(root, store=open_store(tmp_path / "s.db"))
    assert first.matches_fresh_parse()
    first.tailer.stop()
    target = root / PROJECT / "2da9138a-9060-4234-9110-d4601e2b59d1.jsonl"
    appended = line(assistant(target.stem, "msg_more", "req_more", output_tokens=11))
    with open(target, "ab") as handle:
        handle.write(appended)
    second = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        status = second.tailer.status
        assert status.bytes_read == len(appended)
        assert status.records_from_store > 0
        count = len(list(root.rglob("*.jsonl")))
        assert (status.backfill_done, status.backfill_total, status.files_watched) == (count, count, count)
        assert second.batches[0][0].session_id == target.stem  # the newest file's history first
        assert figures(second.ledger) == figures(ledger_for(root))
    finally:
        second.tailer.stop()


def test_an_exception_between_parse_and_commit_loses_nothing(tmp_path: Path) -> None:
    root = sample_tree(tmp_path)
    store = open_store(tmp_path / "s.db")
    real_commit = store.commit
    calls = 0

    def failing_commit(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("killed between parse and commit")
        return real_commit(*args, **kwargs)

    store.commit = failing_commit  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        load_tracker(root, store)
    store.close()
    ledger, tracker = load_tracker(root, open_store(tmp_path / "s.db"))
    assert figures(ledger) == figures(ledger_for(root))
    committed = sum(f.offset for f in open_store(tmp_path / "s.db").files().values())
    total = sum(p.stat().st_size for p in root.rglob("*.jsonl"))
    assert committed == total
    assert 0 < tracker.bytes_read < total  # only what the first run had not committed


KILLER = """
import os, signal, sys
from pathlib import Path
from cctop.store import database as store_module
from cctop.store.database import Store
from cctop.sources.transcripts.tracker import FileTracker

real_compact, calls = store_module._compact, [0]
def compact(db, file_id):
    calls[0] += 1
    real_compact(db, file_id)
    if calls[0] == 3:  # inside the transaction: rows inserted, offset moved, not committed
        os.kill(os.getpid(), signal.SIGKILL)
store_module._compact = compact
root = Path(sys.argv[1])
tracker = FileTracker([root], lambda records: None, print, Store.open(Path(sys.argv[2]), print))
for file in tracker.scan():
    tracker.update(str(file.path), file.role)
"""


def test_a_process_killed_inside_a_transaction_loses_nothing(tmp_path: Path) -> None:
    root = sample_tree(tmp_path)
    db = tmp_path / "s.db"
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(root), str(db)], cwd=REPO, capture_output=True, timeout=60
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert len(open_store(db).files()) == 2  # two files committed before the kill
    ledger, tracker = load_tracker(root, open_store(db))
    assert figures(ledger) == figures(ledger_for(root))
    again, tracker = load_tracker(root, open_store(db))
    assert tracker.bytes_read == 0
    assert figures(again) == figures(ledger)


def test_two_processes_at_once_share_the_store(tmp_path: Path) -> None:
    root = sample_tree(tmp_path)
    db = tmp_path / "s.db"
    open_store(db).close()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            load_tracker(root, open_store(db))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    ledger, tracker = load_tracker(root, open_store(db))
    assert tracker.bytes_read == 0
    assert figures(ledger) == figures(ledger_for(root))
    with sqlite3.connect(db) as conn:  # each byte range stored once
        ranges = conn.execute("SELECT file_id, start, count(*) FROM chunks GROUP BY 1, 2").fetchall()
    assert all(count == 1 for _, _, count in ranges)


def test_once_uses_the_store_and_matches_a_fresh_read(tmp_path: Path, capsysbinary, monkeypatch) -> None:
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    cold, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    built, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)

    def no_rebuild(*args, **kwargs):
        raise AssertionError("a warm run with nothing changed must not rebuild")

    monkeypatch.setattr(history, "_rebuild", no_rebuild)
    warm, raw = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert comparable(cold) == comparable(built) == comparable(warm)
    assert raw == orjson.dumps(warm, option=orjson.OPT_INDENT_2) + b"\n"  # same bytes as report.document
    project, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db, "--project", "spotter")
    assert project["sessions"]
    assert all("spotter" in (s["project"] + (s["cwd"] or "")).lower() for s in project["sessions"])
    assert project["totals"]["requests"] == sum(s["requests"] for s in project["sessions"])
    assert 0 < project["totals"]["requests"] < warm["totals"]["requests"]


def test_once_after_an_append_reads_only_the_new_bytes(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    db = tmp_path / "s.db"
    once(capsysbinary, "--claude-dir", str(root), "--store", str(db))
    target = root / PROJECT / "a4f1c02b-8334-4030-bda4-247b29589223.jsonl"
    appended = line(assistant(target.stem, "msg_new", "req_new", output_tokens=5))
    with open(target, "ab") as handle:
        handle.write(appended)
    store = open_store(db)
    saved = history.Saved("key", lambda s: b"{}")
    loaded = history.history([root], lambda: Ledger(packaged_pricebook()), store, saved=saved, workers=False)
    ledger = loaded.ledger
    assert loaded.cached is None and loaded.bytes_read == len(appended)
    assert figures(ledger) == figures(ledger_for(root))
    again = history.history([root], lambda: Ledger(packaged_pricebook()), store, saved=saved, workers=False)
    assert again.cached is not None and again.bytes_read == 0
    assert len(again.cached.sessions()) == len(ledger.snapshot().sessions)


def test_history_outlives_deleted_transcripts(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    before, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    gone = root / PROJECT / "2ccb795b-01cb-489a-8d13-a582aba90816.jsonl"
    gone.unlink()
    for attempt in range(2):  # the rebuild that notices, then the saved aggregates
        after, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db, "--since", "3650d")
        by_id = {s["id"]: s for s in after["sessions"]}
        assert by_id[gone.stem]["files_deleted"] is True, attempt
        assert after["totals"] == before["totals"]
    fresh, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    assert gone.stem not in {s["id"] for s in fresh["sessions"]}


def test_a_price_fix_reprices_history(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    prices = tmp_path / "prices.toml"
    prices.write_text("[claude-opus-4-8]\ninput = 500.0\noutput = 900.0\n")
    old, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    new, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db, "--prices", str(prices))
    fresh, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store", "--prices", str(prices))
    assert new["totals"]["cost_usd_priced"] > old["totals"]["cost_usd_priced"]
    assert comparable(new) == comparable(fresh)
    back, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert back["totals"] == old["totals"]


def test_a_corrupt_store_is_reported_and_rebuilt(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    db = tmp_path / "s.db"
    cold, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    once(capsysbinary, "--claude-dir", str(root), "--store", str(db))
    data = db.read_bytes()  # a store scribbled over past its first page (a foreign file is left alone)
    db.write_bytes(data[:4096] + b"this is not a database, it is a file someone scribbled over" * 100)
    rebuilt, _ = once(capsysbinary, "--claude-dir", str(root), "--store", str(db))
    assert any("unreadable" in w and "rebuilt it from the transcripts" in w for w in rebuilt["warnings"])
    assert rebuilt["totals"] == cold["totals"]
    assert list(tmp_path.glob("s.db.corrupt-*"))  # kept aside, not destroyed
    again, _ = once(capsysbinary, "--claude-dir", str(root), "--store", str(db))
    assert again["warnings"] == [] and again["totals"] == cold["totals"]


def test_rebuild_discards_the_store(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    db = tmp_path / "s.db"
    once(capsysbinary, "--claude-dir", str(root), "--store", str(db))
    with sqlite3.connect(db) as conn:  # a store that disagrees with the transcripts
        conn.execute("UPDATE session_cache SET requests = requests + 1000")
    stale, _ = once(capsysbinary, "--claude-dir", str(root), "--store", str(db))
    rebuilt, _ = once(capsysbinary, "--claude-dir", str(root), "--store", str(db), "--rebuild")
    cold, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    assert stale["totals"]["requests"] > cold["totals"]["requests"]  # it really served the store
    assert rebuilt["totals"] == cold["totals"]


def test_an_unusable_store_path_falls_back_to_reading(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store's directory should be")
    assert main(["--once", "--json", "--claude-dir", str(root), "--store", str(blocker / "s.db")]) == 0
    captured = capsysbinary.readouterr()
    assert orjson.loads(captured.out)["totals"]["requests"] > 0
    assert b"cannot create the store directory" in captured.err
    assert b"continuing without the store" in captured.err


def test_table_output_from_saved_aggregates(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    outputs = []
    for extra in (["--no-store"], ["--store", db], ["--store", db]):
        assert main(["--once", "--claude-dir", str(root), *extra]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
    assert "total" in outputs[0]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")
def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    from cctop.store.database import StoreError

    with pytest.raises(StoreError, match="newer cctop"):
        open_store(db)


def forbid_full_rebuild(monkeypatch) -> None:
    def no_rebuild(*args, **kwargs):
        raise AssertionError("a few changed files must not rebuild everything")

    monkeypatch.setattr(history, "_rebuild", no_rebuild)


def test_once_rebuilds_only_sessions_a_change_touches(tmp_path: Path, capsysbinary, monkeypatch) -> None:
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    once(capsysbinary, "--claude-dir", str(root), "--store", db)
    forbid_full_rebuild(monkeypatch)
    target = root / PROJECT / "a4f1c02b-8334-4030-bda4-247b29589223.jsonl"
    with open(target, "ab") as handle:
        handle.write(line(assistant(target.stem, "msg_new", "req_new", output_tokens=5)))
    # A resumed session: a new file replaying another session's calls before its own.
    source = root / PROJECT / "2da9138a-9060-4234-9110-d4601e2b59d1.jsonl"
    resumed = root / PROJECT / "99999999-9999-4999-8999-999999999999.jsonl"
    replay = source.read_bytes().replace(source.stem.encode(), resumed.stem.encode())
    resumed.write_bytes(replay + line(assistant(resumed.stem, "msg_own", "req_own", output_tokens=3)))
    (root / "-home-marco-spotter" / "tool_heavy.jsonl").unlink()
    warm, raw = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    monkeypatch.undo()
    cold, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    cold_total = cold["totals"]
    for key in ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "tool_calls"):
        gone = {s["id"]: s for s in warm["sessions"]}["tool_heavy"][key]
        assert warm["totals"][key] == cold_total[key] + gone, key  # + the deleted file's history
    assert {s["id"]: s for s in warm["sessions"]}["tool_heavy"]["files_deleted"] is True
    assert raw == orjson.dumps(warm, option=orjson.OPT_INDENT_2) + b"\n"
    forbid_full_rebuild(monkeypatch)
    again, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert comparable(again) == comparable(warm)


def age_files(root: Path, seconds_ago: float) -> None:
    """Give the transcripts under ``root`` mtimes a second apart, the last path by name (the
    spotter's tool_heavy.jsonl) newest, so it sorts in front of the others."""
    now = time.time()
    for i, path in enumerate(sorted(root.rglob("*.jsonl"), reverse=True)):
        stamp = now - seconds_ago - i
        os.utime(path, (stamp, stamp))


# Recent files are read before the watches go up; a gone file sorts between them by mtime.
@pytest.mark.parametrize("seconds_ago", [0, 30 * 86400], ids=["live", "old"])
def test_tailer_restart_after_a_file_was_deleted_meanwhile(tmp_path: Path, seconds_ago: float) -> None:
    root = sample_tree(tmp_path)
    age_files(root, seconds_ago)
    first = Live(root, store=open_store(tmp_path / "s.db"))
    expected = figures(first.ledger)
    first.tailer.stop()
    gone = root / "-home-marco-spotter" / "tool_heavy.jsonl"
    gone.unlink()
    second = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        assert figures(second.ledger) == expected  # history kept
        assert "tool_heavy" in second.deleted
        assert second.ledger.snapshot().sessions["tool_heavy"].files_deleted
        assert second.tailer.status.bytes_read == 0
    finally:
        second.tailer.stop()


def test_a_store_that_fails_mid_run_falls_back_to_the_transcripts(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    db = tmp_path / "s.db"
    cold, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    once(capsysbinary, "--claude-dir", str(root), "--store", str(db))
    with sqlite3.connect(db) as conn:  # opens fine, breaks on first use
        conn.execute("DROP TABLE session_cache")
    assert main(["--once", "--json", "--claude-dir", str(root), "--store", str(db)]) == 0
    captured = capsysbinary.readouterr()
    assert b"failed (no such table: session_cache)" in captured.err and b"--rebuild" in captured.err
    assert comparable(orjson.loads(captured.out)) == comparable(cold)
    rebuilt, _ = once(capsysbinary, "--claude-dir", str(root), "--store", str(db), "--rebuild")
    assert comparable(rebuilt) == comparable(cold)


def test_a_writer_that_lost_a_race_brings_the_store_up_to_date(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    (root / PROJECT).mkdir(parents=True)
    target = root / PROJECT / "race.jsonl"
    parts = [line(assistant("race", f"msg_{i}", f"req_{i}", output_tokens=i + 1)) for i in range(3)]
    target.write_bytes(parts[0])
    a_ledger, a = load_tracker(root, open_store(tmp_path / "s.db"))  # A stores part 0
    b_ledger, b = load_tracker(root, open_store(tmp_path / "s.db"))  # B adopts A's offset
    with open(target, "ab") as handle:
        handle.write(parts[1])
    b.update(str(target))  # B stores part 1, then stops
    with open(target, "ab") as handle:
        handle.write(parts[2])
    a.update(str(target))  # A read parts 1-2 from its own offset: loses the race for part 1
    stored = open_store(tmp_path / "s.db").file(str(target))
    assert stored is not None and stored.offset == target.stat().st_size  # no stall at B's offset
    restarted, tracker = load_tracker(root, open_store(tmp_path / "s.db"))
    assert tracker.bytes_read == 0
    assert figures(restarted) == figures(ledger_for(root)) == figures(a_ledger)
    assert figures(restarted)[0] == 3


def test_a_line_at_a_time_does_not_pile_up_chunks(tmp_path: Path) -> None:
    from cctop.store.database import MAX_CHUNKS_PER_FILE

    root = tmp_path / "projects"
    (root / PROJECT).mkdir(parents=True)
    target = root / PROJECT / "live.jsonl"
    target.write_bytes(b"")
    store = open_store(tmp_path / "s.db")
    ledger = Ledger(packaged_pricebook())
    tracker = FileTracker([root], ledger.ingest, ledger.warn, store)
    for i in range(MAX_CHUNKS_PER_FILE * 2 + 5):
        with open(target, "ab") as handle:
            handle.write(line(assistant("live", f"msg_{i}", f"req_{i}")))
        tracker.update(str(target))
    with sqlite3.connect(tmp_path / "s.db") as conn:
        chunks = conn.execute("SELECT start, end FROM chunks ORDER BY start").fetchall()
    assert len(chunks) <= MAX_CHUNKS_PER_FILE
    assert chunks[0][0] == 0 and chunks[-1][1] == target.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:], strict=False))  # contiguous
    restarted, again = load_tracker(root, open_store(tmp_path / "s.db"))
    assert again.bytes_read == 0
    assert figures(restarted) == figures(ledger_for(root)) == figures(ledger)


def test_editing_code_that_shapes_the_output_invalidates_saved_aggregates(tmp_path: Path) -> None:
    import types

    source = tmp_path / "shaping.py"
    source.write_text("def session_json(s):\n    return {'id': s.id}\n")
    module = types.ModuleType("shaping")
    module.__file__ = str(source)
    book = packaged_pricebook()
    before = history.aggregate_key(book, True, module)
    assert history.aggregate_key(book, True, module) == before
    source.write_text("def session_json(s):\n    return {'id': s.id, 'new': 1}\n")
    assert history.aggregate_key(book, True, module) != before
    assert history.aggregate_key(book, False, module) != history.aggregate_key(book, True, module)


def test_a_shared_store_reports_only_the_roots_asked_for(tmp_path: Path, capsysbinary) -> None:
    first = sample_tree(tmp_path / "a")
    second = tmp_path / "b" / "projects" / PROJECT
    second.mkdir(parents=True)
    (second / "other.jsonl").write_bytes(line(assistant("other", "msg_other", "req_other")))
    db = str(tmp_path / "s.db")
    for _ in range(2):  # built, then from saved aggregates
        a, _ = once(capsysbinary, "--claude-dir", str(first), "--store", db)
        b, _ = once(capsysbinary, "--claude-dir", str(second.parent), "--store", db)
        both, _ = once(
            capsysbinary, "--claude-dir", str(first), "--claude-dir", str(second.parent), "--store", db
        )
        assert [s["id"] for s in b["sessions"]] == ["other"]
        assert "other" not in {s["id"] for s in a["sessions"]}
        assert both["totals"]["requests"] == a["totals"]["requests"] + 1
    live = Live(second.parent, store=open_store(tmp_path / "s.db"))
    try:
        assert list(live.ledger.snapshot().sessions) == ["other"]
    finally:
        live.tailer.stop()


def test_a_transcript_restored_after_deletion_is_followed_again(tmp_path: Path) -> None:
    root = sample_tree(tmp_path)
    age_files(root, 0)
    target = root / "-home-marco-spotter" / "tool_heavy.jsonl"
    saved = target.read_bytes()
    for step in ("build", "deleted", "restored"):
        if step == "deleted":
            target.unlink()
        elif step == "restored":
            target.write_bytes(saved + line(assistant("tool_heavy", "msg_back", "req_back")))
        live = Live(root, store=open_store(tmp_path / "s.db"))
        try:
            stats = live.ledger.snapshot().sessions["tool_heavy"]
            assert stats.files_deleted == (step == "deleted"), step
            assert stats.tokens.requests == (5 if step == "restored" else 4), step
        finally:
            live.tailer.stop()


def stored_state(db: str) -> tuple[dict, dict, list]:
    """path -> (offset, sessions, records), path -> chunk count, sorted dedupe keys."""
    store = open_store(Path(db))
    try:
        files = {
            p: (f.offset, f.sessions, sorted(map(repr, store.load_file(p)))) for p, f in store.files().items()
        }
        with sqlite3.connect(db) as conn:
            chunks = dict(
                conn.execute(
                    "SELECT f.path, count(*) FROM chunks c JOIN files f ON f.id = c.file_id GROUP BY 1"
                ).fetchall()
            )
            keys = sorted(
                conn.execute("SELECT k.key, s.name FROM call_keys k JOIN sessions s ON s.id = k.session")
            )
    finally:
        store.close()
    return files, chunks, keys


def test_a_store_filled_by_workers_holds_what_a_serial_fill_holds(
    tmp_path: Path, capsysbinary, monkeypatch
) -> None:
    root = sample_tree(tmp_path)
    serial_db, fanned_db = str(tmp_path / "serial.db"), str(tmp_path / "fanned.db")
    cold, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    serial, _ = once(capsysbinary, "--claude-dir", str(root), "--store", serial_db)
    use_workers(monkeypatch)
    writes: list[int] = []
    real_write = Store.commit_whole_files

    def counted(self, files, *keys):
        writes.append(len(files))
        real_write(self, files, *keys)

    monkeypatch.setattr(Store, "commit_whole_files", counted)
    fanned, raw = once(capsysbinary, "--claude-dir", str(root), "--store", fanned_db)
    assert len(writes) > 1 and sum(writes) == len(list(root.rglob("*.jsonl")))  # the workers' path
    assert comparable(fanned) == comparable(serial) == comparable(cold)
    assert raw == orjson.dumps(fanned, option=orjson.OPT_INDENT_2) + b"\n"
    assert stored_state(fanned_db) == stored_state(serial_db)
    monkeypatch.undo()
    forbid_full_rebuild(monkeypatch)
    warm, _ = once(capsysbinary, "--claude-dir", str(root), "--store", fanned_db)  # saved aggregates
    assert comparable(warm) == comparable(cold)
    target = root / PROJECT / "2da9138a-9060-4234-9110-d4601e2b59d1.jsonl"
    with open(target, "ab") as handle:
        handle.write(line(assistant(target.stem, "msg_after", "req_after", output_tokens=7)))
    grown, _ = once(capsysbinary, "--claude-dir", str(root), "--store", fanned_db)
    monkeypatch.undo()
    assert comparable(grown) == comparable(once(capsysbinary, "--claude-dir", str(root), "--no-store")[0])
    assert stored_state(fanned_db)[1][str(target)] == 2  # the appended line is a chunk of its own


def test_a_fill_that_dies_midway_loses_and_doubles_nothing(tmp_path: Path, capsysbinary, monkeypatch) -> None:
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    use_workers(monkeypatch)
    real_write, writes = Store.commit_whole_files, []

    def dying_write(self, files, *keys):
        writes.append(len(files))
        if len(writes) == 2:
            raise KeyboardInterrupt  # killed before the second group's transaction
        real_write(self, files, *keys)

    monkeypatch.setattr(Store, "commit_whole_files", dying_write)
    with pytest.raises(KeyboardInterrupt):
        once(capsysbinary, "--claude-dir", str(root), "--store", db)
    stored = open_store(Path(db)).files()
    assert len(stored) == writes[0] < len(list(root.rglob("*.jsonl")))
    # The next run replays the projects stored whole and has workers read the others.
    resumed: list[int] = []

    def counted(self, files, *keys):
        resumed.append(len(files))
        real_write(self, files, *keys)

    monkeypatch.setattr(Store, "commit_whole_files", counted)
    again, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert sum(resumed) == len(list(root.rglob("*.jsonl"))) - writes[0]
    monkeypatch.undo()
    cold, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store")
    assert comparable(again) == comparable(cold)
    files, chunks, _ = stored_state(db)
    assert set(chunks.values()) == {1}  # no byte range stored twice
    sizes = {str(p): p.stat().st_size for p in root.rglob("*.jsonl")}
    assert {p: offset for p, (offset, _, _) in files.items()} == sizes


def test_a_v2_store_is_migrated_with_its_links(tmp_path: Path, capsysbinary) -> None:
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    built, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    store = open_store(Path(db))
    expected = {s: store.linked_sessions({s}) for s in store.files()[next(iter(store.files()))].sessions}
    linked_before = {row[0] for row in store._db.execute("SELECT name FROM sessions")}
    store.close()
    with sqlite3.connect(db) as conn:  # back to the v2 layout: text keys, no sessions table
        conn.executescript(
            "DROP TABLE call_keys; DROP TABLE sessions;"
            "CREATE TABLE call_keys (key TEXT NOT NULL, session TEXT NOT NULL, UNIQUE (key, session));"
            "PRAGMA user_version = 2;"
        )
    store = open_store(Path(db))
    try:
        assert {row[0] for row in store._db.execute("SELECT name FROM sessions")} == linked_before
        assert {s: store.linked_sessions({s}) for s in expected} == expected
        resumed = store.linked_sessions({"2da9138a-9060-4234-9110-d4601e2b59d1"})
        assert len(resumed) > 1  # the sample's resumed sessions share replayed calls
    finally:
        store.close()
    again, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert comparable(again) == comparable(built)


def test_new_prices_have_workers_replay_unchanged_projects_from_the_store(
    tmp_path: Path, capsysbinary, monkeypatch
) -> None:
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    prices = tmp_path / "prices.toml"
    prices.write_text("[claude-opus-4-8]\ninput = 500.0\noutput = 900.0\n")
    use_workers(monkeypatch)
    once(capsysbinary, "--claude-dir", str(root), "--store", db)
    in_this_process: list[str] = []
    real_load = Store.load

    def load(self, paths):
        in_this_process.extend(paths)
        return real_load(self, paths)

    monkeypatch.setattr(Store, "load", load)
    before = stored_state(db)
    repriced, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db, "--prices", str(prices))
    assert in_this_process == []  # every project unchanged: all replayed by the workers
    assert stored_state(db) == before  # and nothing read again or written
    fresh, _ = once(capsysbinary, "--claude-dir", str(root), "--no-store", "--prices", str(prices))
    assert comparable(repriced) == comparable(fresh)
    # One project changed: it is rebuilt here, the others still replayed by the workers.
    target = root / PROJECT / "2da9138a-9060-4234-9110-d4601e2b59d1.jsonl"
    with open(target, "ab") as handle:
        handle.write(line(assistant(target.stem, "msg_later", "req_later", output_tokens=9)))
    (root / PROJECT / "a4f1c02b-8334-4030-bda4-247b29589223.jsonl").unlink()
    mixed, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert in_this_process and all(f"/{PROJECT}/" in p for p in in_this_process)  # not spotter's
    monkeypatch.undo()
    serial_db = str(tmp_path / "serial.db")
    shutil.copy(db, serial_db)
    with sqlite3.connect(serial_db) as conn:
        conn.execute("DELETE FROM snapshot_cache")
    serial, _ = once(capsysbinary, "--claude-dir", str(root), "--store", serial_db)  # all in one ledger
    assert comparable(mixed) == comparable(serial)
    assert {s["id"]: s for s in mixed["sessions"]}["a4f1c02b-8334-4030-bda4-247b29589223"]["files_deleted"]


def test_a_v3_store_reads_present_transcripts_again_and_keeps_deleted_ones(
    tmp_path: Path, capsysbinary
) -> None:
    """v4 records say who made each call; a v3 store's records of files still on disk are
    dropped and the files read again, while the records of deleted files (all that is left of
    them) stay."""
    root = sample_tree(tmp_path)
    db = str(tmp_path / "s.db")
    gone = root / PROJECT / "2ccb795b-01cb-489a-8d13-a582aba90816.jsonl"
    once(capsysbinary, "--claude-dir", str(root), "--store", db)
    gone.unlink()
    before, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert next(s for s in before["sessions"] if s["id"] == gone.stem)["files_deleted"] is True
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 3")
        conn.execute("UPDATE files SET mtime = -1 WHERE gone = 0")  # marks the rows a re-read replaces
    after, _ = once(capsysbinary, "--claude-dir", str(root), "--store", db)
    assert comparable(after) == comparable(before)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # and every one since
        assert conn.execute("SELECT count(*) FROM files WHERE mtime = -1").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM files WHERE gone = 1").fetchone()[0] == 1


def test_the_damage_check_skips_a_store_unchanged_since_it_passed(tmp_path: Path, monkeypatch) -> None:
    """quick_check reads the whole file: a warm --once should not pay it again for a store no
    one wrote since it last passed, and must pay it again once anything did."""
    root = sample_tree(tmp_path)
    db = tmp_path / "s.db"
    checks: list[Path] = []
    real_check = Store._quick_check

    def counted(self: Store) -> str | None:
        checks.append(self.path)
        return real_check(self)

    monkeypatch.setattr(Store, "_quick_check", counted)
    store = open_store(db)
    tracker = FileTracker([root], lambda records: None, print, store)
    for file in tracker.scan():
        tracker.update(str(file.path), file.role)
    assert store.damage() is None and len(checks) == 1
    assert store.damage() is None and len(checks) == 1  # unchanged: the stamp answers
    store.close()
    reopened = open_store(db)
    assert reopened.damage() is None
    checks_after_reopen = len(checks)  # closing may checkpoint the log into the file: at most one more
    assert reopened.damage() is None and len(checks) == checks_after_reopen
    target = next(root.rglob("*.jsonl"))
    with open(target, "ab") as handle:
        handle.write(line(assistant(target.stem, "msg_stamp", "req_stamp")))
    FileTracker([root], lambda records: None, print, reopened).update(str(target))  # a write
    assert reopened.damage() is None and len(checks) == checks_after_reopen + 1
    reopened.close()
