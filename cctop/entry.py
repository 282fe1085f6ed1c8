"""The ``cctop`` script. ``cctop statusline`` is sent straight to its light module: Claude
Code starts it after every message, so it must not pay for the main CLI's imports."""

from __future__ import annotations

import os
import sys


def main() -> int:
    if sys.argv[1:2] == ["statusline"]:
        from cctop.report.statusline_cmd import main as statusline_main

        code = statusline_main(sys.argv[2:])
        sys.stdout.flush()
        sys.stderr.flush()
        # Skip the interpreter's teardown: closing the last connection to the store would
        # checkpoint its WAL (about 10 ms of fsync) on every message. The sample is committed
        # already; SQLite's own auto-checkpoint keeps the WAL short.
        os._exit(code)
    from cctop.cli import main as cli_main

    return cli_main(skip_teardown=True)
