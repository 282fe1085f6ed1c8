"""Command line: ``cctop`` (live TUI), ``cctop --once [--json]``, ``cctop otlp-env``, ``cctop statusline``.

``--once`` never imports Textual, so it starts fast in scripts and status bars.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cctop import __version__

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``30m``, ``2h``, ``7d``, ``1w``, a date ``2026-11-01`` or an ISO datetime -> POSIX seconds."""
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        value = text.strip()
        if value.endswith("Z"):
            value = value[:-1] + "+00:00"
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: use a duration like 30m, 2h, 7d, 1w, or a date like 2026-11-01"
        ) from None


def _percentages(text: str) -> tuple[float, ...]:
    if text.strip().lower() == "none":
        return ()
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or not all(0 < v <= 100 for v in values):
        raise argparse.ArgumentTypeError(f"--limit-alerts {text!r}: use percentages like 80,95 (or none)")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctop",
        description="top for Claude Code: live tokens, cost and prompt-cache health of every session.",
        epilog="Other commands: 'cctop report --help' prints usage by day, week, month, 5-hour block, "
        "model, project or session; 'cctop otlp-env --help' prints the environment that points claude "
        "at cctop; 'cctop statusline --help' records the official 5-hour / weekly limits from the status "
        "line.",
    )
    parser.add_argument("--version", action="version", version=f"cctop {__version__}")
    where = parser.add_argument_group("where to look")
    where.add_argument(
        "--claude-dir",
        action="append",
        type=Path,
        metavar="PATH",
        help="a Claude config dir or its projects/ dir (repeatable); replaces the defaults: "
        "$CLAUDE_CONFIG_DIR entries, ~/.config/claude, ~/.claude",
    )
    where.add_argument(
        "--prices",
        type=Path,
        metavar="PATH",
        help="price overrides (TOML); default ~/.config/cctop/prices.toml",
    )
    store = parser.add_argument_group("history store")
    store.add_argument(
        "--store", type=Path, metavar="PATH", help="SQLite store path (default: user data dir)"
    )
    store.add_argument("--no-store", action="store_true", help="keep nothing on disk; read transcripts fresh")
    store.add_argument(
        "--rebuild", action="store_true", help="discard the store and re-read every transcript"
    )
    once = parser.add_argument_group("one-shot report")
    once.add_argument("--once", action="store_true", help="print the sessions and totals, then exit")
    once.add_argument("--json", action="store_true", help="with --once: one JSON document (see README)")
    once.add_argument(
        "--requests",
        action="store_true",
        help="with --once: one row per API call, oldest first (CSV; JSON Lines with --json)",
    )
    once.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="only sessions active since (with --requests: calls made since): 30m, 2h, 7d, 1w, or a date",
    )
    once.add_argument("--project", metavar="TEXT", help="only projects whose name or cwd contains TEXT")
    parser.add_argument(
        "--session",
        metavar="ID",
        help="with --once: session id prefix; live: open ID (pinned), follow 'latest' or 'here' (cwd)",
    )
    otlp = parser.add_argument_group("OpenTelemetry receiver (opt-in)")
    otlp.add_argument(
        "--otlp", action="store_true", help="receive Claude Code's OTLP metrics, events, traces"
    )
    otlp.add_argument(
        "--otlp-bind",
        default="127.0.0.1",
        metavar="ADDR",
        help="listen address (anything but loopback needs --otlp-token)",
    )
    otlp.add_argument("--otlp-grpc-port", type=int, default=4317, metavar="N", help="0 disables gRPC")
    otlp.add_argument("--otlp-http-port", type=int, default=4318, metavar="N", help="0 disables HTTP")
    otlp.add_argument(
        "--otlp-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' (visible to other users in ps: prefer "
        "--otlp-token-file or CCTOP_OTLP_TOKEN)",
    )
    otlp.add_argument(
        "--otlp-token-file", metavar="PATH", help="read the token from this file (first line)"
    )
    parser.add_argument(
        "--refresh", type=float, default=1.0, metavar="SECONDS", help="live refresh interval (default 1.0)"
    )
    parser.add_argument(
        "--limit-alerts",
        type=_percentages,
        metavar="PCTS",
        help="alert when a 5-hour / weekly limit passes these percentages (default 80,95; 'none' for "
        "only the run-out warning); needs 'cctop statusline --install'",
    )
    return parser


