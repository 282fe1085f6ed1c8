"""A first start with an empty store: history read by worker processes into the store, then
replayed by the tailer. Real files, real worker processes (a fork server), real threads; the
figures must equal a fresh parse, and the store must equal what the tailer stores itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assistant, ledger_for, line, use_workers
from test_store import age_files, open_store, sample_tree, stored_state
from test_tailer import Live, figures

from cctop.sources.transcripts import parallel


@pytest.fixture
def fan_out(monkeypatch):
    """Make the samples big enough for workers, in several batches (both read in this process)."""
    use_workers(monkeypatch)
    monkeypatch.setattr(parallel, "BATCH_BYTES", 64 * 1024)
    used: list[int] = []
    real = parallel.encode_many

    def counted(files, stopping):
        for batch, warnings in real(files, stopping):
            used.append(len(batch))
            yield batch, warnings

    monkeypatch.setattr(parallel, "encode_many", counted)
    return used


def history_tree(tmp_path: Path) -> Path:
    root = sample_tree(tmp_path)
    age_files(root, 30 * 86400)  # all history: nothing is read before the watches go up
    return root


def test_a_first_start_fills_the_store_in_workers_with_exact_figures(tmp_path: Path, fan_out) -> None:
    root = history_tree(tmp_path)
    live = Live(root, store=open_store(tmp_path / "workers.db"))
    try:
        assert len(fan_out) > 1 and sum(fan_out) == len(list(root.rglob("*.jsonl")))
        assert figures(live.ledger) == figures(ledger_for(root))
        assert live.warnings == []
    finally:
        live.tailer.stop()
    restart = Live(root, store=open_store(tmp_path / "workers.db"))
    try:
        assert figures(restart.ledger) == figures(ledger_for(root))
        assert restart.tailer.status.bytes_read == 0  # all of it came from the store
    finally:
        restart.tailer.stop()


def test_without_a_store_the_workers_records_are_replayed_from_memory(
    tmp_path: Path, monkeypatch, fan_out
) -> None:
    root = history_tree(tmp_path)
    targets = sorted(root.rglob("*.jsonl"))
    real = parallel.encode_many

    def growing(files, stopping):  # and the files grow after the workers read them
        for batch, warnings in real(files, stopping):
            for whole in batch:
                path = Path(whole.path)
                if path in targets and not path.stem.startswith("agent-"):
                    late = line(assistant(path.stem, f"msg_late_{path.stem}", f"req_late_{path.stem}"))
                    with open(path, "ab") as handle:
                        handle.write(late)
            yield batch, warnings

    monkeypatch.setattr(parallel, "encode_many", growing)
    live = Live(root)
    try:
        assert live.tailer._prefill is not None and sum(fan_out) == len(targets)
        assert live.matches_fresh_parse()
        assert live.warnings == []
    finally:
        live.tailer.stop()


def test_the_workers_store_what_the_tailer_would_have_stored(tmp_path: Path, monkeypatch) -> None:
    root = history_tree(tmp_path)
    Live(root, store=open_store(tmp_path / "tailer.db")).tailer.stop()
    use_workers(monkeypatch)
    Live(root, store=open_store(tmp_path / "workers.db")).tailer.stop()
    assert stored_state(str(tmp_path / "workers.db"))[0] == stored_state(str(tmp_path / "tailer.db"))[0]


def test_lines_appended_while_the_workers_read_are_counted_once(tmp_path: Path, monkeypatch, fan_out) -> None:
    root = history_tree(tmp_path)
    targets = sorted(root.rglob("*.jsonl"))
    real = parallel.encode_many

    def racing(files, stopping):
        for index, (batch, warnings) in enumerate(real(files, stopping)):
            # After the workers read them, before they are stored: the files grow.
            for number, whole in enumerate(batch):
                path = Path(whole.path)
                if path in targets and path.stem != "agent-acompact-946d2b":
                    session = path.stem if not path.stem.startswith("agent-") else path.parent.parent.name
                    late = f"late{index}_{number}"
                    with open(path, "ab") as handle:
                        handle.write(line(assistant(session, f"msg_{late}", f"req_{late}")))
            yield batch, warnings

    monkeypatch.setattr(parallel, "encode_many", racing)
    live = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        assert live.matches_fresh_parse()
    finally:
        live.tailer.stop()
    restart = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        assert figures(restart.ledger) == figures(ledger_for(root))
    finally:
        restart.tailer.stop()


def test_a_stop_in_the_middle_of_the_workers_loses_nothing(tmp_path: Path, monkeypatch, fan_out) -> None:
    root = history_tree(tmp_path)
    real = parallel.encode_many
    stopped: list[bool] = []

    def first_batch_only(files, stopping):
        for batch, warnings in real(files, stopping):
            yield batch, warnings
            stopped.append(True)
            return  # as if the tailer stopped here

    monkeypatch.setattr(parallel, "encode_many", first_batch_only)
    live = Live(root, store=open_store(tmp_path / "s.db"))
    live.tailer.stop()
    assert stopped
    monkeypatch.setattr(parallel, "encode_many", real)
    restart = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        assert figures(restart.ledger) == figures(ledger_for(root))
    finally:
        restart.tailer.stop()


def test_workers_that_fail_leave_the_reading_to_the_tailer(tmp_path: Path, monkeypatch) -> None:
    root = history_tree(tmp_path)
    use_workers(monkeypatch)

    def broken(files, stopping):
        raise OSError(24, "Too many open files")
        yield  # a generator, as the real one

    monkeypatch.setattr(parallel, "encode_many", broken)
    live = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        assert figures(live.ledger) == figures(ledger_for(root))
        assert any("worker processes failed" in w and "Too many open files" in w for w in live.warnings)
    finally:
        live.tailer.stop()


def test_small_histories_and_one_core_stay_in_one_thread(tmp_path: Path, monkeypatch) -> None:
    root = history_tree(tmp_path)
    live = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        assert live.tailer._prefill is None  # the samples are far below the threshold
        assert figures(live.ledger) == figures(ledger_for(root))
    finally:
        live.tailer.stop()
    use_workers(monkeypatch, workers=1)
    single = Live(root, store=open_store(tmp_path / "single.db"))
    try:
        assert single.tailer._prefill is None
    finally:
        single.tailer.stop()


# Run in a fresh process: multiprocessing's helper processes start once per process, and
# earlier tests would have started them with a real stderr already.
_UNDER_TEXTUAL = """
import asyncio, json, sys
from pathlib import Path

