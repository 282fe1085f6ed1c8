"""No control codes reach the screen or stderr. A hostile corpus (markup, ANSI/OSC/C1/bidi,
10k-character strings, a lone surrogate, extreme numbers and dates) in every field a
transcript can carry, and in file and directory names, goes through ``--once``,
``--once --json``, ``--requests`` (CSV and JSON Lines) and every TUI screen: nothing
crashes and no raw control character comes out."""

from __future__ import annotations

import re
from pathlib import Path

import demo
import orjson
import pytest
from helpers import assistant, tool_result

from cctop.ui.app import CctopApp
from faults.common import cctop

# What must never reach a terminal raw: C0 (but newline; CR only in CSV's CRLF), DEL, C1,
# bidi overrides and isolates, zero-width characters, line/paragraph separators.
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

NASTY = [
    "[bold red]markup[/] [link=http://x]l[/link]",
    "\x1b[31mred\x1b[0m\x1b[2J",
    "\x1b]0;pwned title\x07",
    "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
    "c1 \x9b31m csi \x9d osc",
    "bidi \u202eevil\u202c \u2066iso\u2069 \u200bzw",
    "nul\x00 bell\x07 bs\x08 cr\r lf\n tab\t del\x7f",
    "sep\u2028line\u2029para",
    "long " + "x" * 10_000,
]
ESC_NAME = "sess-\x1b[31m\x1b]0;t\x07-1"
PROJECT = "-home-\x1b[41m-\x9b2J-proj"


def nasty(n: int) -> str:
    return NASTY[n % len(NASTY)]


def write(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))


def jline(obj: dict) -> bytes:
    return orjson.dumps(obj) + b"\n"


def surrogate_line(obj: dict) -> bytes:
    return orjson.dumps(obj).decode().replace("SURROGATE", "\\ud83d").encode() + b"\n"


def hostile_tree(home: Path) -> Path:
    root = home / ".claude" / "projects"
    for n, session in enumerate([ESC_NAME, "plain-session", "extreme-session"]):
        lines = []
        for i in range(len(NASTY)):
            text = nasty(n + i)
            lines.append(jline({
                "type": "user", "sessionId": session, "timestamp": "2026-11-20T09:00:00.000Z",
                "cwd": nasty(i), "gitBranch": nasty(i + 1), "version": nasty(i + 2), "uuid": f"p{i}",
                "message": {"role": "user", "content": text},
            }))  # fmt: skip
            lines.append(jline(assistant(
                session, f"m-{text[:30]}-{i}-{n}", f"r-{nasty(i + 3)[:40]}-{i}-{n}", model=nasty(i + 4)[:200],
                ts=f"2026-11-20T10:{i:02d}:00.000Z",
                content=[{"type": "tool_use", "id": f"t-{i}-{nasty(i)[:20]}", "name": nasty(i + 5)}],
            )))  # fmt: skip
            lines.append(jline(tool_result(session, f"t-{i}-{nasty(i)[:20]}", is_error=True,
                                           ts=f"2026-11-20T10:{i:02d}:30.000Z")))  # fmt: skip
            lines.append(jline({"type": "custom-title", "sessionId": session, "customTitle": text}))
            lines.append(jline({
                "type": "assistant", "sessionId": session, "timestamp": f"2026-11-20T10:{i:02d}:40.000Z",
                "isApiErrorMessage": True, "apiErrorStatus": nasty(i + 6), "error": nasty(i + 7),
                "message": {"id": f"err{i}", "model": "<synthetic>",
                            "content": [{"type": "text", "text": text}]},
            }))  # fmt: skip
            lines.append(jline({
                "type": "system", "subtype": "compact_boundary", "sessionId": session,
                "timestamp": f"2026-11-20T10:{i:02d}:50.000Z", "compactMetadata": {"trigger": nasty(i)},
            }))  # fmt: skip
        lines.append(surrogate_line(user_line := {
            "type": "user", "sessionId": session, "timestamp": "2026-11-20T11:00:00.000Z",
            "uuid": "sur", "message": {"role": "user", "content": "cut SURROGATE emoji"},
        }))  # fmt: skip
        del user_line
        if session == "extreme-session":  # the largest values that are still accepted
            lines.append(jline(assistant(session, "m-max", "r-max", input_tokens=2**53 - 1,
                                         output_tokens=2**53 - 1, ts="2000-01-01T00:00:00.000Z",
                                         costUSD=2.0**52)))  # fmt: skip
            lines.append(jline(assistant(session, "m-late", "r-late", ts="2099-12-31T23:59:59.999Z")))
        write(root / PROJECT / f"{session}.jsonl", lines)
        agent = root / PROJECT / session / "subagents" / f"agent-a{n}\x1b[7m.jsonl"
        write(agent, [jline(assistant(session, f"sub{n}", f"subr{n}", model=nasty(n)[:100]))])
        agent.with_name(agent.name[: -len(".jsonl")] + ".meta.json").write_bytes(
            orjson.dumps({"agentType": nasty(n + 1)[:300], "description": nasty(n + 2)})
        )
    return root