def _otlp_env_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cctop otlp-env", description="Print the environment that sends claude's telemetry to cctop."
    )
    parser.add_argument("--shell", choices=("bash", "zsh", "fish", "powershell"), default="bash")
    parser.add_argument("--protocol", choices=("grpc", "http/protobuf", "http/json"), default="http/protobuf")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, default=4317)
    parser.add_argument("--http-port", type=int, default=4318)
    parser.add_argument("--token", help="the bearer token (default: $CCTOP_OTLP_TOKEN)")
    args = parser.parse_args(argv)
    if args.token is None:
        import os

        args.token = os.environ.get("CCTOP_OTLP_TOKEN") or None
    from cctop.sources.otlp.env import otlp_env

    print(
        otlp_env(
            args.shell,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            protocol=args.protocol,
            token=args.token,
            host=args.host,
        )
    )
    return 0


def main(argv: Sequence[str] | None = None, *, skip_teardown: bool = False) -> int:
    """``skip_teardown``: the process ends when this returns (the ``cctop`` script), so a
    one-shot report may end it at once (see ``_one_shot_done``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["otlp-env"]:
        return _otlp_env_main(argv[1:])
    if argv[:1] == ["statusline"]:
        from cctop.report.statusline_cmd import main as statusline_main

        return statusline_main(argv[1:])
    if "report" in argv:  # the report command's module is not imported otherwise (warm --once)
        from cctop.report.periods import report_argv, run_report

        report = report_argv(argv)
        if report is not None:
            return run_report(report)
    args = build_parser().parse_args(argv)
    if args.json and not args.once:
        build_parser().error("--json goes with --once")
    if args.requests and not args.once:
        build_parser().error("--requests goes with --once: cctop --once --requests")
    if args.once:
        from cctop.report.once import run_once

        return _one_shot_done(run_once(args), skip_teardown)
    args.otlp_token = _otlp_token(args)  # a bad token file is one line, whatever comes next
    reason = _no_terminal()
    if reason:  # ``top -b``: a pipe, a file or a dumb terminal gets the table once
        print(f"cctop: {reason}: printing the --once table instead of the live view", file=sys.stderr)
        from cctop.report.once import run_once

        if args.session in ("latest", "here"):
            args.session = None  # following needs the live view; the table lists every session
        args.once = True
        return _one_shot_done(run_once(args), skip_teardown)
    from cctop.launch import run_tui

    # The cycle collector stays off (see entry.py) until the history is loaded: the tailer
    # turns it on then (launch._collect_from_now_on).
    return run_tui(args)


def _one_shot_done(code: int, skip_teardown: bool) -> int:
    """After a one-shot report, with ``skip_teardown``: end the process now. Its teardown
    would free every object the report built, one by one (~20 ms after 1 GB of
    transcripts), and nothing is left to finish: the store is closed, no thread runs."""
    if not skip_teardown:
        return code
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # a closed pipe (or none): the usual exit
        return code
    os._exit(code)


def _no_terminal() -> str | None:
    """Why the full-screen app cannot run here, or None when it can."""
    if not sys.stdout.isatty():
        return "stdout is not a terminal"
    if os.environ.get("TERM", "") == "dumb":
        return "TERM=dumb"
    return None


def _otlp_token(args: argparse.Namespace) -> str | None:
    """The OTLP token: --otlp-token-file, else CCTOP_OTLP_TOKEN, else --otlp-token (the
    first two keep it off the command line, where ``ps`` shows it to every user)."""
    if args.otlp_token_file:
        try:
            with open(args.otlp_token_file, encoding="utf-8") as handle:
                token = handle.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"cctop: cannot read --otlp-token-file: {_one_line(exc)}") from None
        if not token:
            raise SystemExit("cctop: --otlp-token-file is empty")
        return token
    return os.environ.get("CCTOP_OTLP_TOKEN") or args.otlp_token


def _one_line(exc: BaseException) -> str:
    from cctop.format import safe_text

    if isinstance(exc, OSError) and exc.strerror:
        return safe_text(f"{exc.strerror}: {exc.filename}")
    return safe_text(str(exc))
