"""The persistent store (stdlib sqlite3, WAL): what was parsed, so restarts skip re-reading.

- ``files``: per transcript its identity (device, inode), the size last seen, the offset of the
  last complete line read, the sessions it fed, and whether it is gone from disk.
- ``chunks``: the records parsed from one byte range of one file, as one compact blob (see
  record_codec). A file's new chunk and its new offset are written in one transaction, so a
  kill at any point neither loses nor doubles a line. The ledger dedupes on load.
- ``call_keys``: which session holds which dedupe key (message, request, tool ids; hashed),
  so a change to one session can be followed to every session the ledger must weigh it
  against. ``sessions`` numbers the session ids it refers to.
- ``report_cache``: the per-call facts of the last ``cctop report``, with the key they hold for.
- ``session_cache`` + ``snapshot_cache`` + ``cache_files``: per-session aggregates (and their
  finished report documents), the price/code key they were computed with and the file states
  they reflect. Prices are never stored with calls: a price fix re-prices history.

Several cctop processes may share one store: WAL lets readers run beside the writer, writes are
short ``BEGIN IMMEDIATE`` transactions with a busy timeout, and a writer that finds a file
already advanced by another process leaves it alone.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import msgspec
import orjson

from cctop.model.records import ApiCall, Record, ToolResult, ToolUse
from cctop.model.snapshot import SessionStats
from cctop.store import record_codec
from cctop.store.connection import connect
from cctop.store.stats_codec import SessionRow, SessionSummary, stats_from_json, stats_to_json

SCHEMA_VERSION = 7
BUSY_TIMEOUT_MS = 5000
# cctop's mark in the SQLite header (``PRAGMA application_id``, bytes 68-71): "cctp".
APPLICATION_ID = 0x63637470
_SQLITE_HEADER = b"SQLite format 3\x00"
_OWN_TABLES = {"files", "chunks", "meta", "snapshot_cache", "session_cache"}

Warn = Callable[[str], None]

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        device INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        size INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        mtime REAL NOT NULL,
        sessions TEXT NOT NULL DEFAULT '',
        gone INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE chunks (
        file_id INTEGER NOT NULL REFERENCES files(id),
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX chunks_by_file ON chunks(file_id, start);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value);
    INSERT INTO meta VALUES ('generation', 0);
    CREATE TABLE snapshot_cache (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL,
        price_key TEXT NOT NULL,
        warnings BLOB NOT NULL
    );
    CREATE TABLE session_cache (
        pos INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        project TEXT NOT NULL,
        cwd TEXT,
        last_ts REAL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_creation_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        unpriced_requests INTEGER NOT NULL,
        web_search_requests INTEGER NOT NULL,
        tool_calls INTEGER NOT NULL,
        tool_errors INTEGER NOT NULL,
        stats BLOB NOT NULL,
        document BLOB NOT NULL
    );
    """,
    # v2: what lets a warm start rebuild only the sessions a change touches: the dedupe keys
    # each session holds (sessions sharing one must be rebuilt together), and the file states
    # the saved aggregates were computed from.
    2: """
    CREATE TABLE call_keys (key TEXT NOT NULL, session TEXT NOT NULL, UNIQUE (key, session));
    CREATE INDEX call_keys_by_session ON call_keys(session);
    CREATE TABLE cache_files (
        path TEXT PRIMARY KEY,
        device INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE INDEX session_cache_by_id ON session_cache(id);
    DELETE FROM snapshot_cache;
    DELETE FROM session_cache;
    """,
    # v3: the same links at a quarter of the size (filling the store was mostly writing them):
    # keys as 64-bit hashes (a collision only rebuilds two sessions together) and sessions as
    # numbers, in one key-ordered b-tree plus the index by session.
    3: """
    DROP TABLE call_keys;
    CREATE TABLE sessions (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE call_keys (
        key INTEGER NOT NULL,
        session INTEGER NOT NULL REFERENCES sessions(id),
        PRIMARY KEY (key, session)
    ) WITHOUT ROWID;
    CREATE INDEX call_keys_by_session ON call_keys(session);
    """,
    # v4: records say who made each call (forks, resumes: see records.REPLAYED ...), which
    # older parses did not keep: transcripts still on disk are read again; the records of
    # deleted ones are all that is left of them, so they stay as they were.
    4: """
    DELETE FROM chunks WHERE file_id IN (SELECT id FROM files WHERE gone = 0);
    DELETE FROM files WHERE gone = 0;
    DELETE FROM snapshot_cache;
    DELETE FROM session_cache;
    DELETE FROM cache_files;
    """,
    # v5: what ``cctop statusline`` receives from Claude Code (official 5-hour / weekly limit
    # figures, the spend limit, Claude Code's prompt-cache diagnosis), one row per call that
    # changed something. Written and read by store.samples.
    5: """
    CREATE TABLE IF NOT EXISTS statusline_samples (
        id INTEGER PRIMARY KEY,
        observed_at REAL NOT NULL,
        session_id TEXT,
        five_hour_pct REAL,
        five_hour_resets_at REAL,
        seven_day_pct REAL,
        seven_day_resets_at REAL,
        spend_pct REAL,
        spend_resets_at REAL,
        cost_usd REAL,
        context_pct REAL,
        context_size INTEGER,
        model TEXT,
        prompt_cache TEXT,
        spend_limit TEXT
    );
    CREATE INDEX IF NOT EXISTS statusline_samples_by_session ON statusline_samples(session_id, id);
    CREATE INDEX IF NOT EXISTS statusline_samples_by_time ON statusline_samples(observed_at);
    """,
    # v6: telemetry a live ``cctop --otlp`` keeps (store.telemetry); stores from before made
    # the table themselves when they first kept a batch.
    6: """
    CREATE TABLE IF NOT EXISTS otlp_batches (
        id INTEGER PRIMARY KEY,
        received REAL NOT NULL,
        data BLOB NOT NULL
    )
    """,
    # v7: the facts ``cctop report`` sums (calls, tool calls, breaks; see report/period_facts),
    # saved with a key naming the file states, prices, code and telemetry they came from.
    7: """
    CREATE TABLE IF NOT EXISTS report_cache (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key TEXT NOT NULL,
        data BLOB NOT NULL
    );
    """,
}


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


