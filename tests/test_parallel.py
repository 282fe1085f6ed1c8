"""Cold reads fanned out to worker processes give exactly what one process reading serially gives."""

from __future__ import annotations

import os
import platform
import random
import shutil
import signal
import subprocess
import sys

import orjson
import pytest
from helpers import REAL_CC, assistant, spotter_tree, use_workers, write_session

from cctop.model.cache import make_summarizer
from cctop.model.ledger import Ledger
from cctop.report import sessions as report
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts import parallel
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_file


def _documents(sessions) -> dict[str, dict]:
    return {s.id: orjson.loads(orjson.dumps(report.session_json(s))) for s in sessions}


@pytest.fixture
def tree(tmp_path):
    root = spotter_tree(tmp_path)
    shutil.copytree(REAL_CC / "projects" / "-home-dev-proj1", root / "projects" / "-home-dev-proj1")
    # A resumed session replaying history inside its project: must still count once.
    original = [assistant("s-1", "m1", "r1", input_tokens=500), assistant("s-1", "m2", "r2")]
    write_session(root, "-home-dev-p3", "s-1", original)
    write_session(root, "-home-dev-p3", "s-2", [*(dict(o, sessionId="s-2") for o in original)])
    return root / "projects"


def test_fanned_out_read_equals_a_serial_read_in_any_order(tree, monkeypatch):
    book = packaged_pricebook()
    now = 1_800_000_000.0
    files = list(find_transcripts(tree, print))
    use_workers(monkeypatch)
    fanned = parallel.sessions_by_project(
        files, lambda: Ledger(book, cache_summarizer=make_summarizer(book)), now
    )
    assert fanned is not None
    sessions, warnings = fanned

    random.Random(7).shuffle(files)
    ledger = Ledger(book, cache_summarizer=make_summarizer(book))
    for file in files:
        ledger.ingest(read_file(file, print, include_tail=True).records)
    serial = ledger.snapshot(now)

    assert _documents(sessions) == _documents(serial.sessions.values())
    assert sum(s.tokens.requests for s in sessions) == serial.totals.all_time.requests
    assert sorted(warnings) == sorted(serial.warnings)


def test_small_trees_stay_in_process(tree):
    book = packaged_pricebook()
    files = list(find_transcripts(tree, print))
    assert parallel.sessions_by_project(files, lambda: Ledger(book), 0.0) is None  # well under the threshold


@pytest.mark.parametrize("grouping", ["equal", "shrinking"])
def test_projects_are_never_split_between_workers(tree, grouping):
    files = list(find_transcripts(tree, print))
    if grouping == "equal":
        groups = parallel._project_groups(files, 8)
    else:
        groups = parallel._shrinking_groups(files, 2)
        assert len(groups) > 1
    owner = {}
    for index, group in enumerate(groups):
        for file in group:
            assert owner.setdefault(file.project, index) == index
    assert sorted(f.path for g in groups for f in g) == sorted(f.path for f in files)


def test_a_fill_gives_what_sessions_by_project_gives_plus_every_file_encoded(tree, monkeypatch):
    from cctop.report.once import _session_document
    from cctop.store import record_codec
    from cctop.store.database import dedupe_keys

    book = packaged_pricebook()
    now = 1_800_000_000.0
    files = list(find_transcripts(tree, print))
    use_workers(monkeypatch)
    written = []
    summarizer = make_summarizer(book)
    keys = []

    def write(group, group_keys):
        written.extend(group)
        keys.extend(group_keys)

    filled = parallel.fill_by_project(
        files, lambda: Ledger(book, cache_summarizer=summarizer), now, _session_document, write
    )
    sessions, warnings = parallel.sessions_by_project(
        files, lambda: Ledger(book, cache_summarizer=make_summarizer(book)), now
    )
    assert filled is not None
    rows, fill_warnings = filled
    assert {row.id: row.document for row in rows} == {s.id: _session_document(s) for s in sessions}
    assert sorted(fill_warnings) == sorted(warnings)
    assert sorted(w.path for w in written) == sorted(str(f.path) for f in files)
    for file in files:
        whole = next(w for w in written if w.path == str(file.path))
        result = read_file(file, print, include_tail=True)
        assert whole.offset == result.offset
        assert record_codec.decode(whole.data or b"[]") == result.records
        assert set(dedupe_keys(result.records)) <= set(keys)


def test_documents_by_project_carry_what_the_stats_would_print(tree, monkeypatch):
    from cctop.report.once import _session_document
    from cctop.store.stats_codec import SessionSummary

    book = packaged_pricebook()
    now = 1_800_000_000.0
    files = list(find_transcripts(tree, print))
    use_workers(monkeypatch)

    def new_ledger() -> Ledger:
        return Ledger(book, cache_summarizer=make_summarizer(book))

    rendered = parallel.documents_by_project(files, new_ledger, now, _session_document)
    fanned = parallel.sessions_by_project(files, new_ledger, now)
    assert rendered is not None and fanned is not None
    (rows, row_warnings), (sessions, warnings) = rendered, fanned
    assert row_warnings == warnings
    assert [row.id for row in rows] == [s.id for s in sessions]
    for row, stats in zip(rows, sessions, strict=True):
        assert row.stats is None  # never stored: not encoded
        assert row.document == _session_document(stats)
        summary = SessionSummary(row)
        for name in SessionSummary.__slots__[:-1]:  # all but the document
            assert getattr(summary, name) == getattr(stats, name), name


