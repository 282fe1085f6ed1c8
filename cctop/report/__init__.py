"""The commands that print and exit: the --once table and JSON document, --requests, and
``cctop statusline`` (with its installer)."""