class StoredFile(msgspec.Struct, frozen=True):
    path: str
    device: int
    inode: int
    size: int
    offset: int
    mtime: float
    sessions: frozenset[str]
    gone: bool


def default_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("cctop")) / "cctop.sqlite3"


class Store:
    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    # -- opening ----------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, warn: Warn, rebuild: bool = False) -> Store:
        """Open (creating or migrating) the store. ``rebuild`` discards it first. A corrupt
        store is moved aside with a warning and rebuilt; an unusable one raises StoreError."""
        path = Path(path).expanduser()
        check_owned(path)  # never open, move aside or delete somebody else's file
        if rebuild:
            _remove(path)
        try:
            return cls._connect(path)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not is_corruption(exc):
                raise StoreError(f"cannot open the store {path}: {exc}") from exc
            return cls._set_aside(path, str(exc), warn)

    @classmethod
    def _set_aside(cls, path: Path, reason: str, warn: Warn) -> Store:
        """Move a damaged store aside (kept, never deleted) and start an empty one."""
        try:
            aside = set_aside(path)
            warn(
                f"the store {path} is unreadable ({reason}); moved it to {aside.name} "
                "and rebuilt it from the transcripts"
            )
            return cls._connect(path)
        except (OSError, sqlite3.DatabaseError) as again:
            raise StoreError(
                f"the store {path} is unreadable ({reason}) and could not be rebuilt ({again}); "
                "remove it, run with --rebuild, or use --no-store"
            ) from again

    def damage(self) -> str | None:
        """What ``PRAGMA quick_check`` finds wrong (a page a query may never touch, like a
        chunk of an old file under saved aggregates), or None when the store is sound.

        The check reads the whole file (~75 ms for a 1 GB history's store), so a store whose
        files have not changed since they last passed is taken as sound: a stamp beside it
        holds their sizes and modification times then. Any write, cctop's or not, moves them."""
        stamp = self._file_states()
        if stamp is not None and _read_stamp(self._stamp_path) == stamp:
            return None
        found = self._quick_check()
        if found is None and stamp is not None:
            _write_stamp(self._stamp_path, stamp)
        return found

    def _quick_check(self) -> str | None:
        try:
            rows = self._db.execute("PRAGMA quick_check(1)").fetchall()
        except sqlite3.DatabaseError as exc:
            return str(exc)
        found = str(rows[0][0]) if rows else "no answer"
        return None if found == "ok" else found

    @property
    def _stamp_path(self) -> str:
        return f"{self.path}-checked"

    def _file_states(self) -> str | None:
        """Size and modification time of the store's file and its write-ahead log."""
        states = []
        for suffix in ("", "-wal"):
            try:
                st = os.stat(f"{self.path}{suffix}")
            except FileNotFoundError:
                states.append("-")
                continue
            except OSError:
                return None
            # An empty log holds nothing, and each connection that finds none makes it anew.
            states.append(f"{st.st_size}:{st.st_mtime_ns}" if st.st_size else "-")
        return " ".join(states)

    def replace_damaged(self, reason: str, warn: Warn) -> Store:
        """This store is damaged: close it, move it aside, and return an empty one in its place."""
        with contextlib.suppress(sqlite3.Error):
            self.close()
        return Store._set_aside(self.path, reason, warn)

    @classmethod
    def attach(cls, path: Path) -> Store:
        """Another connection to a store this process has opened already (for another thread).
        Never moves it aside: whatever fails here is an error for the caller, not a rebuild."""
        return cls._connect(Path(path))

    @classmethod
    def _connect(cls, path: Path) -> Store:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store directory {path.parent}: {exc}") from exc
        try:
            # Created 0600 before SQLite sees it: its -wal and -shm files take the same mode,
            # and titles, prompts' lengths and paths are nobody else's business.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600))
        except OSError as exc:
            raise StoreError(f"cannot create the store {path}: {exc.strerror or exc}") from exc
        db = connect(path, BUSY_TIMEOUT_MS / 1000, threads=True)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            migrate(db)
            if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                with _write(db):
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute("SELECT count(*) FROM files").fetchone()
        except BaseException:
            db.close()
            raise
        return cls(path, db)

    def close(self) -> None:
        self._db.close()

    # -- files and records --------------------------------------------------------

    def files(self) -> dict[str, StoredFile]:
        rows = self._db.execute(
            "SELECT path, device, inode, size, offset, mtime, sessions, gone FROM files"
        ).fetchall()
        return {
            row[0]: StoredFile(
                row[0], row[1], row[2], row[3], row[4], row[5], frozenset(row[6].split()), bool(row[7])
            )
            for row in rows
        }

    def file(self, path: str) -> StoredFile | None:
        row = self._db.execute(
            "SELECT path, device, inode, size, offset, mtime, sessions, gone FROM files WHERE path = ?",
            (path,),
        ).fetchone()
        if row is None:
            return None
        return StoredFile(
            row[0], row[1], row[2], row[3], row[4], row[5], frozenset(row[6].split()), bool(row[7])
        )

    def load(self, paths: Sequence[str]) -> Iterator[list[Record]]:
        """Every stored record of ``paths``, one list per path (maybe empty), in the order given."""
        ids = dict(self._db.execute("SELECT path, id FROM files").fetchall())
        for path in paths:
            records: list[Record] = []
            for (data,) in self._db.execute(
                "SELECT data FROM chunks WHERE file_id = ? ORDER BY start", (ids.get(path),)
            ):
                records.extend(record_codec.decode(data))
            yield records

    def load_file(self, path: str) -> list[Record]:
        """The stored records of one file, in file order."""
        records: list[Record] = []
        for (data,) in self._db.execute(
            "SELECT c.data FROM files f JOIN chunks c ON c.file_id = f.id WHERE f.path = ? ORDER BY c.start",
            (path,),
        ):
            records.extend(record_codec.decode(data))
        return records

    def commit(
        self,
        path: str,
        device: int,
        inode: int,
        size: int,
        mtime: float,
        start: int,
        end: int,
        records: Sequence[Record],
    ) -> bool:
        """Store the records of bytes ``start``..``end`` and move the offset to ``end``, atomically.
        ``start == 0`` replaces whatever the file had (a new, shrunk or replaced file). Returns
        False when another process already stored this range (nothing is written then)."""
        sessions = {r.session_id for r in records if r.session_id}
        db = self._db
        with _write(db):
            row = db.execute(
                "SELECT id, device, inode, offset, sessions FROM files WHERE path = ?", (path,)
            ).fetchone()
            if row is not None and start > 0 and (row[1], row[2], row[3]) != (device, inode, start):
                db.execute("ROLLBACK")  # another process stored this range first
                return False
            if row is None:
                inserted = db.execute(
                    "INSERT INTO files (path, device, inode, size, offset, mtime, sessions) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (path, device, inode, size, end, mtime, " ".join(sorted(sessions))),
                ).lastrowid
                assert inserted is not None  # set by every INSERT
                file_id = inserted
            else:
                file_id = row[0]
                if start == 0:
                    db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
                else:
                    sessions |= set(row[4].split())
                db.execute(
                    "UPDATE files SET device = ?, inode = ?, size = ?, offset = ?, mtime = ?, "
                    "sessions = ?, gone = 0 WHERE id = ?",
                    (device, inode, size, end, mtime, " ".join(sorted(sessions)), file_id),
                )
            if records:
                db.execute(
                    "INSERT INTO chunks (file_id, start, end, data) VALUES (?, ?, ?, ?)",
                    (file_id, start, end, record_codec.encode(records)),
                )
                _insert_keys(db, dedupe_keys(records))
                _compact(db, file_id)
            return True

    def commit_whole_files(
        self,
        files: Sequence[WholeFile],
        keys: list[tuple[int, str]] | None = None,
        only_new: bool = False,
    ) -> list[WholeFile]:
        """Store many files read from byte 0, in one transaction: each file's records, offset
        and dedupe keys land together or not at all, like ``commit(start=0)`` file by file,
        without a transaction and a codec pass per file in this process. ``keys``: the files'
        dedupe keys already gathered and sorted (workers do it), else taken from the files.
        ``only_new``: leave a file that is stored already (whoever stored it read it later);
        its keys then come from the files. Returns the files stored."""
        if only_new and keys is not None:
            raise ValueError("only_new takes each stored file's own keys")
        if not files:
            return []
        db = self._db
        written: list[WholeFile] = []
        with _write(db):
            chunks = []
            gathered: list[tuple[int, str]] = []
            for f in files:
                row = db.execute("SELECT id FROM files WHERE path = ?", (f.path,)).fetchone()
                if row is not None and only_new:
                    continue
                written.append(f)
                if row is None:
                    file_id = db.execute(
                        "INSERT INTO files (path, device, inode, size, offset, mtime, sessions) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (f.path, f.device, f.inode, f.size, f.offset, f.mtime, f.sessions),
                    ).lastrowid
                else:  # stored meanwhile by another process: read from 0, this replaces it
                    file_id = row[0]
                    db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
                    db.execute(
                        "UPDATE files SET device = ?, inode = ?, size = ?, offset = ?, mtime = ?, "
                        "sessions = ?, gone = 0 WHERE id = ?",
                        (f.device, f.inode, f.size, f.offset, f.mtime, f.sessions, file_id),
                    )
                if f.data is not None:
                    chunks.append((file_id, 0, f.offset, f.data))
                gathered.extend(f.keys)
            db.executemany("INSERT INTO chunks (file_id, start, end, data) VALUES (?, ?, ?, ?)", chunks)
            if keys is None:
                _insert_keys(db, gathered)
            else:
                _insert_keys(db, keys, ordered=True)
        return written

    def mark_gone(self, paths: Sequence[str]) -> None:
        """The files were deleted: their records stay (history), flagged as gone."""
        if not paths:
            return
        db = self._db
        with _write(db):
            db.executemany("UPDATE files SET gone = 1 WHERE path = ? AND gone = 0", [(p,) for p in paths])

    # -- aggregate cache -------------------------------------------------------------

    def linked_sessions(self, sessions: set[str]) -> set[str]:
        """``sessions`` plus every session sharing a dedupe key with one of them, transitively:
        the ledger decides between such sessions, so they are rebuilt together."""
        db = self._db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_ids (session INTEGER PRIMARY KEY)")
        db.execute("DELETE FROM wanted_ids")
        named = "INSERT OR IGNORE INTO wanted_ids SELECT id FROM sessions WHERE name = ?"
        db.executemany(named, [(s,) for s in sessions])
        while True:
            added = db.execute(
                "INSERT OR IGNORE INTO wanted_ids SELECT DISTINCT b.session FROM call_keys a "
                "JOIN call_keys b ON b.key = a.key WHERE a.session IN (SELECT session FROM wanted_ids)"
            ).rowcount
            if added <= 0:
                break
        linked = db.execute("SELECT name FROM sessions WHERE id IN (SELECT session FROM wanted_ids)")
        return set(sessions) | {row[0] for row in linked}

    # -- aggregate cache -------------------------------------------------------------

    def cache_key(self) -> str | None:
        row = self._db.execute("SELECT price_key FROM snapshot_cache WHERE id = 1").fetchone()
        return None if row is None else row[0]

    def cache_files(self) -> dict[str, tuple[int, int, int]]:
        """path -> (device, inode, size): the file states the saved aggregates reflect."""
        rows = self._db.execute("SELECT path, device, inode, size FROM cache_files")
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def cached_sessions(self, price_key: str, stats: bool = True) -> CachedSessions | None:
        """The saved aggregates if saved with this key, else None. ``stats=False`` fetches only
        the summaries and documents (what ``--once --json`` needs)."""
        db = self._db
        db.execute("BEGIN")  # one read snapshot for both tables
        try:
            row = db.execute(
                "SELECT warnings FROM snapshot_cache WHERE id = 1 AND price_key = ?", (price_key,)
            ).fetchone()
            if row is None:
                return None
            rows = db.execute(
                "SELECT id, project, cwd, last_ts, requests, input_tokens, output_tokens, "
                "cache_read_tokens, cache_creation_tokens, cost_usd, unpriced_requests, "
                f"web_search_requests, tool_calls, tool_errors, {'stats' if stats else 'NULL'}, document "
                "FROM session_cache"
            ).fetchall()
            return CachedSessions(orjson.loads(row[0]), [SessionRow(*r) for r in rows])
        finally:
            db.execute("COMMIT")

    def telemetry_mark(self) -> tuple[int, int]:
        """(last batch id, batches) of the telemetry kept here: changes whenever a batch is
        kept, so saved figures built with the telemetry know when they are stale."""
        row = self._db.execute("SELECT coalesce(max(id), 0), count(*) FROM otlp_batches").fetchone()
        return int(row[0]), int(row[1])

    def report_facts(self, key: str) -> bytes | None:
        """The report facts saved under ``key``, or None."""
        row = self._db.execute("SELECT data FROM report_cache WHERE id = 1 AND key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def save_report_facts(self, key: str, data: bytes) -> None:
        with _write(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO report_cache (id, key, data) VALUES (1, ?, ?)", (key, data)
            )

    def save_sessions(
        self,
        price_key: str,
        sessions: Sequence[SessionStats],
        warnings: Sequence[str],
        document: Callable[[SessionStats], bytes],
        files: Mapping[str, tuple[int, int, int] | None],
        replace_all: bool = True,
    ) -> None:
        """Save aggregates and each session's finished report document (bytes), so a warm
        ``--once --json`` prints without rebuilding anything; ``files`` are the file states
        they reflect (None: the file is gone). ``replace_all`` False updates only these
        sessions and files, keeping the rest (warnings are added to the saved ones)."""
        self.save_rows(price_key, [session_row(s, document) for s in sessions], warnings, files, replace_all)

    def save_rows(
        self,
        price_key: str,
        rows: Sequence[SessionRow],
        warnings: Sequence[str],
        files: Mapping[str, tuple[int, int, int] | None],
        replace_all: bool = True,
    ) -> None:
        """``save_sessions`` with the rows already made (see ``session_row``), e.g. by workers."""
        db = self._db
        with _write(db):
            if replace_all:
                db.execute("DELETE FROM session_cache")
                db.execute("DELETE FROM cache_files")
            else:
                old = db.execute("SELECT warnings FROM snapshot_cache WHERE id = 1").fetchone()
                # A saved warning about a file read again now is replaced by this run's word.
                kept = [w for w in (orjson.loads(old[0]) if old else []) if not _about(w, files)]
                warnings = list(dict.fromkeys([*kept, *warnings]))
                db.executemany("DELETE FROM session_cache WHERE id = ?", [(r[0],) for r in rows])
            db.executemany(
                "INSERT INTO session_cache (id, project, cwd, last_ts, requests, input_tokens, "
                "output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd, unpriced_requests, "
                "web_search_requests, tool_calls, tool_errors, stats, document) "
                f"VALUES ({', '.join('?' * 16)})",
                rows,
            )
            db.executemany(
                "DELETE FROM cache_files WHERE path = ?", [(p,) for p, v in files.items() if not v]
            )
            db.executemany(
                "INSERT OR REPLACE INTO cache_files VALUES (?, ?, ?, ?)",
                [(p, *v) for p, v in files.items() if v],
            )
            db.execute(
                # generation: a column of schema 1, no longer read (0 in new stores)
                "INSERT OR REPLACE INTO snapshot_cache (id, generation, price_key, warnings) "
                "VALUES (1, 0, ?, ?)",
                (price_key, orjson.dumps(list(warnings))),
            )


def _about(warning: str, paths: Mapping[str, object]) -> bool:
    """Whether a warning is about one of ``paths`` (warnings name the file first or after
    "cannot read")."""
    head = warning.removeprefix("cannot read ")
    cut = head.find(":")
    return cut > 0 and head[:cut] in paths


class CachedSessions:
    def __init__(self, warnings: list[str], rows: Sequence[SessionRow]) -> None:
        self.warnings = warnings
        self._rows = rows

    def sessions(self) -> list[SessionStats]:
        return [stats_from_json(orjson.loads(row.stats)) for row in self._rows if row.stats]

    def summaries(self) -> list[SessionSummary]:
        """Light stand-ins carrying what filtering and totals read, plus the report document."""
        return [SessionSummary(row) for row in self._rows]


class WholeFile(msgspec.Struct, frozen=True):
    """One transcript read from byte 0, ready to store: ``data`` is its records encoded with
    record_codec (None: no records), ``sessions`` the space-separated ids they feed."""

    path: str
    device: int
    inode: int
    size: int
    mtime: float
    offset: int
    data: bytes | None
    keys: list[tuple[int, str]]
    sessions: str

    @classmethod
    def of(cls, path: str, device: int, inode: int, size: int, mtime: float, offset: int,
           records: Sequence[Record]) -> WholeFile:  # fmt: skip
        sessions = {r.session_id for r in records if r.session_id}
        data = record_codec.encode(records) if records else None
        keys = dedupe_keys(records)
        return cls(path, device, inode, size, mtime, offset, data, keys, " ".join(sorted(sessions)))


def session_row(
    s: SessionStats, document: Callable[[SessionStats], bytes], with_stats: bool = True
) -> SessionRow:
    """One session_cache row: the figures a report filters and totals on, the whole stats
    (unless not ``with_stats``: a row only printed, never stored) and the finished report
    document."""
    t = s.tokens
    return SessionRow(
        s.id, s.project, s.cwd, s.last_ts, t.requests, t.input_tokens, t.output_tokens,
        t.cache_read_tokens, t.cache_creation_tokens, t.cost_usd, t.unpriced_requests,
        s.web_search_requests, s.tool_calls, s.tool_errors,
        orjson.dumps(stats_to_json(s)) if with_stats else None, document(s),
    )  # fmt: skip


def dedupe_keys(records: Sequence[Record]) -> list[tuple[int, str]]:
    """(key hash, session) pairs for the ids the ledger dedupes on across sessions."""
    # Imported here: hashlib loads OpenSSL (~2.5 ms), which a read without a store never needs.
    from hashlib import blake2b

    keys: set[tuple[str, str]] = set()
    for r in records:
        if isinstance(r, ApiCall):
            if r.message_id:
                keys.add(("m:" + r.message_id, r.session_id))
            if r.request_id:
                keys.add(("r:" + r.request_id, r.session_id))
        elif isinstance(r, (ToolUse, ToolResult)):
            keys.add(("t:" + r.tool_use_id, r.session_id))
    # A stable signed 64-bit hash (SQLite's INTEGER), the same in every process.
    return [
        (int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "little", signed=True), session)
        for key, session in keys
    ]


