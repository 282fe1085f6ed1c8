"""The live tailer on real files and real threads: whatever happens to the transcripts, the
ledger ends up with the totals of a fresh full parse of the same files."""

from __future__ import annotations

import errno
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from helpers import REAL_CC, SPOTTER, assistant, eventually, ledger_for, line, tool_result

from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.tailer import Tailer

PROJECT = "-home-dev-proj1"
TOOL_HEAVY = (SPOTTER / "tool_heavy.jsonl").read_bytes()
SUBAGENT_MAIN = (SPOTTER / "subagent.jsonl").read_bytes()
AGENT_DIR = SPOTTER / "ae4a77f8-aedd-4bc1-888f-c94edc91af04" / "subagents"


def figures(ledger: Ledger) -> tuple:
    """Everything a fresh parse must agree on."""
    snap = ledger.snapshot()
    t = snap.totals.all_time
    sessions = snap.sessions.values()
    return (
        t.requests,
        t.input_tokens,
        t.output_tokens,
        t.cache_read_tokens,
        t.cache_creation_tokens,
        round(t.cost_usd, 9),
        sum(s.tool_calls for s in sessions),
        sum(s.prompts for s in sessions),
        sum(s.compactions for s in sessions),
        tuple(sorted(snap.sessions)),
    )




class Live:
    """A running tailer over ``root`` feeding its own ledger."""

    def __init__(self, root: Path, store=None, observe: Callable | None = None) -> None:
        self.root = root
        self.ledger = Ledger(packaged_pricebook())
        self.warnings: list[str] = []
        self.deleted: list[str] = []
        self.batches: list[list] = []

        def sink(records: list) -> None:
            self.batches.append(records)
            self.ledger.ingest(records)

        def on_deleted(session_id: str) -> None:
            self.deleted.append(session_id)
            self.ledger.mark_files_deleted(session_id)

        self.tailer = Tailer([root], sink, self.warnings.append, store=store, on_deleted=on_deleted)
        if observe is not None:
            self.tailer._observe = observe  # type: ignore[method-assign]
        self.tailer.start()
        assert self.tailer.wait_idle(15)

    def matches_fresh_parse(self, timeout: float = 15.0) -> bool:
        return eventually(lambda: figures(self.ledger) == figures(ledger_for(self.root)), timeout)


@pytest.fixture
def live(tmp_path: Path):
    started: list[Live] = []

    def make(root: Path | None = None, create: bool = True, **kwargs) -> Live:
        root = root or tmp_path / "projects"
        if create:
            root.mkdir(parents=True, exist_ok=True)
        tailer = Live(root, **kwargs)
        started.append(tailer)
        return tailer

    yield make
    for tailer in started:
        tailer.tailer.stop()


def write_chunks(path: Path, data: bytes, rng: random.Random, pause: float = 0.0005) -> None:
    with open(path, "ab") as handle:
        position = 0
        while position < len(data):
            size = rng.randint(1, 4096)
            handle.write(data[position : position + size])
            handle.flush()
            position += size
            if rng.random() < 0.3:
                time.sleep(pause)


def test_backfill_reads_every_sample_newest_first(tmp_path: Path, live) -> None:
    root = tmp_path / "projects"
    shutil.copytree(REAL_CC / "projects", root)
    files = sorted(root.rglob("*.jsonl"))
    newest = files[2]
    for age, path in enumerate(files):
        os.utime(path, (1_700_000_000 - age * 100, 1_700_000_000 - age * 100))
    os.utime(newest, (1_800_000_000, 1_800_000_000))
    tailer = live(root)
    status = tailer.tailer.status
    assert (status.backfill_done, status.backfill_total, status.files_watched) == (5, 5, 5)
    assert status.bytes_read == sum(p.stat().st_size for p in files)
    assert not status.polling
    first_session = newest.stem if newest.parent.name != "subagents" else newest.parents[1].name
    assert tailer.batches[0][0].session_id == first_session
    assert figures(tailer.ledger) == figures(ledger_for(root))
    assert figures(tailer.ledger)[0] > 0


def test_lines_written_in_random_chunks_are_counted_once(tmp_path: Path, live) -> None:
    tailer = live()
    project = tailer.root / PROJECT
    project.mkdir()
    rng = random.Random(7)
    target = project / "11111111-2222-3333-4444-555555555555.jsonl"
    write_chunks(target, TOOL_HEAVY, rng)
    write_chunks(target, SUBAGENT_MAIN, rng)
    assert tailer.matches_fresh_parse()
    assert figures(tailer.ledger)[0] == 16  # 4 + 12 responses from the two samples
    assert not tailer.warnings