def assert_clean(output: bytes | str, where: str, crlf: bool = False) -> None:
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    if crlf:
        text = text.replace("\r\n", "\n")
    found = FORBIDDEN.search(text)
    if found is not None:
        context = text[max(0, found.start() - 60) : found.start() + 20]
        raise AssertionError(f"{where}: raw {found.group()!r} at {found.start()}: {context!r}")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("hostile")
    hostile_tree(home)
    return home


MODES = {
    "table": ["--once"],
    "json": ["--once", "--json"],
    "requests-csv": ["--once", "--requests"],
    "requests-jsonl": ["--once", "--requests", "--json"],
    "table-session": ["--once", "--session", "plain"],
}


@pytest.mark.parametrize("store", [["--no-store"], []], ids=["no-store", "store"])
@pytest.mark.parametrize("mode", list(MODES))
def test_once_outputs_are_clean(home, mode, store):
    for _ in range(2):  # cold and warm
        result = cctop(home, *MODES[mode], *store)
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        assert b"Traceback" not in result.stderr
        assert_clean(result.stdout, f"{mode} stdout", crlf=mode == "requests-csv")
        assert_clean(result.stderr, f"{mode} stderr")
        if mode == "json":
            doc = orjson.loads(result.stdout)
            assert doc["totals"]["requests"] >= 3 * len(NASTY)


def test_startup_errors_are_one_clean_line(home):
    result = cctop(home, "--once", "--store", str(home / "no\x1b]0;x\x07dir" / "file") + "/s.db")
    assert result.returncode == 0
    assert_clean(result.stderr, "store error")
    bad = home / "blocker\x1b[2J"
    bad.write_text("x")
    result = cctop(home, "--once", "--json", "--store", str(bad / "s.db"))
    assert_clean(result.stderr, "store dir error")
    assert len(result.stderr.splitlines()) == 1


async def test_every_tui_screen_is_clean(home):
    projects = home / ".claude" / "projects"
    ledger = demo.make_ledger()
    demo.load(projects, ledger)
    now = demo.fixed_now(ledger)
    app = CctopApp(ledger, roots=[projects / "\x1b]0;root\x07"], now=lambda: now)
    screens: list[tuple[str, str]] = []

    async def shot(name: str) -> None:
        await demo.settle(app, pilot)
        screens.append((name, app.export_screenshot()))

    async with app.run_test(size=(160, 50)) as pilot:
        await shot("main")
        await pilot.press("h")
        await shot("main+history")
        await pilot.press("t")
        await shot("tree")
        for n in range(len(ledger.session_ids())):
            await pilot.press("home")
            for _ in range(n):
                await pilot.press("down")
            await pilot.press("enter")
            await shot(f"session {n}")
            await pilot.press("escape")
        await pilot.press("slash")
        await pilot.press(*"x")
        await shot("filter")
        await pilot.press("escape")
        await pilot.press("question_mark")
        await shot("help")
        await pilot.press("escape")
        await pilot.press("g")  # the history charts: by model, then by project, then by week
        await demo.history_drawn(app, pilot)
        screens.append(("history charts", app.export_screenshot()))
        for view in ("p", "w"):
            drawn = app.screen.draws
            await pilot.press(view)
            for _ in range(300):
                if app.screen.draws > drawn:
                    break
                await pilot.pause(0.05)
            assert app.screen.draws > drawn, f"history charts {view} not redrawn"
            screens.append((f"history charts {view}", app.export_screenshot()))
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"sess")
        await shot("palette")
    for name, svg in screens:
        assert_clean(svg, name)
    assert any("session" in name for name, _ in screens)


async def test_empty_state_is_clean(tmp_path):
    ledger = demo.make_ledger()
    root = tmp_path / "\x1b]0;retitled\x07\x1b[2J" / "projects"
    app = CctopApp(ledger, roots=[root], backfilling=lambda: False)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.3)
        assert_clean(app.export_screenshot(), "empty state")