def _insert_keys(db: sqlite3.Connection, keys: list[tuple[int, str]], ordered: bool = False) -> None:
    """``ordered``: ``keys`` are sorted already."""
    if not keys:
        return
    names = {session for _, session in keys}
    db.executemany("INSERT OR IGNORE INTO sessions (name) VALUES (?)", [(n,) for n in names])
    ids = {n: db.execute("SELECT id FROM sessions WHERE name = ?", (n,)).fetchone()[0] for n in names}
    rows = [(key, ids[session]) for key, session in keys]
    if not ordered:
        rows.sort()  # in index order: the b-tree grows at its end instead of everywhere
    db.executemany("INSERT OR IGNORE INTO call_keys VALUES (?, ?)", rows)


# A live session appends a line at a time, so a file gathers one small chunk per read; past
# this many they are merged into one, which keeps warm loads to a few decodes per file.
MAX_CHUNKS_PER_FILE = 64


def _compact(db: sqlite3.Connection, file_id: int) -> None:
    (count,) = db.execute("SELECT count(*) FROM chunks WHERE file_id = ?", (file_id,)).fetchone()
    if count <= MAX_CHUNKS_PER_FILE:
        return
    rows = db.execute(
        "SELECT start, end, data FROM chunks WHERE file_id = ? ORDER BY start", (file_id,)
    ).fetchall()
    records: list[Record] = []
    for _, _, data in rows:
        records.extend(record_codec.decode(data))
    db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
    db.execute(
        "INSERT INTO chunks (file_id, start, end, data) VALUES (?, ?, ?, ?)",
        (file_id, rows[0][0], rows[-1][1], record_codec.encode(records)),
    )