def test_a_line_split_across_writes_waits_for_its_newline(tmp_path: Path, live) -> None:
    tailer = live()
    project = tailer.root / PROJECT
    project.mkdir()
    target = project / "s1.jsonl"
    whole = line(assistant("s1", "msg_a", "req_a", output_tokens=42))
    with open(target, "ab") as handle:
        handle.write(whole[:50])
        handle.flush()
        assert eventually(lambda: tailer.tailer.status.files_watched == 1)
        assert tailer.tailer.wait_idle(5)
        assert tailer.ledger.snapshot().totals.all_time.requests == 0  # half a line: not yet
        handle.write(whole[50:-1])  # all but the newline: whole JSON, still not a line
        handle.flush()
        tailer.tailer.touch(target)  # the tailer reads the file now, not when an event comes
        assert tailer.tailer.wait_idle(5)
        assert tailer.ledger.snapshot().totals.all_time.requests == 0
        handle.write(b"\n")
    assert eventually(lambda: tailer.ledger.snapshot().totals.all_time.output_tokens == 42)
    assert tailer.matches_fresh_parse()


def test_truncate_and_rewrite_keeps_totals_exact(tmp_path: Path, live) -> None:
    tailer = live()
    project = tailer.root / PROJECT
    project.mkdir()
    target = project / "s2.jsonl"
    target.write_bytes(SUBAGENT_MAIN)
    assert tailer.matches_fresh_parse()
    before = tailer.tailer.status.bytes_read
    with open(target, "r+b") as handle:
        handle.truncate(0)
    write_chunks(target, SUBAGENT_MAIN, random.Random(3))
    assert eventually(lambda: tailer.tailer.status.bytes_read >= before + len(SUBAGENT_MAIN))
    assert tailer.matches_fresh_parse()


def test_rename_over_reads_the_new_file_from_zero(tmp_path: Path, live) -> None:
    tailer = live()
    project = tailer.root / PROJECT
    project.mkdir()
    target = project / "s3.jsonl"
    target.write_bytes(TOOL_HEAVY)
    assert tailer.matches_fresh_parse()
    old_inode = target.stat().st_ino
    replacement = project / "s3.jsonl.tmp"
    replacement.write_bytes(TOOL_HEAVY + line(assistant("s3", "msg_new", "req_new", output_tokens=7)))
    os.replace(replacement, target)
    assert target.stat().st_ino != old_inode
    assert tailer.matches_fresh_parse()
    assert figures(tailer.ledger)[0] == 5


def test_deleted_file_keeps_its_session_as_history(tmp_path: Path, live) -> None:
    tailer = live()
    project = tailer.root / PROJECT
    project.mkdir()
    keep = project / "keep.jsonl"
    gone = project / "gone.jsonl"
    keep.write_bytes(line(assistant("keep", "msg_k", "req_k")))
    gone.write_bytes(TOOL_HEAVY)
    assert tailer.matches_fresh_parse()
    expected = figures(tailer.ledger)
    gone.unlink()
    assert eventually(lambda: tailer.deleted == ["gone"])
    assert figures(tailer.ledger) == expected  # history stays
    stats = tailer.ledger.snapshot().sessions
    assert stats["gone"].files_deleted and not stats["keep"].files_deleted


def test_new_project_and_subagents_dirs_are_picked_up(tmp_path: Path, live) -> None:
    tailer = live()
    session = "ae4a77f8-aedd-4bc1-888f-c94edc91af04"
    project = tailer.root / "-home-marco-spotter"
    project.mkdir()
    (project / f"{session}.jsonl").write_bytes(line(assistant(session, "msg_main", "req_main")))
    assert tailer.matches_fresh_parse()
    subagents = project / session / "subagents"
    subagents.mkdir(parents=True)
    (subagents / "agent-aac57f5.meta.json").write_bytes(
        orjson.dumps({"agentType": "Explore", "description": "look around"})
    )
    for source in sorted(AGENT_DIR.glob("*.jsonl")):
        write_chunks(subagents / source.name, source.read_bytes(), random.Random(5))
    assert tailer.matches_fresh_parse()
    agents = {a.agent_id: a for a in tailer.ledger.snapshot().sessions[session].subagents}
    assert set(agents) == {"aac57f5", "acompact-946d2b"}
    assert agents["aac57f5"].agent_type == "Explore"