def test_once_json_through_workers_is_byte_for_byte_a_read_in_process(tree, monkeypatch, capsysbinary):
    from cctop.cli import main

    monkeypatch.setenv("HOME", str(tree.parent))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tree.parent / ".config"))
    # An unknown model and a damaged line: warnings from the workers and from this process.
    write_session(tree.parent, "-home-dev-p4", "s-4", [assistant("s-4", "m4", "r4", model="claude-x-9")])
    with open(tree / "-home-dev-p4" / "s-4.jsonl", "ab") as handle:
        handle.write(b'{"type": "assistant", \n')
    outputs = []
    for workers in (False, True):
        with monkeypatch.context() as patch:
            if workers:
                use_workers(patch)
            else:
                patch.setattr(parallel, "worker_count", lambda: 1)
            assert main(["--once", "--json", "--no-store", "--claude-dir", str(tree)]) == 0
        text = capsysbinary.readouterr().out
        outputs.append(b"\n".join(line for line in text.split(b"\n") if b'"generated_at"' not in line))
    serial, fanned = outputs
    assert b"claude-x-9" in serial
    assert fanned == serial


def test_shrinking_groups_end_small_and_stay_under_an_eighth(tmp_path):
    sizes = [90, 70, 60, 50, 40, 30, 25, 20, 18, 15, 12, 10, 8, 8, 6, 5, 4, 3, 2, 2, 1, 1]
    for index, size in enumerate(sizes):
        path = tmp_path / "projects" / f"p{index:02}" / "s.jsonl"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * size * 1000)
    files = list(find_transcripts(tmp_path / "projects", print))
    groups = parallel._shrinking_groups(files, 2)
    group_sizes = [sum(f.size for f in group) for group in groups]
    total = sum(group_sizes)
    assert sorted(f.path for g in groups for f in g) == sorted(f.path for f in files)
    assert group_sizes[0] == 90_000  # the biggest project first
    assert all(size <= max(total / 8, 90_000) for size in group_sizes)
    assert group_sizes[-1] <= total / 32 < group_sizes[0] / 4


def test_forked_map_gives_every_result_in_task_order():
    from cctop.sources.transcripts.forked import forked_map

    sizes = [5, 1, 4, 1, 3, 2, 2, 1]
    # Results much bigger than a pipe's buffer, from workers that finish out of order.
    results = forked_map(lambda i: (os.getpid(), bytes([i]) * sizes[i] * 300_000), len(sizes), 2)
    assert [data for _, data in results] == [bytes([i]) * size * 300_000 for i, size in enumerate(sizes)]
    assert len({pid for pid, _ in results}) == 2 and os.getpid() not in {pid for pid, _ in results}
    assert forked_map(lambda i: i * i, 3, 8) == [0, 1, 4]
    assert forked_map(lambda i: i, 0, 2) == []


def test_forked_map_raises_a_tasks_exception_with_the_workers_traceback():
    from cctop.sources.transcripts.forked import WorkerError, forked_map

    def work(index: int) -> int:
        if index == 3:
            raise KeyError("group 3")
        return index

    with pytest.raises(KeyError, match="group 3") as caught:
        forked_map(work, 6, 2)
    assert isinstance(caught.value.__cause__, WorkerError)
    assert "in work" in str(caught.value.__cause__)

    class Unpicklable(Exception):
        def __reduce__(self):
            raise TypeError("no")

    def unpicklable(index: int) -> int:
        raise Unpicklable("local")

    with pytest.raises(WorkerError, match="Unpicklable: local"):
        forked_map(unpicklable, 2, 2)


def test_forked_map_says_when_a_worker_dies():
    from cctop.sources.transcripts.forked import WorkerError, forked_map

    def work(index: int) -> int:
        if index == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return index

    with pytest.raises(WorkerError, match="killed by signal 9"):
        forked_map(work, 4, 2)


def test_groups_sharing_a_call_are_linked_whatever_order_they_come_in():
    from cctop.sources.transcripts.linked_groups import Overlap, linked

    key_sets = [{1, 2}, {3}, {4, 5}, {2, 6}, {7}, {6, 8}, {5}, {9}]
    expected = [[0, 3, 5], [2, 6]]
    assert sorted(linked(key_sets)) == expected
    for order in ([7, 6, 5, 4, 3, 2, 1, 0], [3, 0, 6, 1, 5, 2, 7, 4]):
        overlap = Overlap()
        for index in order:
            overlap.add(key_sets[index])
        assert sorted(overlap.components(key_sets)) == expected
    assert linked([{1}, {2}, {3}]) == []


