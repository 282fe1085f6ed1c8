"""Per-file reading state shared by the live tailer and the warm ``--once``.

For every transcript: its identity (device, inode), the size last seen, the offset of the end of
its last complete line and the parser that read up to there. ``update(path)`` reads whatever was
appended since; a file that shrank or was replaced is read again from 0 (the ledger's global
dedupe keeps totals exact), a file that vanished is forgotten but its sessions stay.
Not thread-safe: one thread drives a tracker.
"""

from __future__ import annotations

import os
import sqlite3
import stat as stat_mod
import time
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import BinaryIO

from cctop.model.records import Record, SubagentMeta
from cctop.sources.limits import out_of_range
from cctop.sources.transcripts.discovery import (
    TranscriptFile,
    Warn,
    classify,
    find_transcripts,
    subagent_meta_path,
    walk,
)
from cctop.sources.transcripts.jsonl import FileRole, TranscriptParser, complete_prefix, parse_subagent_meta
from cctop.sources.transcripts.reader import LineBlocks
from cctop.sources.transcripts.regular import open_regular, read_regular
from cctop.store import health as store_health
from cctop.store.database import Store, StoredFile

# Appended bytes are read in blocks (reader.LineBlocks); each block's complete lines are
# parsed, stored and handed on before the next, so a huge file or line never sits in memory
# more than about twice.
# The last bytes read of a file, kept to notice a file rewritten in place: a deleted file's
# inode is soon reused, and a new file of the same size at the same inode looks unchanged.
FINGERPRINT = 64

Sink = Callable[[list[Record]], None]


class _File:
    __slots__ = (
        "path", "role", "device", "inode", "size", "mtime", "offset", "parser", "sessions", "fingerprint"
    )  # fmt: skip

    def __init__(self, path: str, role: FileRole) -> None:
        self.path = path
        self.role = role
        self.device = -1
        self.inode = -1
        self.size = -1
        self.mtime = 0.0
        self.offset = 0
        self.parser: TranscriptParser | None = None
        self.sessions: set[str] = set()
        self.fingerprint = b""  # the bytes just before ``offset`` (empty: not known)
        if role.session_id:
            self.sessions.add(role.session_id)