@contextlib.contextmanager
def _write(db: sqlite3.Connection) -> Iterator[None]:
    """One short write transaction: taken at once (IMMEDIATE, so a busy store waits up to the
    busy timeout here rather than failing mid-way), committed on success, rolled back on any
    error. A body may end the transaction itself (ROLLBACK) to give up quietly."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        if db.in_transaction:
            db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def migrate(db: sqlite3.Connection) -> None:
    """Bring the store's schema up to SCHEMA_VERSION: every table cctop keeps is made here."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store was written by a newer cctop (schema {version} > {SCHEMA_VERSION}); "
            "upgrade cctop, or use --store PATH / --no-store"
        )
    while version < SCHEMA_VERSION:
        version += 1
        with _write(db):
            # Another process may have migrated meanwhile: re-check inside the write lock.
            if db.execute("PRAGMA user_version").fetchone()[0] < version:
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                if version == 3:  # v2's text keys are dropped just after: index once
                    _index_stored_keys(db)
                db.execute(f"PRAGMA user_version = {version}")


def _index_stored_keys(db: sqlite3.Connection) -> None:
    for (data,) in db.execute("SELECT data FROM chunks").fetchall():
        _insert_keys(db, dedupe_keys(record_codec.decode(data)))


def set_aside(path: Path) -> Path:
    """Move a damaged store (cctop's own, checked) to ``<name>.corrupt-<time>``; its -wal and
    -shm are dropped (the -wal would replay onto an empty store). Returns where it went."""
    check_owned(path)
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    os.replace(path, aside)
    _remove(path)
    return aside


