"""Statusline samples kept in the history store (table ``statusline_samples``, created by the
store's migration 4): the only history of the official limit figures, since Claude Code
keeps none.

The writer runs inside ``cctop statusline``, which Claude Code starts after every message,
so it stays light: stdlib sqlite3 only, one short transaction. A busy store (another process
mid-write, e.g. a cctop filling it from transcripts) is not waited on: the row goes to a spool
folder beside the store (one small file, written then renamed into place), and the next
writer that gets the lock (the next statusline call, or a running cctop's poller) moves it
into the table. Rows are claimed by renaming under the database's write lock, so two folders
never insert one twice. Only an unusable store drops the sample, counted in a file beside it
(folded into the store's ``meta`` by the next write that gets through). A store that does
not exist yet or predates the table is created / migrated through the store module once.
Paths are plain strings here: pathlib alone costs the statusline a few milliseconds to import.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from typing import TYPE_CHECKING

from cctop.model.limit_sample import LimitSample, PromptCacheInfo, WindowSample
from cctop.store.connection import connect

if TYPE_CHECKING:
    from pathlib import Path

BUSY_TIMEOUT_S = 0.005  # past this the row goes to the spool: a status line must not stall
DROPPED_KEY = "statusline_dropped"
ADDED, REPEATED, SPOOLED = "added", "repeated", "spooled"  # what record() did
_COLUMNS = (
    "observed_at, session_id, five_hour_pct, five_hour_resets_at, seven_day_pct, "
    "seven_day_resets_at, spend_pct, spend_resets_at, cost_usd, context_pct, context_size, "
    "model, prompt_cache, spend_limit"
)


class Dropped(Exception):
    """The sample was not recorded (an unusable store); the message says why."""


def dropped_path(store_path: str | Path) -> str:
    return f"{os.fspath(store_path)}.statusline-dropped"


def spool_path(store_path: str | Path) -> str:
    return f"{os.fspath(store_path)}.statusline-spool"


def record(store_path: str | Path, sample: LimitSample, spend_raw: object = None,
           busy_timeout_s: float = BUSY_TIMEOUT_S, close: bool = True) -> str:  # fmt: skip
    """Add the sample unless it repeats the session's previous one (a redraw without a new
    response): ADDED, REPEATED, or SPOOLED when the store was busy. Raises Dropped (after
    counting it) when the store is unusable. ``close=False`` leaves the connection open for a
    process about to exit without closing it (closing the last one checkpoints the WAL)."""
    store_path = os.fspath(store_path)
    row = _row(sample, spend_raw)
    try:
        if not os.path.exists(store_path):
            _create(store_path)
        try:
            return _insert(store_path, row, busy_timeout_s, close)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                _spool(store_path, row)
                return SPOOLED
            if "no such table" not in str(exc):
                raise
            _create(store_path)  # an older store: migrate it, then try again
            return _insert(store_path, row, busy_timeout_s, close)
    except (sqlite3.Error, OSError, ValueError) as exc:
        _count_drop(store_path)
        raise Dropped(f"statusline sample dropped: the store {store_path} is unusable ({exc})") from exc


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _create(store_path: str) -> None:
    from pathlib import Path

    from cctop.store.database import Store, StoreError

    try:
        Store.open(Path(store_path), lambda _message: None).close()
    except StoreError as exc:
        raise sqlite3.OperationalError(str(exc)) from exc


def _row(sample: LimitSample, spend_raw: object) -> tuple:
    five, week, spend = sample.five_hour, sample.seven_day, sample.spend_limit
    cache = sample.prompt_cache
    return (
        sample.observed_at,
        sample.session_id,
        five.used_percentage if five else None,
        five.resets_at if five else None,
        week.used_percentage if week else None,
        week.resets_at if week else None,
        spend.used_percentage if spend else None,
        spend.resets_at if spend else None,
        sample.cost_usd,
        sample.context_used_percentage,
        sample.context_window_size,
        sample.model,
        None if cache is None else json.dumps(list(_cache_fields(cache)), separators=(",", ":")),
        None if spend_raw is None else json.dumps(spend_raw, separators=(",", ":"), default=str)[:4000],
    )


def _cache_fields(cache: PromptCacheInfo) -> tuple:
    return (cache.hit_ratio, cache.requests, cache.misses, cache.last_miss_cause, cache.last_miss_at,
            cache.expires_at, cache.ttl, cache.warm)  # fmt: skip


_LEFT_OPEN: list[sqlite3.Connection] = []


_INSERT = f"INSERT INTO statusline_samples ({_COLUMNS}) VALUES ({', '.join('?' * 14)})"


def _insert(store_path: str, row: tuple, busy_timeout_s: float, close: bool) -> str:
    db = connect(store_path, busy_timeout_s)
    try:
        db.execute("BEGIN IMMEDIATE")
        claimed: list[str] = []
        try:
            last = db.execute(
                f"SELECT {_COLUMNS} FROM statusline_samples WHERE session_id IS ? ORDER BY id DESC LIMIT 1",
                (row[1],),
            ).fetchone()
            added = last is None or tuple(last[1:]) != row[1:]
            if added:
                db.execute(_INSERT, row)
            claimed = _fold_spool(db, store_path)
            _fold_drops(db, store_path)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            _unclaim(claimed)
            raise
        _remove(claimed)
        return ADDED if added else REPEATED
    finally:
        if close:
            db.close()
        else:  # kept from garbage collection: the caller exits without closing (see entry.py)
            _LEFT_OPEN.append(db)


def _spool(store_path: str, row: tuple) -> None:
    """The row as one file in the spool folder: written under a temporary name, then renamed
    into place, so a folder never reads half of it."""
    folder = spool_path(store_path)
    os.makedirs(folder, exist_ok=True)
    name = f"{row[0]:.6f}-{os.getpid()}-{os.urandom(4).hex()}"
    temporary = os.path.join(folder, f".{name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(list(row), separators=(",", ":")))
    os.replace(temporary, os.path.join(folder, f"{name}.json"))


def _fold_spool(db: sqlite3.Connection, store_path: str) -> list[str]:
    """Inside a write transaction: claim the spooled rows (rename; under the write lock, so
    no other folder has them), insert them oldest first. Returns the claimed files, to remove
    after the commit (or give back with _unclaim after a rollback)."""
    folder = spool_path(store_path)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except FileNotFoundError:
        return []
    claimed, rows = [], []
    for name in names:
        path = os.path.join(folder, name)
        mine = f"{path}.claimed-{os.getpid()}"
        try:
            os.rename(path, mine)
        except FileNotFoundError:
            continue
        claimed.append(mine)
        try:
            with open(mine, encoding="utf-8") as handle:
                row = json.load(handle)
        except (OSError, ValueError):
            continue  # unreadable: removed with the rest
        if isinstance(row, list) and len(row) == 14:
            rows.append(tuple(row))
    db.executemany(_INSERT, rows)
    return claimed


def _unclaim(claimed: list[str]) -> None:
    for path in claimed:
        with contextlib.suppress(OSError):
            os.rename(path, path.rsplit(".claimed-", 1)[0])


def _remove(claimed: list[str]) -> None:
    for path in claimed:
        with contextlib.suppress(OSError):
            os.remove(path)


def _count_drop(store_path: str) -> None:
    try:
        fd = os.open(dropped_path(store_path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"x")  # one byte per dropped sample: appends never collide
        finally:
            os.close(fd)
    except OSError:
        pass  # nowhere to count it: the status line still prints


def _fold_drops(db: sqlite3.Connection, store_path: str) -> None:
    side = dropped_path(store_path)
    try:
        count = os.stat(side).st_size
    except OSError:
        return
    os.remove(side)
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        (DROPPED_KEY, count),
    )


# -- reading (the TUI's poller, --once) -------------------------------------------------


class SampleReader:
    """Reads new samples from the store as they arrive: ``new()`` returns those added since
    the last call (cheap when none: one indexed max())."""

    def __init__(self, store_path: str | Path) -> None:
        self.path = os.fspath(store_path)
        self._db = connect(self.path, 1.0, threads=True)
        self._last_id = 0

    def close(self) -> None:
        self._db.close()

    def fold_spool(self) -> None:
        """Move rows a busy store made the statusline spool into the table (if the store is
        free now; else the next call tries again)."""
        if not os.path.isdir(spool_path(self.path)):
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return
        claimed: list[str] = []
        try:
            claimed = _fold_spool(db, self.path)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            _unclaim(claimed)
            raise
        _remove(claimed)

    def new(self, since: float | None = None) -> list[LimitSample]:
        try:
            self.fold_spool()
            rows = self._db.execute(
                f"SELECT id, {_COLUMNS} FROM statusline_samples "
                "WHERE id > ? AND observed_at >= ? ORDER BY id",
                (self._last_id, since if since is not None else float("-inf")),
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # an older store: nothing recorded yet
                return []
            raise
        if rows:
            self._last_id = rows[-1][0]
        return [sample_of_row(row[1:]) for row in rows]

    def dropped(self) -> int:
        """Samples dropped because the store was busy (counted so far)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (DROPPED_KEY,)).fetchone()
        count = int(row[0]) if row else 0
        with contextlib.suppress(OSError):
            count += os.stat(dropped_path(self.path)).st_size
        return count


def load(store_path: str | Path, since: float | None = None) -> tuple[list[LimitSample], int]:
    """(samples observed since ``since``, oldest first; samples dropped so far)."""
    reader = SampleReader(store_path)
    try:
        return reader.new(since), reader.dropped()
    finally:
        reader.close()


def sample_of_row(row: tuple) -> LimitSample:
    (observed_at, session_id, five_pct, five_reset, week_pct, week_reset, spend_pct, spend_reset,
     cost, context_pct, context_size, model, cache, _spend_raw) = row  # fmt: skip
    return LimitSample(
        observed_at=observed_at,
        session_id=session_id,
        five_hour=None if five_pct is None else WindowSample(five_pct, five_reset),
        seven_day=None if week_pct is None else WindowSample(week_pct, week_reset),
        spend_limit=None if spend_pct is None else WindowSample(spend_pct, spend_reset),
        cost_usd=cost,
        context_used_percentage=context_pct,
        context_window_size=context_size,
        prompt_cache=_cache_of(cache),
        model=model,
    )


def _cache_of(text: str | None) -> PromptCacheInfo | None:
    if not text:
        return None
    try:
        fields = json.loads(text)
        return PromptCacheInfo(*fields)
    except (ValueError, TypeError):
        return None
