"""Render the main, session and help screens from the sample transcripts to screenshots/, and
(scripts/split_pane.py) cctop in an 80-column tmux pane beside the real claude.

The session screen twice: the busiest session, and the one whose prompt cache broke most.

    python scripts/screenshots.py [--out screenshots] [--size 120x32]

SVGs always; PNGs too when cairosvg (and a Fira Code font, Debian ``fonts-firacode``) is
installed, since Rich's SVGs name that font.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


sys.path.insert(0, str(ROOT / "tests"))
import demo  # noqa: E402

from cctop.ui.app import CctopApp  # noqa: E402


async def capture(out: Path, size: tuple[int, int]) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        projects = demo.lay_out_samples(Path(tmp))
        ledger = demo.make_ledger()
        demo.load(projects, ledger)
        now = demo.fixed_now(ledger)
        app = CctopApp(
            ledger,
            now=lambda: now,
            roots=[projects],
            sources=[lambda: "transcripts: 9 files"],
        )
        written = []
        async with app.run_test(size=size) as pilot:
            await demo.settle(app, pilot)
            await pilot.press("h", "t")
            await pilot.pause()
            written.append(Path(app.save_screenshot(filename="main.svg", path=str(out))))
            # The session screen of the busiest sample session shows the most.
            busiest = max(app.snapshot.sessions.values(), key=lambda s: s.tokens.requests)
            table = app.screen.table
            table.move_cursor(table.row_keys().index(busiest.id))
            await pilot.press("enter")
            await demo.settle(app, pilot)
            await pilot.pause(0.2)
            written.append(Path(app.save_screenshot(filename="session.svg", path=str(out))))
            # And the session whose prompt cache broke most: the bar, the cause, the lost dollars.
            await pilot.press("escape")
            await pilot.pause()
            sessions = app.snapshot.sessions.values()
            broken = max(sessions, key=lambda s: (len(s.cache.breaks), s.tokens.requests))
            table = app.screen.table
            table.move_cursor(table.row_keys().index(broken.id))
            await pilot.press("enter")
            await demo.settle(app, pilot)
            await pilot.pause(0.2)
            written.append(Path(app.save_screenshot(filename="session_break.svg", path=str(out))))
            await pilot.press("escape", "question_mark")
            await pilot.pause(0.2)
            written.append(Path(app.save_screenshot(filename="help.svg", path=str(out))))
        return written


HISTORY_SIZES = ((80, 24), (160, 45))
HISTORY_END = 1795651200.0  # 2026-11-26 00:00 UTC: the corpus's last day, so pictures never change


async def capture_history(out: Path) -> list[Path]:
    """The history screen over a month: a small benchmark corpus (built from the same samples,
    fixed seed and end) read into a ledger, at 80x24 and 160x45."""
    sys.path.insert(0, str(ROOT / "bench"))
    import os
    import time

    from corpus import build

    os.environ["TZ"] = "UTC"  # days are local: the same pictures on every machine
    time.tzset()

    written = []
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), 24 * 1024 * 1024, seed=7, end=HISTORY_END)
        ledger = demo.make_ledger()
        demo.load(Path(tmp) / "projects", ledger)
        now = demo.fixed_now(ledger)
        for cols, rows in HISTORY_SIZES:
            app = CctopApp(
                ledger,
                now=lambda: now,
                roots=[Path(tmp) / "projects"],
                sources=[lambda: "transcripts"],
            )
            async with app.run_test(size=(cols, rows)) as pilot:
                await demo.settle(app, pilot)
                await pilot.press("g")
                await demo.history_drawn(app, pilot)
                name = f"history_{cols}x{rows}.svg"
                written.append(Path(app.save_screenshot(filename=name, path=str(out))))
    return written


def to_png(svgs: list[Path]) -> list[Path]:
    try:
        import cairosvg
    except (ImportError, OSError) as exc:  # OSError: the cairo library itself is missing
        print(f"no PNGs: cairosvg unavailable ({exc})", file=sys.stderr)
        return []
    pngs = []
    for svg in svgs:
        png = svg.with_suffix(".png")
        cairosvg.svg2png(url=str(svg), write_to=str(png))
        pngs.append(png)
    return pngs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--size", default="120x32", help="terminal COLSxROWS")
    parser.add_argument("--no-split-pane", action="store_true", help="skip the tmux capture beside claude")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    svgs = asyncio.run(capture(args.out, (cols, rows)))
    svgs += asyncio.run(capture_history(args.out))
    for path in svgs + to_png(svgs):
        print(path)
    if not args.no_split_pane:  # the real claude beside cctop in tmux (skipped, saying why, without them)
        import split_pane

        for path in split_pane.capture(args.out):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
