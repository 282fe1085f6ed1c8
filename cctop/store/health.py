"""What went wrong with the store, in a word for the code and a short state for the header.

A live cctop never stops over its store: it carries on in memory and says so, and returns
to the store when the cause goes (space freed) or once a damaged store was set aside and
refilled.
"""

from __future__ import annotations

import errno
import sqlite3

from cctop.format import safe_text
from cctop.store.database import is_corruption

FULL = "full"  # SQLITE_FULL / ENOSPC: wait for space
DAMAGED = "damaged"  # corruption: set it aside and refill a new one
FAILED = "failed"  # anything else (locked for too long, read-only...): retry later

_SQLITE_FULL = 13


def kind_of(exc: BaseException) -> str:
    if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(exc).lower():
        return FULL
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return FULL
    if isinstance(exc, sqlite3.DatabaseError) and is_corruption(exc):
        return DAMAGED
    return FAILED


def state_text(kind: str, exc: BaseException | str) -> str:
    """The header's words for a store that is not in use right now."""
    if kind == FULL:
        return "store: disk full — running in memory"
    if kind == DAMAGED:
        return "store damaged — rebuilding"
    return f"store: {safe_text(str(exc))[:80]} — running in memory"
