"""The one place cctop opens its SQLite file: every connection to the store is made here, with
the same settings (autocommit, so transactions are explicit; a busy timeout; WAL's cheaper
commits). Kept free of heavy imports: ``cctop statusline`` opens the store on every call."""

from __future__ import annotations

import os
import sqlite3

BUSY_TIMEOUT_S = 5.0


def connect(
    path: str | os.PathLike[str], busy_timeout_s: float = BUSY_TIMEOUT_S, *, threads: bool = False
) -> sqlite3.Connection:
    """A connection to the store at ``path``; ``threads``: used from more than one thread
    (the caller serializes access)."""
    db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=not threads)
    try:
        db.execute("PRAGMA synchronous = NORMAL")  # under WAL: no fsync per commit
    except BaseException:
        db.close()
        raise
    return db