def test_a_50_mb_line(tmp_path: Path, live) -> None:
    tailer = live()
    project = tailer.root / PROJECT
    project.mkdir()
    target = project / "big.jsonl"
    block = {"type": "tool_use", "id": "toolu_big", "name": "Read", "input": {}}
    use = assistant("big", "msg_1", "req_1", content=[block])
    result = tool_result("big", "toolu_big", ts="2026-11-20T10:00:05.000Z")
    result["message"]["content"][0]["content"] = "x" * (50 * 1024 * 1024)
    huge = line(result)
    assert len(huge) > 50 * 1024 * 1024
    with open(target, "ab") as handle:
        handle.write(line(use))
        for start in range(0, len(huge), 7 * 1024 * 1024):
            handle.write(huge[start : start + 7 * 1024 * 1024])
            handle.flush()
        handle.write(line(assistant("big", "msg_2", "req_2", output_tokens=9)))
    assert tailer.matches_fresh_parse(timeout=30)
    stats = tailer.ledger.snapshot().sessions["big"]
    assert (stats.tokens.requests, stats.tool_calls) == (2, 1)
    assert stats.tools[0].timed == 1  # the result on the huge line was paired with its use
    assert tailer.tailer.status.bytes_read == target.stat().st_size


def test_observer_failure_falls_back_to_polling_with_one_warning(tmp_path: Path, live) -> None:
    def no_watches(root: Path):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    root = tmp_path / "projects"
    (root / PROJECT).mkdir(parents=True)
    (root / PROJECT / "a.jsonl").write_bytes(TOOL_HEAVY)
    tailer = live(root, observe=no_watches)
    assert tailer.tailer.status.polling
    assert len(tailer.warnings) == 1 and "polling" in tailer.warnings[0]
    write_chunks(root / PROJECT / "a.jsonl", SUBAGENT_MAIN, random.Random(1))
    (root / "-new-project").mkdir()
    (root / "-new-project" / "b.jsonl").write_bytes(line(assistant("b", "msg_b", "req_b")))
    assert tailer.matches_fresh_parse()
    (root / PROJECT / "a.jsonl").unlink()
    assert eventually(lambda: "a" in tailer.deleted)
    assert len(tailer.warnings) == 1


def test_a_root_that_appears_later_is_watched(tmp_path: Path, live) -> None:
    config = tmp_path / "later"
    tailer = live(config / "projects", create=False)
    for attempt in range(2):  # appears after start; then removed and created again
        (config / "projects" / PROJECT).mkdir(parents=True)
        (config / "projects" / PROJECT / "c.jsonl").write_bytes(TOOL_HEAVY)
        with open(config / "projects" / PROJECT / "c.jsonl", "ab") as handle:
            handle.write(line(assistant("c", f"msg_c{attempt}", f"req_c{attempt}")))
        if attempt == 0:
            assert tailer.matches_fresh_parse()
        # The second tree repeats the first's 4 calls (deduped) and adds one.
        assert eventually(lambda n=5 + attempt: figures(tailer.ledger)[0] == n)
        shutil.rmtree(config)
    assert not tailer.tailer.status.polling
    assert tailer.warnings == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_warns_once_and_the_rest_works(tmp_path: Path, live) -> None:
    root = tmp_path / "projects"
    (root / PROJECT).mkdir(parents=True)
    locked = root / PROJECT / "locked.jsonl"
    locked.write_bytes(TOOL_HEAVY)
    locked.chmod(0)
    (root / PROJECT / "open.jsonl").write_bytes(line(assistant("open", "msg_o", "req_o")))
    tailer = live(root)
    with open(locked, "ab"):
        pass
    assert eventually(lambda: tailer.ledger.snapshot().totals.all_time.requests == 1)
    assert sum("locked.jsonl" in w for w in tailer.warnings) == 1


