"""``cctop statusline``: the command for Claude Code's ``statusLine`` setting.

Claude Code runs it after every message with a JSON object on stdin. It records what the
object carries into the history store (see store.samples), prints one line, and exits 0
whatever happens: a status line must never break Claude Code's display, so bad input gives
a plain line, and a busy store is not waited on (the sample is spooled beside it).

Kept light on purpose (no Textual, Rich, or the transcript readers): Claude Code starts it
again after every message.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from types import SimpleNamespace

CHAIN_TIMEOUT_S = 5.0


def build_parser():
    import argparse

    from cctop.report.statusline import DEFAULT_FIELDS, DEFAULT_SEPARATOR, FIELDS

    parser = argparse.ArgumentParser(
        prog="cctop statusline",
        description="For Claude Code's statusLine setting: records the official 5-hour / weekly limit "
        "figures, the spend limit and Claude Code's prompt-cache diagnosis from its stdin into cctop's "
        "store, and prints one line. 'cctop statusline --install' sets it up.",
    )
    parser.add_argument("--store", metavar="PATH", help="SQLite store path (default: user data dir)")
    parser.add_argument("--no-store", action="store_true", help="record nothing; only print the line")
    parser.add_argument(
        "--format",
        default=",".join(DEFAULT_FIELDS),
        metavar="FIELDS",
        help=f"comma-separated fields to print, in order, from: {', '.join(FIELDS)} "
        f"(default: {','.join(DEFAULT_FIELDS)}); fields without data are left out",
    )
    parser.add_argument("--separator", default=DEFAULT_SEPARATOR, help="between fields (default ' · ')")
    parser.add_argument(
        "--chain",
        metavar="CMD",
        help="also run CMD (your previous statusline command) with the same stdin and show its output",
    )
    parser.add_argument(
        "--chain-position",
        choices=_POSITIONS,
        default="before",
        help="where CMD's output goes: before cctop's line (default), after it, on the line below, "
        "or instead of it (cctop still records)",
    )
    setup = parser.add_mutually_exclusive_group()
    setup.add_argument(
        "--install",
        action="store_true",
        help="set this as the statusLine command in Claude Code's settings.json (an existing command "
        "is kept as --chain; a backup is made)",
    )
    setup.add_argument(
        "--uninstall", action="store_true", help="remove it again (restoring a chained command)"
    )
    parser.add_argument(
        "--settings",
        metavar="PATH",
        help="with --install/--uninstall: the settings.json to edit "
        "(default: $CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json)",
    )
    return parser


_VALUED = {"--store": "store", "--format": "format", "--separator": "separator", "--chain": "chain",
           "--chain-position": "chain_position"}  # fmt: skip
_POSITIONS = ("before", "after", "below", "instead")


def _quick_args(argv: Sequence[str]) -> SimpleNamespace | None:
    """The flags of a plain run, parsed without building argparse's parser (a few ms saved on
    every message); None for anything else (help, --install, an error), left to argparse."""
    from cctop.report.statusline import DEFAULT_FIELDS, DEFAULT_SEPARATOR

    values: dict = {"store": None, "no_store": False, "format": ",".join(DEFAULT_FIELDS),
                    "separator": DEFAULT_SEPARATOR, "chain": None, "chain_position": "before",
                    "install": False, "uninstall": False}  # fmt: skip
    words = list(argv)
    while words:
        word = words.pop(0)
        name, eq, value = word.partition("=")
        if word == "--no-store":
            values["no_store"] = True
        elif name in _VALUED and (eq or words):
            values[_VALUED[name]] = value if eq else words.pop(0)
        else:
            return None
    if values["chain_position"] not in _POSITIONS:
        return None
    return SimpleNamespace(**values)


def main(argv: Sequence[str]) -> int:
    args = _quick_args(argv) or build_parser().parse_args(argv)
    if args.install or args.uninstall:
        from cctop.report import statusline_install

        return statusline_install.run(args)
    try:
        return _run(args)
    except Exception as exc:  # never leave Claude Code's status line empty
        print(f"cctop: statusline error ({type(exc).__name__})", file=sys.stderr)
        print("cctop")
        return 0


def _run(args) -> int:
    from cctop.report.statusline import PLAIN, line

    now = time.time()
    data = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    chained = _start_chain(args.chain, data) if args.chain else None
    ours = PLAIN
    sample = None
    try:
        from cctop.sources.statusline import BadInput, parse

        sample, doc = parse(data, now)
    except BadInput as exc:
        print(f"cctop statusline: {exc}", file=sys.stderr)
    else:
        if not args.no_store:
            _record(args, sample, doc.get("spend_limit"))
    theirs = _finish_chain(chained, data) if chained is not None else None
    if sample is not None:
        fields = [f.strip() for f in args.format.split(",") if f.strip()]
        colour = not os.environ.get("NO_COLOR")  # https://no-color.org
        ours = line(sample, fields, args.separator, now, _room(theirs, args.chain_position), colour)
    # UTF-8 whatever the locale says: Claude Code reads bytes, and an encoding error here
    # would blank its status line.
    sys.stdout.buffer.write((_combine(ours, theirs, args.chain_position) + "\n").encode("utf-8", "replace"))
    sys.stdout.flush()
    return 0


def _record(args, sample, spend_raw: object) -> None:
    from cctop.store import samples as stored

    path = os.path.expanduser(args.store) if args.store else default_store_path()
    try:
        stored.record(path, sample, spend_raw, close=False)  # entry.py exits without closing
    except stored.Dropped as exc:
        print(f"cctop: {exc}", file=sys.stderr)


def default_store_path() -> str:
    """store.default_path(), without importing the store module (its imports cost ~20 ms).
    --install writes the path into the command, so this runs only for hand-made setups."""
    from platformdirs import user_data_dir

    return os.path.join(user_data_dir("cctop"), "cctop.sqlite3")


def _start_chain(command: str, data: bytes):
    import subprocess

    try:
        return subprocess.Popen(
            command,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CCTOP_CHAINED": "1"},
        )
    except OSError as exc:
        print(f"cctop: cannot run --chain command ({exc})", file=sys.stderr)
        return None


def _finish_chain(process, data: bytes) -> str | None:
    import subprocess

    try:
        out, _ = process.communicate(data, timeout=CHAIN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        print(f"cctop: --chain command took over {CHAIN_TIMEOUT_S:g}s; left out", file=sys.stderr)
        return None
    except OSError:  # it exited without reading its stdin
        out = process.stdout.read() if process.stdout else b""
        process.wait()
    text = out.decode("utf-8", "replace").rstrip("\n")
    return text or None


# Columns of COLUMNS the status line may not use: Claude Code 2.1.332 indents it by two and
# cuts it with an ellipsis past COLUMNS - 4 (measured in tmux at 80 columns).
STATUS_MARGIN = 4


def _room(theirs: str | None, position: str) -> int | None:
    """Columns our line may take: what is left of ``COLUMNS`` (Claude Code sets it to its
    terminal's width) beside a chained command's output; None when the width is unknown."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    if columns <= 0:
        return None
    room = columns - STATUS_MARGIN
    if theirs is not None and position in ("before", "after"):  # on the same line as theirs
        beside = theirs.split("\n")[-1 if position == "before" else 0]
        if "\x1b" in beside:  # their colours take no room
            import re

            beside = re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]", "", beside)
        room -= len(beside) + len(" │ ")
    return max(room, 0)


def _combine(ours: str, theirs: str | None, position: str) -> str:
    """Their output is theirs: passed through as is (they may colour it), ours beside it."""
    if theirs is None:
        return ours
    if position == "instead":
        return theirs
    if position == "below":
        return f"{theirs}\n{ours}"
    if position == "before":  # at the end of their last line
        return f"{theirs} │ {ours}"
    return f"{ours} │ {theirs}"  # after: at the start of their first line