class FileTracker:
    def __init__(
        self,
        roots: list[Path],
        sink: Sink,
        warn: Warn,
        store: Store | None = None,
        on_deleted: Callable[[str], None] | None = None,
        include_tail: bool = False,
        survive_store_errors: bool = False,
    ) -> None:
        self.roots = [Path(r) for r in roots]
        self._sink = sink
        self._warn = warn
        self._store = store
        self._on_deleted = on_deleted
        # --once also counts a last line that lacks its newline but is already whole JSON;
        # it is never stored, and the offset stays before it.
        self._include_tail = include_tail
        self._files: dict[str, _File] = {}
        self._session_files: dict[str, set[str]] = {}
        self._warned: dict[str, str] = {}  # key -> the warning given, until it no longer holds
        self.unwarn: Callable[[str], None] | None = None  # takes back a warning that no longer holds
        # Drops what was read of some sessions (Ledger.forget_sessions), when a file changed
        # under the reader; None: nothing to take back (a sink that only counts).
        self.retract: Callable[[set[str]], set[str]] | None = None
        self.bytes_read = 0
        self.records_loaded = 0
        # Set from another thread to end a long read between blocks (what is stored stays
        # consistent: every block commits its lines with its offset).
        self.stopping = False
        # The live view carries on in memory when the store fails (``--once`` callers rather
        # see the error and read the transcripts): the store waits in ``_resting`` until
        # ``retry_store`` has brought it up to date again.
        self._survive = survive_store_errors
        self._resting: Store | None = None
        self._resync: list[str] | None = None  # paths still to bring the store up to date on
        self._gone_unstored: set[str] = set()
        self.store_kind: str | None = None  # store_health.FULL / DAMAGED / FAILED while resting
        self.store_state: str | None = None  # what the header says about it

    @property
    def file_count(self) -> int:
        return len(self._files)

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned[key] = message
            self._warn(message)

    # -- discovery -------------------------------------------------------------------

    def role_of(self, path: str) -> FileRole | None:
        for root in self.roots:
            try:
                relative = PurePath(path).relative_to(root)
            except ValueError:
                continue
            return classify(relative)
        return None

    def scan(self) -> list[TranscriptFile]:
        """Every transcript under the roots, newest first."""
        found = [f for root in self.roots for f in find_transcripts(root, self._warn_message)]
        found.sort(key=lambda f: f.mtime, reverse=True)
        return found

    def scan_dir(self, directory: str) -> list[str]:
        """Transcript paths under a directory that appeared inside a root (a new project,
        session or subagents dir)."""
        for root in self.roots:
            try:
                parts = PurePath(directory).relative_to(root).parts
            except ValueError:
                continue

            def say(path: str, exc: OSError) -> bool:
                self._warn_message(f"cannot read {path}: {exc.strerror or exc}")
                return True

            return [entry.path for entry, _parts, _role in walk(directory, parts, say)]
        return []

    def _warn_message(self, message: str) -> None:
        self.warn_once(message, message)

    # -- the store ----------------------------------------------------------------------

    def load_store(
        self, present: set[str] | None = None, skip: frozenset[str] = frozenset()
    ) -> dict[str, StoredFile]:
        """Feed every stored record to the sink, newest file first, and take over the stored
        offsets. Stored files not in ``present`` (when given) are marked gone; files in
        ``skip`` are left to someone else (not loaded, not followed)."""
        if self._store is None:
            return {}
        stored = self._store.files()
        # Files under other roots are other reports' history (a store may serve several).
        mine = [f for f in stored.values() if f.path not in skip and self.role_of(f.path) is not None]
        order = sorted(mine, key=lambda f: f.mtime, reverse=True)
        for records in self._store.load([f.path for f in order]):
            self.records_loaded += len(records)
            if records:
                self._sink(records)
        self.adopt([f for f in order if not f.gone])
        if present is not None:
            missing = [p for p in self._files if p not in present]
            for path in missing:
                self.forget(path)
        for file in order:
            if file.gone:
                for session_id in file.sessions:
                    if not self._session_files.get(session_id):
                        self._deleted(session_id)
        return stored

    def plan(self, files: list[TranscriptFile]) -> list[tuple[str, StoredFile | None]]:
        """Start-up: take over the stored offsets (no records yet), mark stored files that are
        no longer on disk as gone, and return what ``backfill`` should go through, newest
        first: every file on disk and every stored file (gone ones are history)."""
        stored: dict[str, StoredFile] = {}
        if self._store is not None:
            try:
                stored = self._store.files()
            except sqlite3.Error as exc:
                self._store_failed(exc)
        self.adopt([f for f in stored.values() if not f.gone])
        present = {f.path: f for f in files}
        for path in [p for p in self._files if p not in present]:
            self.forget(path)
        entries = [(f.mtime, f.path, stored.get(f.path)) for f in files]
        entries += [
            (f.mtime, f.path, f)
            for f in stored.values()
            if f.path not in present and self.role_of(f.path) is not None
        ]
        entries.sort(key=lambda e: e[0], reverse=True)
        return [(path, known) for _, path, known in entries]

    def backfill(self, path: str, stored: StoredFile | None) -> None:
        """One step of start-up: replay the file's stored records, then read what it gained."""
        source = self._store or self._resting  # a full disk can still be read
        if stored is not None and source is not None:
            try:
                records = source.load_file(path)
            except sqlite3.Error as exc:
                if self._store is not None:
                    self._store_failed(exc)
                self._read_again(path)  # its records are on disk, if it still is
                return
            self.records_loaded += len(records)
            if records:
                self._sink(records)
            if path not in self._files and not os.path.exists(path):  # gone: history now
                for session_id in stored.sessions:
                    if not self._session_files.get(session_id):
                        self._deleted(session_id)
                return
        elif stored is not None:  # the store failed before this file's turn: read it whole
            self._read_again(path)
            return
        self.update(path)

    def _read_again(self, path: str) -> None:
        """Forget the offset taken over from the store and read the file from byte 0."""
        state = self._files.get(path)
        if state is not None:
            state.device = state.inode = -1
            state.offset, state.parser = 0, None
        self.update(path)

    def replay(self, path: str, records: list[Record]) -> None:
        """Like ``backfill``, with the file's records at hand (read by workers, no store)."""
        if records:
            self._sink(records)
        self.update(path)

    def adopt(self, stored: list[StoredFile]) -> None:
        """Take over stored offsets without replaying records (their sessions are rebuilt
        from the store separately)."""
        for file in stored:
            role = self.role_of(file.path)
            if role is None or file.path in self._files:
                continue
            state = _File(file.path, role)
            state.device, state.inode = file.device, file.inode
            state.size, state.offset, state.mtime = file.size, file.offset, file.mtime
            state.sessions |= file.sessions
            self._adopt(state)

    # -- one file ---------------------------------------------------------------------

    def update(self, path: str, role: FileRole | None = None) -> bool:
        """Read what was appended to ``path`` since the last call. Returns True if it exists."""
        state = self._files.get(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if state is not None:
                self.forget(path)
            return False
        except OSError as exc:
            self.warn_once(path, f"cannot read {path}: {exc.strerror or exc}")
            return False
        if not stat_mod.S_ISREG(st.st_mode):
            self.warn_once(path, f"{path}: not a regular file, skipped")
            return False
        if state is None:
            role = role or self.role_of(path)
            if role is None:
                return False
            state = _File(path, role)
            self._adopt(state)
        if (st.st_dev, st.st_ino) != (state.device, state.inode) or st.st_size < state.offset:
            # New, replaced (rename-over) or truncated: everything again from 0, and what its
            # old content said taken back.
            read_before = state.device != -1
            state.device, state.inode, state.offset, state.parser = st.st_dev, st.st_ino, 0, None
            state.fingerprint = b""
            if read_before:
                self._take_back(state)
        elif st.st_size == state.size and st.st_mtime == state.mtime and not self._include_tail:
            return True
        state.size, state.mtime = st.st_size, st.st_mtime
        self._read(state)
        return True

    def _read(self, state: _File) -> None:
        first = state.offset == 0
        if state.parser is None:
            state.parser = _parser_at(state.path, state.role, state.offset)
        parser = state.parser
        try:
            handle = open_regular(state.path)
        except OSError as exc:
            self.warn_once(state.path, f"cannot read {state.path}: {exc.strerror or exc}")
            state.size = -1  # try again on the next event or poll, even at the same size
            return
        self._recovered(state.path)
        malformed, rejected = parser.malformed, parser.rejected
        with handle:
            if os.fstat(handle.fileno()).st_ino != state.inode:
                return  # replaced between stat and open: the next event reads the new one
            if not first and not _still_holds(handle, state):
                # Rewritten in place (or a new file at a reused inode): everything again, and
                # what its old content said taken back.
                state.offset, state.fingerprint, first = 0, b"", True
                state.parser = parser = TranscriptParser(state.role)
                self._take_back(state)
            handle.seek(state.offset)
            blocks = LineBlocks(handle)
            try:
                for whole in blocks:
                    state.fingerprint = (state.fingerprint + whole[-FINGERPRINT:])[-FINGERPRINT:]
                    records = parser.feed(whole)
                    if first:
                        records.extend(self._subagent_meta(state))
                        first = False
                    self._commit(state, state.offset + len(whole), records)
                    if self.stopping:
                        break
            except OSError as exc:
                self.warn_once(state.path, f"cannot read {state.path}: {exc.strerror or exc}")
                state.size = -1
                return
            if first and state.offset == 0 and not self.stopping:
                self._commit(state, 0, self._subagent_meta(state))  # remember an empty file
            if blocks.rest and self._include_tail:
                tail = TranscriptParser(state.role).feed_tail(blocks.rest)
                if tail:
                    self._sink(tail)
        if parser.malformed > malformed:
            self._warn(f"{state.path}: skipped {parser.malformed - malformed} malformed line(s)")
        if parser.rejected > rejected:
            self._warn(f"{state.path}: {out_of_range(parser.rejected - rejected)}")

    def take_back(self, path: str) -> None:
        """A followed file is about to be read whole elsewhere (replaced or shrunk): take back
        what its old content said first."""
        state = self._files.get(path)
        if state is not None and state.device != -1:
            self._take_back(state)

    def _take_back(self, state: _File) -> None:
        """The file changed under the reader: drop its sessions from the sink's view and feed
        the other files of every session concerned again (as far as they were read); the file
        itself is then read from 0 by the caller."""
        if self.retract is None:
            return
        dropped = set(state.sessions)
        others = self.retract(dropped)
        concerned = dropped | others
        state.sessions = {state.role.session_id} if state.role.session_id else set()
        for session_id in dropped:
            paths = self._session_files.get(session_id)
            if paths is not None:
                paths.discard(state.path)
        again = {p for s in concerned for p in self._session_files.get(s, ())} - {state.path}
        for path in sorted(again):
            other = self._files.get(path)
            if other is not None:
                self._feed_again(other)
        if self._store is not None:  # history: sessions' files that are gone but stored
            try:
                for known in self._store.files().values():
                    if known.gone and known.sessions & concerned and known.path not in self._files:
                        records = self._store.load_file(known.path)
                        if records:
                            self._sink(records)
            except sqlite3.Error as exc:
                self._store_failed(exc)

    def _feed_again(self, state: _File) -> None:
        """Hand on again what was read of a file: from the store when it has it, else from
        the file's bytes up to the offset (the offset and the parser stay as they are)."""
        records: list[Record] | None = None
        if self._store is not None:
            try:
                records = self._store.load_file(state.path)
            except sqlite3.Error as exc:
                self._store_failed(exc)  # then from the file, below
        if records is None:
            try:
                with open_regular(state.path) as handle:
                    data = complete_prefix(handle.read(state.offset))
            except OSError:
                return
            records = TranscriptParser(state.role).feed(data)
            records.extend(self._subagent_meta(state))
        if records:
            self._sink(records)

    def _recovered(self, path: str) -> None:
        """The file reads again: a warning that it could not be read no longer holds."""
        message = self._warned.pop(path, None)
        if message is not None and self.unwarn is not None:
            self.unwarn(message)

    def _commit(self, state: _File, end: int, records: list[Record]) -> None:
        """Store first, then hand on: a kill in between re-delivers from the store, never loses."""
        if self._store is not None:
            try:
                stored = self._store.commit(
                    state.path, state.device, state.inode, state.size, state.mtime, state.offset, end, records
                )
                if not stored:
                    self._catch_up(state, end)
            except sqlite3.Error as exc:
                self._store_failed(exc)  # the lines still count; the store catches up later
        self.bytes_read += end - state.offset
        state.offset = end
        for record in records:
            session_id = record.session_id
            if session_id and session_id not in state.sessions:
                state.sessions.add(session_id)
                self._session_files.setdefault(session_id, set()).add(state.path)
        if records:
            self._sink(records)

    def _catch_up(self, state: _File, end: int) -> None:
        """Another process stored this file meanwhile. If it stopped short of ``end``, store
        the lines between its offset and ``end`` (read again, for the store only) so the store
        never stalls behind this process."""
        assert self._store is not None
        known = self._store.file(state.path)
        if known is None or (known.device, known.inode) != (state.device, state.inode) or known.offset >= end:
            return
        try:
            with open_regular(state.path) as handle:
                handle.seek(known.offset)
                data = complete_prefix(handle.read(end - known.offset))
        except OSError:
            return
        if known.offset + len(data) == end:
            records = _parser_at(state.path, state.role, known.offset).feed(data)
            self._store.commit(state.path, state.device, state.inode, state.size, state.mtime,
                               known.offset, end, records)  # fmt: skip

    def refresh_meta(self, path: str) -> None:
        """An ``agent-*.meta.json`` changed: hand on its facts if its transcript is known."""
        state = self._files.get(path)
        if state is None or state.size < 0:
            return
        records = self._subagent_meta(state)
        if records:
            self._commit(state, state.offset, records)

    def _subagent_meta(self, state: _File) -> list[Record]:
        role = state.role
        if role.agent_id is None or role.session_id is None:
            return []
        try:
            data = read_regular(subagent_meta_path(Path(state.path)))
        except OSError:
            return []
        meta = parse_subagent_meta(role.session_id, role.agent_id, data)
        return [meta] if isinstance(meta, SubagentMeta) else []

    # -- a failing store ------------------------------------------------------------------

    def _store_failed(self, exc: sqlite3.Error) -> None:
        """Carry on in memory: the store rests until ``retry_store`` brings it up to date.
        Without ``survive_store_errors`` the error is the caller's."""
        if not self._survive or self._store is None:
            raise exc
        kind = store_health.kind_of(exc)
        self._resting, self._store = self._store, None
        self._resync = None
        self.store_kind, self.store_state = kind, store_health.state_text(kind, exc)
        self._warn(f"the store failed ({exc}); running in memory until it works again")

    @property
    def store(self) -> Store | None:
        """The store in use, or the resting one (what a retry works on)."""
        return self._store or self._resting

    def replace_store(self, store: Store | None, state: str) -> None:
        """A new store (a damaged one was set aside): fill it from the files followed.
        None: there is none (it could not be made); memory only from now on."""
        self._store, self._resting, self._resync = None, store, None
        self.store_kind, self.store_state = store_health.DAMAGED, state

    @property
    def resyncing(self) -> bool:
        """A store is being brought up to date, a few files at a time."""
        return bool(self._resync) and self._resting is not None

    def retry_store(self, budget_s: float = 0.25) -> bool:
        """Bring the resting store up to what this process has read, a few files per call
        (``budget_s``), and use it again once it is. Returns True when it is in use again."""
        store = self._resting
        if store is None:
            return self._store is not None
        deadline = time.monotonic() + budget_s
        try:
            if self._resync is None:
                self._resync = list(self._files)
            while self._resync and time.monotonic() < deadline and not self.stopping:
                path = self._resync.pop()
                state = self._files.get(path)
                if state is not None:
                    self._store_up_to(store, state)
            if self._resync:
                return False
            # Lines that arrived meanwhile (read, not stored) and files that went.
            stored = store.files()
            for path, state in self._files.items():
                known = stored.get(path)
                if known is None or (known.device, known.inode, known.offset) != (
                    state.device, state.inode, state.offset
                ):
                    self._store_up_to(store, state)
            store.mark_gone(sorted(self._gone_unstored))
        except sqlite3.Error as exc:
            self._resync = None
            kind = store_health.kind_of(exc)
            if kind == store_health.DAMAGED and self.store_kind != store_health.DAMAGED:
                self.store_kind, self.store_state = kind, store_health.state_text(kind, exc)
            return False
        self._gone_unstored.clear()
        self._store, self._resting, self._resync = store, None, None
        if self.store_kind == store_health.DAMAGED:
            self.store_state = "store damaged — rebuilt"
        else:
            self.store_state = None
            self._warn("the store is in use again")
        self.store_kind = None
        return True

    def _store_up_to(self, store: Store, state: _File) -> None:
        """Store what this process has read of one file: the lines the store lacks."""
        if state.size < 0:
            return
        known = store.file(state.path)
        start = 0
        if known is not None and (known.device, known.inode) == (state.device, state.inode):
            if known.offset == state.offset:
                return
            if known.offset < state.offset:
                start = known.offset
        try:
            with open_regular(state.path) as handle:
                handle.seek(start)
                data = complete_prefix(handle.read(state.offset - start))
        except OSError:
            return  # gone or unreadable now: the next read of it says so
        parser = TranscriptParser(state.role)
        records = parser.feed(data)
        if start == 0:
            records.extend(self._subagent_meta(state))
        store.commit(state.path, state.device, state.inode, state.size, state.mtime,
                     start, start + len(data), records)  # fmt: skip

    # -- bookkeeping -------------------------------------------------------------------

    def _adopt(self, state: _File) -> None:
        self._files[state.path] = state
        for session_id in state.sessions:
            self._session_files.setdefault(session_id, set()).add(state.path)

    def forget(self, path: str) -> None:
        """The file is gone: its sessions stay; one with no file left is reported deleted."""
        state = self._files.pop(path, None)
        if state is None:
            return
        if self._store is not None:
            try:
                self._store.mark_gone([path])
            except sqlite3.Error as exc:
                self._store_failed(exc)
        if self._store is None and (self._resting is not None or self._survive):
            self._gone_unstored.add(path)
        for session_id in state.sessions:
            paths = self._session_files.get(session_id)
            if paths is not None:
                paths.discard(path)
                if not paths:
                    self._deleted(session_id)

    def _deleted(self, session_id: str) -> None:
        if self._on_deleted is not None:
            self._on_deleted(session_id)

    def identity(self, path: str) -> tuple[int, int, int] | None:
        """(device, inode, size) as last read, None for a file not followed yet."""
        state = self._files.get(path)
        return None if state is None else (state.device, state.inode, state.size)

    def known_paths(self) -> list[str]:
        return list(self._files)

    def needs_full_read(self, file: TranscriptFile) -> bool:
        """Unknown, replaced or shrunk since the store last read it."""
        state = self._files.get(file.path)
        return (
            state is None
            or (file.device, file.inode) != (state.device, state.inode)
            or (file.size < state.offset)
        )


def _still_holds(handle: BinaryIO, state: _File) -> bool:
    """Whether the bytes before ``state.offset`` are still the ones read there."""
    known = state.fingerprint
    if not known:
        # Taken over from the store: the offset ends a line read then, so the byte before it
        # is that line's newline (``cat new > F`` rarely puts one just there).
        known = b"\n"
    try:
        handle.seek(state.offset - len(known))
        return handle.read(len(known)) == known
    except OSError:
        return True  # the read that follows reports it


# A fork's file says in its first lines when it began (jsonl.TranscriptParser.prime): enough
# of the head to reach its first user line.
_HEAD_BYTES = 64 * 1024


def _parser_at(path: str, role: FileRole, offset: int) -> TranscriptParser:
    """A parser for a file read from ``offset``, knowing what its first lines said."""
    parser = TranscriptParser(role)
    if offset > 0:
        try:
            with open(path, "rb") as handle:
                parser.prime(handle.read(min(offset, _HEAD_BYTES)))
        except OSError:
            pass  # the read that follows reports it
    return parser
