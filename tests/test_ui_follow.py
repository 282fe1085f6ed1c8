"""``--session latest|here|ID`` with sessions arriving while cctop runs, the follow/pin key,
and the cursor staying on its session when rows arrive above it."""

from __future__ import annotations

import demo
import pytest

from cctop.model.records import ApiCall, SessionMeta
from cctop.ui.app import CctopApp
from cctop.ui.screens.main import MainScreen
from cctop.ui.screens.session import SessionScreen

NEWEST = "e59a59f8-31f3-403d-b973-b161a7430aad"  # the newest sample session
SIZE = (80, 24)


@pytest.fixture
def sample(tmp_path):
    projects = demo.lay_out_samples(tmp_path)
    ledger = demo.make_ledger()
    demo.load(projects, ledger)
    return projects, ledger, demo.fixed_now(ledger)


def make_app(sample, **kwargs) -> CctopApp:
    """The app, with every notice it shows kept in ``app.notices`` (toasts expire)."""
    projects, ledger, now = sample
    clock = kwargs.pop("clock", None)
    app = CctopApp(ledger, roots=[projects], now=clock or (lambda: now), **kwargs)
    app.notices = []
    notify = app.notify

    def keep(message, *args, **kwargs):
        app.notices.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = keep
    return app


def new_session(ledger, session_id: str, at: float, cwd: str = "/home/dev/other") -> None:
    """What the tailer hands the ledger for a new ``claude`` run: its envelope and one call."""
    ledger.ingest(
        [
            SessionMeta(session_id, at, cwd=cwd, title="second run"),
            ApiCall(session_id, None, "claude-opus-4-8", f"m_{session_id}", f"r_{session_id}", at, 10, 20),
        ]
    )


async def wait_for(pilot, condition, timeout: float = 15.0) -> None:
    """Until ``condition()`` holds (the app applies snapshots on its own timers; on a loaded
    machine that can take seconds, as in demo.settle)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def summary(app: CctopApp) -> str:
    """The session screen's summary as shown; empty while a just-pushed screen has no widgets."""
    from textual.css.query import NoMatches

    try:
        return str(app.screen.query_one("#summary").render())
    except NoMatches:
        return ""


def showing(app: CctopApp) -> str | None:
    return app.screen.session_id if isinstance(app.screen, SessionScreen) else None


async def test_latest_switches_to_a_session_that_starts_later_and_says_so(sample):
    _, ledger, now = sample
    app = make_app(sample, open_session="latest")
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await wait_for(pilot, lambda: showing(app) == NEWEST)
        second = "5ec0d000-0000-4000-8000-000000000002"
        new_session(ledger, second, now - 1)
        await wait_for(pilot, lambda: showing(app) == second)
        assert any("following 5ec0d000" in notice for notice in app.notices), app.notices
        await wait_for(pilot, lambda: "following" in summary(app))


async def test_f_pins_the_session_shown_and_f_again_follows(sample):
    _, ledger, now = sample
    app = make_app(sample, open_session="latest")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: showing(app) == NEWEST)
        await pilot.press("f")  # pin
        await wait_for(pilot, lambda: "pinned" in summary(app))
        second = "5ec0d000-0000-4000-8000-000000000003"
        new_session(ledger, second, now - 1)
        await demo.settle(app, pilot)
        await demo.settle(app, pilot)
        assert showing(app) == NEWEST  # pinned: stays
        await pilot.press("f")  # follow again: switches at once
        await wait_for(pilot, lambda: showing(app) == second)


async def test_an_id_stays_pinned_when_a_newer_session_starts(sample):
    _, ledger, now = sample
    pinned = "2da9138a-9060-4234-9110-d4601e2b59d1"
    app = make_app(sample, open_session=pinned[:8])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: showing(app) == pinned)
        new_session(ledger, "5ec0d000-0000-4000-8000-000000000004", now - 1)
        await demo.settle(app, pilot)
        await demo.settle(app, pilot)
        assert showing(app) == pinned


async def test_here_waits_for_a_session_in_this_directory_then_follows_the_newest_there(sample):
    _, ledger, now = sample
    app = make_app(sample, open_session="here", cwd="/home/dev/fresh")
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await demo.settle(app, pilot)
        assert isinstance(app.screen, MainScreen)  # nothing here yet
        assert any("waiting for a session in /home/dev/fresh" in notice for notice in app.notices)
        elsewhere = "5ec0d000-0000-4000-8000-000000000005"
        new_session(ledger, elsewhere, now - 2)  # another directory: not ours
        await demo.settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        first = "5ec0d000-0000-4000-8000-000000000006"
        new_session(ledger, first, now - 1, cwd="/home/dev/fresh")
        await wait_for(pilot, lambda: showing(app) == first)
        assert any(notice.startswith("following 5ec0d000") for notice in app.notices)
        second = "5ec0d000-0000-4000-8000-000000000007"
        new_session(ledger, second, now, cwd="/home/dev/fresh")
        await wait_for(pilot, lambda: showing(app) == second)


async def test_escape_from_a_followed_session_stays_on_the_list(sample):
    _, ledger, now = sample
    app = make_app(sample, open_session="latest")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: showing(app) == NEWEST)
        await pilot.press("escape")
        new_session(ledger, "5ec0d000-0000-4000-8000-000000000008", now - 1)
        await demo.settle(app, pilot)
        await demo.settle(app, pilot)
        assert isinstance(app.screen, MainScreen)


async def test_the_cursor_stays_on_its_session_when_a_row_lands_above_and_enter_opens_it(sample):
    _, ledger, now = sample
    app = make_app(sample)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        table = app.screen.table
        await pilot.press("down", "down")
        chosen = table.cursor_session()
        assert chosen is not None and table.row_keys().index(chosen) == 2
        for n in range(3):  # new sessions arrive, newest first: above the cursor
            new_session(ledger, f"5ec0d000-0000-4000-8000-00000000001{n}", now - 1 + n)
            await demo.settle(app, pilot)
        assert table.row_keys().index(chosen) == 5
        assert table.cursor_session() == chosen
        await pilot.press("enter")
        await wait_for(pilot, lambda: showing(app) == chosen)