def test_a_file_that_cannot_be_opened_warns_once(tmp_path: Path, live, monkeypatch) -> None:
    """The same as a mode-000 file, for test runs as root: opening it fails with EACCES."""
    from cctop.sources.transcripts import regular, tracker

    def guarded_open(path):
        if str(path).endswith("locked.jsonl"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return regular.open_regular(path)

    monkeypatch.setattr(tracker, "open_regular", guarded_open)
    root = tmp_path / "projects"
    (root / PROJECT).mkdir(parents=True)
    locked = root / PROJECT / "locked.jsonl"
    locked.write_bytes(TOOL_HEAVY)
    (root / PROJECT / "open.jsonl").write_bytes(line(assistant("open", "msg_o", "req_o")))
    tailer = live(root)
    with open(locked, "ab") as handle:
        handle.write(line(assistant("locked", "msg_l", "req_l")))
    with open(root / PROJECT / "open.jsonl", "ab") as handle:
        handle.write(line(assistant("open", "msg_o2", "req_o2")))
    assert eventually(lambda: tailer.ledger.snapshot().totals.all_time.requests == 2)
    assert tailer.tailer.wait_idle(5)
    assert [w for w in tailer.warnings if "locked.jsonl" in w] == [f"cannot read {locked}: Permission denied"]


def test_backfilling_until_start_up_has_planned_so_a_requested_session_is_not_given_up(tmp_path):
    tailer = Tailer([tmp_path / "projects"], sink=lambda records: None, warn=lambda message: None)
    assert tailer.status.backfilling  # before the files are even listed, nothing is known missing
    tailer.start()
    try:
        assert tailer.wait_idle(10)
        assert not tailer.status.backfilling
    finally:
        tailer.stop()


def test_wait_live_returns_once_the_sessions_written_lately_are_read(tmp_path: Path) -> None:
    """What the live view's start waits on (briefly) before importing its UI."""
    root = tmp_path / "projects"
    shutil.copytree(REAL_CC / "projects", root)
    for path in root.rglob("*.jsonl"):
        os.utime(path, (1_700_000_000, 1_700_000_000))  # history
    live = next(p for p in sorted(root.rglob("*.jsonl")) if p.parent.parent == root)
    os.utime(live)  # written just now
    ledger = Ledger(packaged_pricebook())
    tailer = Tailer([root], ledger.ingest, lambda message: None)
    assert not tailer.wait_live(0.01)  # not started
    tailer.start()
    try:
        assert tailer.wait_live(20)
        assert live.stem in ledger.snapshot().sessions
    finally:
        tailer.stop()


@pytest.mark.parametrize("history", [True, False], ids=["with history", "without"])
def test_the_history_loaded_hook_runs_once_when_the_backfill_is_done(tmp_path: Path, history: bool) -> None:
    """What turns the cycle collector on in the live view (launch._collect_from_now_on): once,
    after the last history file is in, and for an empty tree too."""
    root = tmp_path / "projects"
    root.mkdir()
    if history:
        shutil.copytree(REAL_CC / "projects", root, dirs_exist_ok=True)
    expected = len(ledger_for(root).snapshot().sessions)
    ledger = Ledger(packaged_pricebook())
    seen: list[tuple[int, bool]] = []  # (sessions then, still backfilling)
    tailer: Tailer | None = None

    def loaded() -> None:
        assert tailer is not None
        seen.append((len(ledger.snapshot().sessions), tailer._backfill_done < tailer._backfill_total))

    tailer = Tailer([root], ledger.ingest, lambda message: None, on_history_loaded=loaded)
    tailer.start()
    try:
        assert tailer.wait_idle(20)
        assert eventually(lambda: bool(seen))
        if history:  # news after the start does not call it again
            path = next(root.rglob("*.jsonl"))
            with path.open("ab") as handle:
                handle.write(line(assistant(path.stem, "msg_after_start", "req_after_start")))
            tailer.touch(path)
            assert tailer.wait_idle(20)
    finally:
        tailer.stop()
    assert seen == [(expected, False)]
    assert (expected > 0) == history


def test_a_file_rewritten_in_place_with_the_same_size_is_read_again(tmp_path: Path) -> None:
    """The race behind a root deleted and made again: the new file can get the old one's inode
    back and have its size, so (device, inode, size) alone says 'unchanged'. Rewriting one file
    in place gives that state every time."""
    from cctop.sources.transcripts.tracker import FileTracker

    root = tmp_path / "projects"
    (root / PROJECT).mkdir(parents=True)
    path = root / PROJECT / "c.jsonl"
    path.write_bytes(line(assistant("c", "msg_c0", "req_c0")))
    ledger = ledger_for()
    tracker = FileTracker([root], ledger.ingest, ledger.warn)
    assert tracker.update(str(path))
    inode, size = path.stat().st_ino, path.stat().st_size
    with open(path, "r+b") as handle:  # same inode, same size, other call
        handle.write(line(assistant("c", "msg_c1", "req_c1")))
    assert (path.stat().st_ino, path.stat().st_size) == (inode, size)
    tracker.update(str(path))
    assert ledger.snapshot().totals.all_time.requests == 2
