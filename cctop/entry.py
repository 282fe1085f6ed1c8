"""The ``cctop`` script. ``cctop statusline`` is sent straight to its light module: Claude
Code starts it after every message, so it must not pay for the main CLI's imports."""

from __future__ import annotations

import sys


def main() -> int:
    if sys.argv[1:2] == ["statusline"]:
        from cctop.statusline_cmd import main as statusline_main

        return statusline_main(sys.argv[2:])
    from cctop.cli import main as cli_main

    return cli_main()