# Which worker dies, for _dies_on_a_group: set in this process before the workers fork.
_DYING: dict = {"parent": 0, "group": -1, "real": None}


def _dies_on_a_group(groups):
    """A worker function whose worker is killed on one group (the OOM killer, say). At module
    level: the store fill's pool pickles the function it runs."""
    if os.getpid() != _DYING["parent"] and _DYING["group"] in groups:
        os.kill(os.getpid(), signal.SIGKILL)
    return _DYING["real"](groups)


def once_json(tree, capsysbinary, *args: str) -> dict:
    from cctop.cli import main

    assert main(["--once", "--json", *args, "--claude-dir", str(tree)]) == 0
    return orjson.loads(capsysbinary.readouterr().out)


def read_here_then_kill_a_worker(tree, monkeypatch, capsysbinary, function: str, group: int) -> dict:
    """What --once --json prints read in this process (a run that loses a worker must print
    the same); then worker processes read, and the one running ``group`` through
    ``parallel.<function>`` is killed."""
    monkeypatch.setenv("HOME", str(tree.parent))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tree.parent / ".config"))
    with monkeypatch.context() as serial:
        serial.setattr(parallel, "worker_count", lambda: 1)
        expected = once_json(tree, capsysbinary, "--no-store")
    use_workers(monkeypatch)
    _DYING.update(parent=os.getpid(), group=group, real=getattr(parallel, function))
    monkeypatch.setattr(parallel, function, _dies_on_a_group)
    return expected


def test_a_worker_killed_mid_read_leaves_the_read_to_this_process(tree, monkeypatch, capsysbinary):
    """The OOM killer taking a worker must not end --once in a traceback or lose a session:
    the tree is read here instead, and a warning says why."""
    expected = read_here_then_kill_a_worker(tree, monkeypatch, capsysbinary, "_sessions_of", 0)
    got = once_json(tree, capsysbinary, "--no-store")
    assert [s["id"] for s in got["sessions"]] == [s["id"] for s in expected["sessions"]]
    assert got["totals"] == expected["totals"]
    assert got["warnings"] == [
        "a worker process ended without a result (killed by signal 9); read in this process instead"
    ]


def test_a_worker_killed_mid_fill_leaves_the_rest_to_this_process(tree, monkeypatch, capsysbinary, tmp_path):
    """The first --once with a store fills it through worker processes; one of them killed
    mid-fill leaves the rest of the reading here, with nothing lost or counted twice."""
    expected = read_here_then_kill_a_worker(tree, monkeypatch, capsysbinary, "_fill_group", 1)
    store = str(tmp_path / "store.sqlite3")
    got = once_json(tree, capsysbinary, "--store", store)
    assert got["sessions"] == expected["sessions"] and got["totals"] == expected["totals"]
    assert any("read in this process instead" in w for w in got["warnings"]), got["warnings"]
    monkeypatch.setattr(parallel, "_fill_group", _DYING["real"])
    again = once_json(tree, capsysbinary, "--store", store)  # from the store it filled
    assert again["sessions"] == expected["sessions"] and again["warnings"] == expected["warnings"]


PAGE_FAULTS_OF_A_REREAD = """
import resource, sys
from cctop.sources.transcripts.reader import prime_allocator
if sys.argv[1] == "primed":
    prime_allocator()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = b"x" * (4 << 20); del block  # a file's buffer, read and freed
before = faults()
block = b"x" * (4 << 20); del block  # the next file's
print(faults() - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's malloc"
)
def test_a_primed_allocator_reuses_a_files_buffer_for_the_next() -> None:
    """Unprimed, every buffer over 128 KB comes from fresh pages (~1,000 faults per 4 MB)."""
    faults = {
        how: int(subprocess.run([sys.executable, "-c", PAGE_FAULTS_OF_A_REREAD, how], capture_output=True,
                                text=True, check=True).stdout)  # fmt: skip
        for how in ("unprimed", "primed")
    }
    assert faults["unprimed"] > 900
    assert faults["primed"] < 100


def test_read_to_end_reads_what_a_file_gained_after_it_was_measured(tmp_path) -> None:
    """A cold read takes a file's size from the walk; a file that grew since is read whole
    (in more than one read), one that shrank to its end, and from an offset only what follows."""
    from cctop.sources.transcripts.regular import open_regular_fd, read_to_end

    path = tmp_path / "s.jsonl"
    data = b"".join(b'{"n":%d}\n' % n for n in range(300_000))  # 3 MB: more than one chunk
    path.write_bytes(data)
    fd = open_regular_fd(path)
    try:
        assert read_to_end(fd, 0, len(data)) == data
        assert read_to_end(fd, 0, 10) == data  # grew since it was measured
        assert read_to_end(fd, 0, len(data) + 500) == data  # shrank
        assert read_to_end(fd, 7, len(data)) == data[7:]
        assert read_to_end(fd, len(data) + 5, len(data)) == b""  # an offset past its end
    finally:
        os.close(fd)