from cctop.sources.transcripts import parallel

parallel.PARALLEL_MIN_BYTES = 0
parallel.BATCH_BYTES = 64 * 1024
parallel.worker_count = lambda: 2

from cctop.model.ledger import Ledger
from cctop.sources.prices import packaged_pricebook
from cctop.store.database import Store
from cctop.sources.transcripts.tailer import Tailer
from cctop.ui.app import CctopApp


async def main() -> None:
    root, db = Path(sys.argv[1]), Path(sys.argv[2])
    ledger, warnings = Ledger(packaged_pricebook()), []
    app = CctopApp(ledger, roots=[root])
    async with app.run_test(size=(120, 30)):
        assert sys.stderr.fileno() < 0  # Textual's capture, as under the real TUI
        tailer = Tailer([root], ledger.ingest, warnings.append, store=Store.open(db, warnings.append))
        tailer.start()
        idle = await asyncio.get_running_loop().run_in_executor(None, tailer.wait_idle, 60)
        prefilled = tailer._prefill is not None
        tailer.stop()
    t = ledger.snapshot().totals.all_time
    print(json.dumps({"idle": idle, "prefilled": prefilled, "warnings": warnings,
                      "figures": [t.requests, t.input_tokens, t.output_tokens, round(t.cost_usd, 9)]}))


if __name__ == "__main__":
    asyncio.run(main())
"""


def test_workers_start_under_textual_whose_stderr_has_no_descriptor(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    root = history_tree(tmp_path)
    script = tmp_path / "under_textual.py"
    script.write_text(_UNDER_TEXTUAL)
    done = subprocess.run(
        [sys.executable, str(script), str(root), str(tmp_path / "s.db")],
        capture_output=True, timeout=120, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    outcome = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert outcome["idle"] and outcome["prefilled"]
    assert outcome["warnings"] == []
    t = ledger_for(root).snapshot().totals.all_time
    assert outcome["figures"] == [t.requests, t.input_tokens, t.output_tokens, round(t.cost_usd, 9)]


def test_a_file_deleted_before_the_workers_read_it_is_just_gone(tmp_path: Path, monkeypatch, fan_out) -> None:
    root = history_tree(tmp_path)
    real = parallel.encode_many
    gone: list[Path] = []

    def deleting(files, stopping):
        gone.append(Path(files[-1].path))
        gone[0].unlink()  # listed by the tailer, deleted before any worker opens it
        yield from real(files, stopping)

    monkeypatch.setattr(parallel, "encode_many", deleting)
    live = Live(root, store=open_store(tmp_path / "s.db"))
    try:
        assert gone and not gone[0].exists()
        assert live.warnings == []
        assert figures(live.ledger) == figures(ledger_for(root))
    finally:
        live.tailer.stop()