def check_owned(path: Path) -> None:
    """Raise StoreError unless ``path`` is absent, empty or a cctop store: an SQLite file with
    cctop's application id, or (stores made before the id) cctop's tables. A store too
    damaged to list its tables still has cctop's id in its first page."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(100)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there yet (creating it says what is in the way)
    except OSError as exc:
        raise StoreError(f"cannot read the store {path}: {exc.strerror or exc}") from exc
    if not head:
        return
    refuse = (
        f"{path} is not a cctop store; cctop will not use, move or delete it "
        "(pick another --store PATH, or --no-store)"
    )
    if not head.startswith(_SQLITE_HEADER) or len(head) < 72:
        raise StoreError(refuse)
    application_id = int.from_bytes(head[68:72], "big")
    if application_id == APPLICATION_ID:
        return
    if application_id != 0:
        raise StoreError(refuse)
    try:
        db = connect(path)  # only reads (a WAL store's id may not be in the file yet)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{refuse}: {exc}") from exc
    if not (tables >= _OWN_TABLES or "otlp_batches" in tables):  # the archive may come first
        raise StoreError(refuse)


def is_corruption(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("malformed", "not a database", "corrupt", "disk image"))


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-checked"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot remove the store {path}{suffix}: {exc}") from exc


def _read_stamp(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read(200)
    except (OSError, ValueError):
        return None


def _write_stamp(path: str, stamp: str) -> None:
    """Best effort: without a stamp the next run checks again."""
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(stamp)
