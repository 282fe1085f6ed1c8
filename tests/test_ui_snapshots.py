"""Snapshot tests (pytest-textual-snapshot) of the main, session and help screens on the real
sample transcripts with a fixed clock and timezone. Update with ``pytest --snapshot-update``
after reviewing the report."""

from __future__ import annotations

from pathlib import Path

import demo
import pytest

from cctop.ui.app import CctopApp

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"


pytestmark = pytest.mark.usefixtures("utc")  # see conftest.py


@pytest.fixture
def app(tmp_path) -> CctopApp:
    projects = demo.lay_out_samples(tmp_path, SAMPLES)
    ledger = demo.make_ledger()
    files = demo.load(projects, ledger)
    now = demo.fixed_now(ledger)
    return CctopApp(
        ledger, now=lambda: now, roots=[projects], sources=[lambda: f"transcripts: {files} files"]
    )


async def settle(pilot) -> None:
    await demo.settle(pilot.app, pilot)


def test_main_screen(snap_compare, app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("h", "t")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_main_screen_80x24(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_session_screen(snap_compare, app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_help_screen(snap_compare, app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_session_screen_80x24(snap_compare, app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


BROKEN = "d6e0bada"  # a sample session whose cache broke once (an MCP reconnect changed the prefix)


@pytest.mark.parametrize("size", [(120, 30), (80, 24)], ids=["120x30", "80x24"])
def test_session_screen_with_a_cache_break(snap_compare, tmp_path, size):
    projects = demo.lay_out_samples(tmp_path, SAMPLES)
    ledger = demo.make_ledger()
    demo.load(projects, ledger)
    now = demo.fixed_now(ledger)
    app = CctopApp(ledger, now=lambda: now, roots=[projects], open_session=BROKEN)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await settle(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
