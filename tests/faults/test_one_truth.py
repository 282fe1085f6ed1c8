"""One truth in every mode. The same message.id + requestId in two project directories was
counted twice by ``--once`` once the history passed ~48 MB (worker processes read by project,
each into its own ledger: 12 calls instead of 7; the TUI said 7)."""

from __future__ import annotations

import orjson
import pytest
from helpers import assistant, ledger_for, use_workers, write_session

from cctop.cli import main


def once(capsysbinary, *args: str) -> dict:
    assert main(["--once", "--json", *args]) == 0
    return orjson.loads(capsysbinary.readouterr().out)


def figures(doc: dict) -> tuple:
    t = doc["totals"]
    return t["requests"], t["input_tokens"], t["output_tokens"], round(t["cost_usd"], 9)


@pytest.fixture
def copied_across_projects(tmp_path):
    """Session a in project A; its calls again (a copy: another session id) in project B,
    plus calls of B's own; and more projects so the groups really split."""
    calls = [assistant("a", f"m{i}", f"r{i}", input_tokens=100 + i) for i in range(5)]
    write_session(tmp_path, "-proj-A", "a", calls)
    write_session(tmp_path, "-proj-B", "b", [
        *(dict(c, sessionId="b") for c in calls), assistant("b", "mb1", "rb1"), assistant("b", "mb2", "rb2"),
    ])  # fmt: skip
    for n in range(6):
        write_session(tmp_path, f"-proj-{n}", f"other{n}", [assistant(f"other{n}", f"o{n}", f"ro{n}")])
    return tmp_path


@pytest.mark.parametrize("store", [["--no-store"], ["--store"]], ids=["no-store", "store"])
def test_worker_paths_dedupe_across_projects(copied_across_projects, capsysbinary, monkeypatch, store, tmp_path):  # noqa: E501
    root = copied_across_projects
    truth = ledger_for(root / "projects").snapshot().totals.all_time
    assert truth.requests == 5 + 2 + 6
    use_workers(monkeypatch, workers=3)
    if store == ["--store"]:
        store = ["--store", str(tmp_path / "s.sqlite3")]
    for _ in range(2):  # cold (workers), then warm
        doc = once(capsysbinary, "--claude-dir", str(root), *store)
        assert doc["totals"]["requests"] == truth.requests
        assert doc["totals"]["input_tokens"] == truth.input_tokens
        assert round(doc["totals"]["cost_usd"], 9) == round(truth.cost_usd, 9)


def test_a_changed_project_read_here_and_a_new_one_read_by_workers(tmp_path, capsysbinary, monkeypatch):
    """A warm rebuild reads changed projects in this process and new ones in workers: a call
    shared across that split was counted by both."""
    calls = [assistant("a", f"m{i}", f"r{i}", input_tokens=100 + i) for i in range(5)]
    path_a = write_session(tmp_path, "-proj-A", "a", calls)
    for n in range(6):
        write_session(tmp_path, f"-proj-{n}", f"other{n}", [assistant(f"other{n}", f"o{n}", f"ro{n}")])
    store = ["--store", str(tmp_path / "s.sqlite3")]
    use_workers(monkeypatch, workers=3)
    once(capsysbinary, "--claude-dir", str(tmp_path), *store)
    with open(path_a, "ab") as handle:  # project A changed ...
        handle.write(orjson.dumps(assistant("a", "m-new", "r-new")) + b"\n")
    for n in range(6, 40):  # ... and enough new projects that a full rebuild runs
        write_session(tmp_path, f"-proj-{n}", f"other{n}", [assistant(f"other{n}", f"o{n}", f"ro{n}")])
    write_session(tmp_path, "-proj-B", "b", [dict(c, sessionId="b") for c in calls])  # ... B copies A
    truth = ledger_for(tmp_path / "projects").snapshot().totals.all_time
    for _ in range(2):
        doc = once(capsysbinary, "--claude-dir", str(tmp_path), *store)
        got = doc["totals"]["requests"], doc["totals"]["input_tokens"]
        assert got == (truth.requests, truth.input_tokens)
