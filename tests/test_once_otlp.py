"""``--once`` joins the telemetry a live ``cctop --otlp`` kept in the store to the transcripts:
the same figures as one ledger fed everything, cold store and warm."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import REAL_CC, SAMPLES, archive_capture, assistant, write_session

from cctop import format as fmt
from cctop.cli import build_parser
from cctop.launch import make_runtime
from cctop.model.cache import make_summarizer
from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall, ApiError, Source
from cctop.report import once
from cctop.report.sessions import session_json
from cctop.sources import load
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_all
from cctop.store.database import Store
from cctop.store.telemetry import OtlpArchive

CAPTURE = SAMPLES / "claude-code-2.1.197" / "otlp-http-json-capture.jsonl"
TOLD = "e59a59f8-31f3-403d-b973-b161a7430aad"  # the session the capture is from
UNSEEN = "req_fake000005"  # its last call: cut from the transcript below, so only OTLP saw it
ORIGINAL = "11111111-1111-4111-8111-111111111111"
RESUMED = "99999999-9999-4999-8999-999999999999"
OTHER = "22222222-2222-4222-8222-222222222222"  # no telemetry


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Path:
    """A store database holding what a real listener archived from the real capture."""
    path = tmp_path_factory.mktemp("archive") / "cctop.sqlite3"
    archive_capture(path, CAPTURE)
    return path


def cut_tree(tmp_path: Path) -> Path:
    """TOLD's real transcripts (its subagent's too) with the lines of one call missing, and a
    session without telemetry in another project. (The other 2.1.197 sessions are left out:
    the fake API behind them reused message and request ids across runs.)"""
    root = tmp_path / "claude"
    project = root / "projects" / "-home-dev-proj1"
    shutil.copytree(REAL_CC / "projects" / "-home-dev-proj1" / TOLD, project / TOLD)
    source = REAL_CC / "projects" / "-home-dev-proj1" / f"{TOLD}.jsonl"
    kept = [raw for raw in source.read_bytes().splitlines(keepends=True) if UNSEEN.encode() not in raw]
    (project / f"{TOLD}.jsonl").write_bytes(b"".join(kept))
    write_session(root, "-home-dev-other", OTHER, [assistant(OTHER, "msg_x", "req_x", output_tokens=9)])
    return root


def run(*args: str, home: Path, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "COLUMNS": str(columns)}
    env.pop("CLAUDE_CONFIG_DIR", None)
    env.pop("CCTOP_PRICES", None)
    done = subprocess.run([sys.executable, "-m", "cctop", "--once", *args], capture_output=True, env=env,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return done


def sessions_of(done: subprocess.CompletedProcess) -> dict[str, dict]:
    return {s["id"]: comparable(s) for s in orjson.loads(done.stdout)["sessions"]}


def comparable(doc: dict) -> dict:
    """A session document without what depends on the clock (the cache countdown) and what
    --once adds from the statusline samples (limit_share)."""
    return {k: v for k, v in doc.items() if k not in ("cache", "limit_share")}


def archived(store: Path) -> list[list]:
    archive = OtlpArchive(store)
    try:
        return list(archive.load())
    finally:
        archive.close()


def full_ledger(root: Path, store: Path) -> dict[str, dict]:
    """Everything in one ledger, transcripts then telemetry: what a live cctop ends up showing."""
    pricebook = packaged_pricebook()
    ledger = Ledger(pricebook, cache_summarizer=make_summarizer(pricebook))
    read_all(find_transcripts(root / "projects", ledger.warn), ledger.warn, ledger.ingest)
    for records in archived(store):
        ledger.ingest(records)
    return {sid: comparable(session_json(s)) for sid, s in ledger.snapshot().sessions.items()}


def test_a_call_only_telemetry_saw_counts_with_claude_codes_cost(tmp_path, captured):
    root = cut_tree(tmp_path)
    store = tmp_path / "cctop.sqlite3"
    shutil.copy(captured, store)
    where = ("--claude-dir", str(root), "--store", str(store))
    cold = sessions_of(run("--json", *where, home=tmp_path))
    warm = sessions_of(run("--json", *where, home=tmp_path))  # from the saved figures this time
    assert cold == warm == full_ledger(root, store)

    told = cold[TOLD]
    otlp_calls = [r for batch in archived(store) for r in batch if isinstance(r, ApiCall)]
    assert told["requests"] == len(otlp_calls) == 5  # 4 from the transcript, 1 only OTLP saw
    assert told["sources"] == ["otlp", "transcript"]
    assert told["reported_cost_usd"] == pytest.approx(sum(c.reported_cost_usd for c in otlp_calls))
    assert told["telemetry"]  # metric sums came along
    assert cold[OTHER]["sources"] == ["transcript"] and cold[OTHER]["reported_cost_usd"] is None

    # Without the store there is no kept telemetry: transcript figures only.
    alone = sessions_of(run("--json", "--no-store", "--claude-dir", str(root), home=tmp_path))
    assert alone[TOLD]["requests"] == 4 and alone[TOLD]["reported_cost_usd"] is None
    assert alone[TOLD]["sources"] == ["transcript"]
    assert alone[OTHER] == cold[OTHER]
    unseen = next(c for c in otlp_calls if c.request_id == UNSEEN)
    assert told["cost_usd"] == pytest.approx(alone[TOLD]["cost_usd"] + unseen.reported_cost_usd)


def test_the_table_marks_a_cost_claude_code_reported_differently(tmp_path, captured):
    root = cut_tree(tmp_path)
    store = tmp_path / "cctop.sqlite3"
    shutil.copy(captured, store)
    prices = tmp_path / "prices.toml"  # cctop prices Opus 4.8 at half: its figure now differs
    prices.write_text(
        "[claude-opus-4-8]\ninput = 2.5\noutput = 12.5\ncache_write_5m = 3.125\ncache_read = 0.25\n"
    )
    where = ("--claude-dir", str(root), "--store", str(store), "--prices", str(prices))
    told = sessions_of(run("--json", *where, home=tmp_path))[TOLD]
    assert told["cost_usd"] < told["reported_cost_usd"]
    for _ in range(2):  # cold store, then warm
        text = run(*where, home=tmp_path).stdout.decode()
        lines = text.splitlines()
        assert max(len(row) for row in lines) <= 80
        marked = [row for row in lines if len(row.split()) > 2 and row.split()[-2].startswith("*")]
        assert len(marked) == 1  # TOLD only: the others have no reported cost
        assert f"* Claude Code's own cost: {TOLD[:8]} ${told['reported_cost_usd']:.2f}" in text
        assert f"*${told['cost_usd']:.2f}" in marked[0]
    plain = run("--claude-dir", str(root), "--no-store", "--prices", str(prices), home=tmp_path)
    assert "*" not in plain.stdout.decode()


def resumed_pair(tmp_path: Path) -> Path:
    """ORIGINAL made three calls; RESUMED replays them (under its own id) before one of its own.
    Another project has a session without telemetry."""
    root = tmp_path / "claude"
    project = "-home-dev-resumed"
    calls = [
        assistant(ORIGINAL, f"msg_{i}", f"req_{i}", ts=f"2026-11-20T10:0{i}:00.000Z",
                  input_tokens=10 + i, cache_write=1000 * i, output_tokens=50)
        for i in range(1, 4)
    ]  # fmt: skip
    write_session(root, project, ORIGINAL, calls)
    replay = [{**c, "sessionId": RESUMED} for c in calls]
    own = assistant(
        RESUMED, "msg_own", "req_own", ts="2026-11-21T10:00:00.000Z", cache_read=3000, output_tokens=7
    )
    write_session(root, project, RESUMED, [*replay, own])
    write_session(root, "-home-dev-other", OTHER, [assistant(OTHER, "msg_x", "req_x", output_tokens=9)])
    return root


def telemetry_for_resumed(store: Path) -> None:
    """What a live cctop --otlp kept for RESUMED: its own call, one its transcript lacks, an error."""
    ts = 1_795_000_000.0
    archive = OtlpArchive(store)
    archive.append([
        ApiCall(RESUMED, None, "claude-opus-4-8", None, "req_own", ts, 10, 7, 3000, 0,
                source=Source.OTLP, reported_cost_usd=0.0123, duration_ms=800.0),
        ApiCall(RESUMED, None, "claude-opus-4-8", None, "req_otlp_only", ts + 60, 40, 20, 3000, 500,
                source=Source.OTLP, reported_cost_usd=0.0456),
        ApiError(RESUMED, ts + 90, "529", "overloaded", source=Source.OTLP),
    ])  # fmt: skip
    archive.close()


def test_a_resumed_pair_keeps_the_full_ledgers_attribution(tmp_path):
    root = resumed_pair(tmp_path)
    store = tmp_path / "cctop.sqlite3"
    telemetry_for_resumed(store)
    where = ("--json", "--claude-dir", str(root), "--store", str(store))
    cold = sessions_of(run(*where, home=tmp_path))
    warm = sessions_of(run(*where, home=tmp_path))
    expected = full_ledger(root, store)
    assert cold == warm == expected
    assert cold[ORIGINAL]["requests"] == 3  # the replayed calls stay with the smaller id
    assert cold[RESUMED]["requests"] == 2 and cold[RESUMED]["api_errors"] == 1
    assert cold[RESUMED]["reported_cost_usd"] == pytest.approx(0.0123 + 0.0456)

    # Reading only the telemetry's own session would have given it the replayed calls: the
    # whole project is what makes the figures right.
    pricebook = packaged_pricebook()
    subset = Ledger(pricebook, cache_summarizer=make_summarizer(pricebook))
    own_file = [f for f in find_transcripts(root / "projects", print) if f.role.session_id == RESUMED]
    read_all(own_file, print, subset.ingest)
    for records in archived(store):
        subset.ingest(records)
    assert subset.snapshot().sessions[RESUMED].tokens.requests == 5 != cold[RESUMED]["requests"]


def once_in_process(capsysbinary, *args: str) -> dict[str, dict]:
    assert once.run_once(build_parser().parse_args(["--once", "--json", *args])) == 0
    return {s["id"]: comparable(s) for s in orjson.loads(capsysbinary.readouterr().out)["sessions"]}


def test_only_projects_with_telemetry_are_read_again(tmp_path, monkeypatch, capsysbinary):
    root = resumed_pair(tmp_path)
    store = tmp_path / "cctop.sqlite3"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    where = ("--claude-dir", str(root), "--store", str(store))
    once_in_process(capsysbinary, *where)  # fills the store; no telemetry yet
    loads: list[list[str]] = []
    listings: list[int] = []
    real_load, real_files = Store.load, Store.files

    def load(self, paths):
        loads.append(list(paths))
        return real_load(self, paths)

    def files(self):
        listings.append(1)
        return real_files(self)

    monkeypatch.setattr(Store, "load", load)
    monkeypatch.setattr(Store, "files", files)
    plain = once_in_process(capsysbinary, *where)  # warm, an empty archive: nothing read
    assert loads == [] and listings == []
    assert plain[RESUMED]["sources"] == ["transcript"]

    telemetry_for_resumed(store)
    joined = once_in_process(capsysbinary, *where)
    assert [sorted(Path(p).name for p in paths) for paths in loads] == [
        [f"{ORIGINAL}.jsonl", f"{RESUMED}.jsonl"]
    ]
    assert joined == full_ledger(root, store)
    assert joined[OTHER] == plain[OTHER]


def test_without_a_usable_store_the_projects_are_read_from_the_files(tmp_path):
    """The fallback when the store fails mid-read: the transcripts of the projects with
    telemetry come from disk instead, with the same outcome."""
    root = resumed_pair(tmp_path)
    store = tmp_path / "cctop.sqlite3"
    telemetry_for_resumed(store)
    args = build_parser().parse_args(
        ["--once", "--claude-dir", str(root), "--prices", str(tmp_path / "none")]
    )
    runtime = make_runtime(args)
    files = [f for r in runtime.roots for f in find_transcripts(r, print)]
    plain = runtime.new_ledger()
    read_all(files, print, plain.ingest)
    finished = load.History(
        runtime.new_ledger(), len(files), finished=list(plain.snapshot().sessions.values())
    )
    loaded = load._with_telemetry(finished, runtime.roots, store, runtime.new_ledger, None, None, files)
    joined, _ = once._snapshot(loaded, runtime.warnings, as_json=False)
    got = {sid: comparable(session_json(s)) for sid, s in joined.sessions.items()}
    assert got == full_ledger(root, store)


def test_the_caption_names_a_few_differing_costs_and_counts_the_rest(tmp_path):
    from msgspec.structs import replace
    from rich.console import Console

    from cctop.report.sessions import table

    ledger = Ledger(packaged_pricebook())
    read_all(find_transcripts(resumed_pair(tmp_path) / "projects", print), print, ledger.ingest)
    snapshot = ledger.snapshot()
    base = snapshot.sessions[ORIGINAL]
    sessions = [
        replace(base, id=f"{i}" * 8 + base.id[8:], reported_cost_usd=base.cost_usd + i) for i in range(5)
    ]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table(snapshot, sessions, 80))
    text = console.export_text()
    assert max(len(row) for row in text.splitlines()) <= 80
    assert (
        sum(row.split()[-2].startswith("*") for row in text.splitlines()[2:7] if row.split()) == 4
    )  # not i=0
    one, two = (fmt.money(base.cost_usd + i) for i in (1, 2))
    caption = f"* Claude Code's own cost: 11111111 {one}, 22222222 {two}, +2 more"
    assert caption in [row.rstrip() for row in text.splitlines()]  # one line, not wrapped
