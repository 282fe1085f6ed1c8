"""Running Claude Code processes from ``sessions/<pid>.json``: the real files of 2.1.197 and
2.1.332, checked against live pids; the main table's state column and "waiting first" order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import demo

from cctop.model.records import ApiCall
from cctop.sources.live_sessions import (
    BUSY,
    RUNNING,
    WAITING,
    LiveProcess,
    is_alive,
    parse,
    scan,
    sessions_dirs,
)  # fmt: skip
from cctop.ui.app import CctopApp
from cctop.ui.messages import LiveProcesses
from cctop.ui.widgets.session_table import SessionTable

SAMPLES = Path(__file__).parent / "samples" / "claude-code-2.1.332" / "live-sessions"


def test_real_files_parse():
    interactive = parse((SAMPLES / "sessions-pid-332-interactive.json").read_bytes())
    assert interactive is not None
    process, start = interactive
    assert (process.pid, process.session_id, process.state) == (
        10965,
        "b8315980-cb48-40e5-a3aa-8e2814a5e618",
        WAITING,
    )
    assert process.tmux == "lt:@3.%3" and process.kind == "interactive" and start == "74055"
    busy, _ = parse((SAMPLES / "sessions-pid-332-p-mode.json").read_bytes())
    assert busy.state == BUSY and busy.tmux is None
    old, _ = parse((SAMPLES / "sessions-pid-197-interactive.json").read_bytes())
    assert old.state == WAITING and old.session_id == "83e34233-b1ba-41c0-acbe-eede0bb66e47"
    for bad in (b"", b"[]", b"{}", b'{"pid": "1", "sessionId": "s"}', b'{"pid": true, "sessionId": "s"}'):
        assert parse(bad) is None
    assert parse(b'{"pid": 5, "sessionId": "s", "status": "new"}')[0].state == RUNNING


def test_only_live_pids_count(tmp_path):
    sessions = tmp_path / "claude" / "sessions"
    sessions.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = {"pid": child.pid, "sessionId": "alive", "status": "idle"}
        (sessions / f"{child.pid}.json").write_text(json.dumps(mine))
        for name in ("sessions-pid-332-interactive.json", "sessions-pid-332-p-mode.json"):
            shutil.copy(SAMPLES / name, sessions / name)  # their pids are long gone (or someone else's)
        (sessions / "junk.json").write_text("{")
        dirs = sessions_dirs([tmp_path / "claude" / "projects"])
        assert dirs == [sessions]
        found = scan(dirs, alive=lambda pid, start: pid == child.pid)
        assert list(found) == ["alive"] and found["alive"].state == WAITING
        assert is_alive(child.pid, None) and "alive" in scan(dirs)  # the real check agrees
        assert not is_alive(child.pid, "1")  # started at another time: a reused pid
    finally:
        child.kill()
        child.wait()
    assert not is_alive(child.pid, None)
    assert "alive" not in scan([sessions])
    assert not list(scan([tmp_path / "missing"]))


async def test_state_column_and_waiting_first(tmp_path):
    ledger = demo.make_ledger()
    now = time.time()
    model = "claude-opus-4-8"
    ledger.ingest([
        ApiCall("older", None, model, "m1", "r1", now - 60, input_tokens=5, final=True),
        ApiCall("newer", None, model, "m2", "r2", now - 10, input_tokens=5, final=True),
    ])  # fmt: skip
    app = CctopApp(ledger)

    async with app.run_test(size=(120, 30)) as pilot:
        await demo.settle(app, pilot)
        table = app.screen.query_one(SessionTable)
        assert table.row_keys() == ["newer", "older"]
        waiting = LiveProcess(os.getpid(), "older", WAITING, None, None, None)
        busy = LiveProcess(1, "newer", BUSY, None, None, None)
        app.post_message(LiveProcesses({"older": waiting, "newer": busy}))
        for _ in range(100):
            await pilot.pause(0.02)
            if table.get_cell("older", "state").plain.strip() == "wait":
                break
        assert table.get_cell("older", "state").plain.strip() == "wait"
        assert table.get_cell("newer", "state").plain.strip() == "busy"
        assert table.row_keys() == ["newer", "older"]  # the order holds until asked
        await pilot.press("w")
        await pilot.pause()
        assert table.row_keys() == ["older", "newer"]
