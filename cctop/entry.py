"""The ``cctop`` script. ``cctop statusline`` is sent straight to its light module: Claude
Code starts it after every message, so it must not pay for the main CLI's imports."""

from __future__ import annotations

import errno
import gc
import os
import sys

# Errors of a write that no retry fixes: the output (a file, a pipe to one) has no room.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


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
    # No cycle collection while the modules load: their thousands of objects live as long as
    # the process, and collecting walked them again and again (~8 of ~70 ms of imports for
    # --once). One-shot commands keep it off (--once turns it off anyway); the live view
    # turns it on again before it starts.
    gc.disable()
    from cctop.cli import main as cli_main

    try:
        return cli_main(skip_teardown=True)
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        # `cctop --once --json > file` on a full disk: one line, not a traceback.
        print(f"cctop: cannot write the output: {exc.strerror}", file=sys.stderr)
        from cctop.report.stdout import quiet_stdout

        quiet_stdout()
        return 1
