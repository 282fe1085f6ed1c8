"""Live tailing of every transcript under the roots, in background threads.

watchdog observers (recursive, one per root) only mark paths dirty; one worker thread drains
the dirty set, so a burst of events on a file costs one read. The worker serves dirty files
before the start-up backfill, and the backfill goes newest file first (per file: its records
from the store, then the bytes it gained since), so live sessions show at once while history
fills in behind (``status`` counts the progress).

If inotify runs out of watches or no native observer works, the worker polls instead
(stat + size about once a second), after one clear warning. Roots that do not exist yet are
looked for on the same cadence and watched once they appear.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cctop.model.records import Record
from cctop.sources.transcripts import prefill
from cctop.sources.transcripts.discovery import Warn
from cctop.sources.transcripts.tracker import FileTracker
from cctop.store import record_codec
from cctop.store.database import Store, StoredFile

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver
from cctop.store import health as store_health

# Start-up reads files changed this recently before anything else (at most this many).
LIVE_FIRST_WINDOW_S = 10 * 60
LIVE_FIRST_MAX = 64
POLL_INTERVAL_S = 1.0
STORE_RETRY_S = 2.0  # how often a store that failed is tried again


@dataclass(frozen=True, slots=True)
class TailerStatus:
    files_watched: int
    bytes_read: int
    backfill_done: int  # files
    backfill_total: int
    polling: bool  # fell back to stat polling
    records_from_store: int
    starting: bool = False  # still finding files: nothing can be said missing yet
    store_state: str | None = None  # "store: disk full — running in memory", ...
    errors: int = 0  # reads that failed unexpectedly (skipped, said in the warnings)

    @property
    def backfilling(self) -> bool:
        return self.starting or self.backfill_done < self.backfill_total


class Tailer:
    def __init__(
        self,
        roots: list[Path],
        sink: Callable[[list[Record]], None],
        warn: Warn,
        store: Store | None = None,
        on_deleted: Callable[[str], None] | None = None,
        store_state: str | None = None,
        unwarn: Callable[[str], None] | None = None,
        retract: Callable[[set[str]], set[str]] | None = None,
        on_history_loaded: Callable[[], None] | None = None,
    ) -> None:
        """``store_state``: what opening the store ran into, for the header (e.g. it was
        damaged and rebuilt, or could not be used at all). ``on_history_loaded`` is called
        once, from the tailer's thread, when the start's backfill is done."""
        self._warn = warn
        self._store = store
        self._tracker = FileTracker(
            roots, sink, warn, store=store, on_deleted=on_deleted, survive_store_errors=True
        )
        self._tracker.store_state = store_state
        self._tracker.unwarn = unwarn
        self._tracker.retract = retract
        self._roots = self._tracker.roots
        self._lock = threading.Condition()
        self._dirty: dict[str, None] = {}  # ordered set of paths
        self._dirty_dirs: dict[str, None] = {}
        self._lost_roots: set[Path] = set()  # watched roots that were deleted or moved away
        self._backfill: list[tuple[str, StoredFile | None]] = []
        # A first start's history, read by worker processes (into the store, or memory); each
        # file is replayed at its turn in the backfill (``_prefilled``).
        self._prefill: prefill.Prefill | None = None
        self._prefilled: dict[str, prefill.Prefilled] = {}
        self._backfill_total = 0
        self._backfill_done = 0
        self._started = False
        self._planned = False  # start-up has queued the backfill
        self._busy = True  # until the first backfill is queued
        self._stopping = False
        self._polling = False
        self._watched_roots: set[Path] = set()
        self._observers: dict[Path, BaseObserver] = {}
        self._worker: threading.Thread | None = None
        self._errors = 0
        self._next_store_retry = 0.0
        self._store_replaced: Store | None = None  # the fresh store put in a damaged one's place
        self._on_history_loaded = on_history_loaded
        self._live_read = threading.Event()  # start-up has read the sessions written lately

    # -- public ---------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._worker = threading.Thread(target=self._run, name="cctop-tailer", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            self._tracker.stopping = True
            self._lock.notify_all()
        observers = list(self._observers.values())
        for observer in observers:
            with contextlib.suppress(Exception):  # shutting down anyway
                observer.stop()
        for observer in observers:
            if observer.is_alive():
                observer.join(timeout)
        if self._prefill is not None:
            self._prefill.stop(timeout)
        if self._worker is not None:
            self._worker.join(timeout)

    def store_close(self) -> None:
        """Close the store in use (after ``stop``): it may be a new one put in a damaged
        one's place."""
        store = self._tracker.store
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()

    @property
    def status(self) -> TailerStatus:
        with self._lock:
            return TailerStatus(
                files_watched=self._tracker.file_count,
                bytes_read=self._tracker.bytes_read,
                backfill_done=self._backfill_done,
                backfill_total=self._backfill_total,
                polling=self._polling,
                records_from_store=self._tracker.records_loaded,
                starting=not self._planned,
                store_state=self._tracker.store_state,
                errors=self._errors,
            )

    def wait_live(self, timeout: float) -> bool:
        """Block until start-up has read the sessions written in the last minutes (or given
        up on it), at most ``timeout`` seconds: a caller about to do heavy work of its own (the
        UI's imports) lets this thread have the interpreter for them first."""
        return self._live_read.wait(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the backfill is done and no file is waiting to be read (for tests and
        ``--once``-like callers). Events still in the observer's queue are not counted."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy or self._dirty or self._dirty_dirs or self._backfill:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def touch(self, path: str | os.PathLike[str]) -> None:
        """Mark a path dirty (what the observers do; also usable by callers that know better)."""
        with self._lock:
            self._dirty[os.fspath(path)] = None
            self._lock.notify_all()

    # -- watching ---------------------------------------------------------------------

    def _watch_roots(self) -> None:
        """Schedule an observer on every root that exists and is not watched yet."""
        for root in self._roots:
            if root in self._watched_roots or not root.is_dir():
                continue
            self._watched_roots.add(root)
            if self._polling:
                continue
            try:
                self._observers[root] = self._observe(root)
            except Exception as exc:  # noqa: BLE001 - any observer failure means: poll
                self._polling = True
                self._warn(
                    f"cannot watch {root} for changes ({_reason(exc)}); polling every "
                    f"{POLL_INTERVAL_S:g} s instead (raise fs.inotify.max_user_watches to avoid this)"
                )

    def _observe(self, root: Path):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        tailer = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                tailer._on_event(event)

        observer = Observer()
        observer.daemon = True
        observer.schedule(Handler(), str(root), recursive=True)
        observer.start()
        return observer

    def _on_event(self, event) -> None:
        paths = [os.fsdecode(event.src_path)]
        dest = getattr(event, "dest_path", None)
        if dest:
            paths.append(os.fsdecode(dest))
        with self._lock:
            for path in paths:
                if (
                    event.is_directory
                    and event.event_type in ("deleted", "moved")
                    and Path(path) in self._roots
                ):
                    self._lost_roots.add(Path(path))
                if event.is_directory:
                    if event.event_type in ("created", "moved") and os.path.isdir(path):
                        self._dirty_dirs[path] = None
                elif path.endswith((".jsonl", ".meta.json")):
                    self._dirty[path] = None
            self._lock.notify_all()

    # -- the worker ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._startup()
        except Exception as exc:  # noqa: BLE001 - report, and follow what can be followed
            self._failed("start-up", exc)
            self._live_read.set()
            with self._lock:
                self._busy = False
                self._planned = True
                self._history_maybe_loaded()
                self._lock.notify_all()
        while True:
            try:
                self._loop()
                return
            except Exception as exc:  # noqa: BLE001 - a source never dies: report, go on
                self._failed("tailer", exc)
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()
                    if self._stopping:
                        return
                    self._lock.wait(POLL_INTERVAL_S)  # not a hot loop if it keeps failing

    def _failed(self, where: str, exc: BaseException, path: str | None = None) -> None:
        with self._lock:
            self._errors += 1
        what = f"{path}: " if path else f"{where}: "
        self._warn(f"{what}skipped after an error ({type(exc).__name__}: {exc})")

    def _update(self, path: str) -> None:
        """One file's news; whatever goes wrong is that file's problem, not the tailer's."""
        try:
            if path.endswith(".meta.json"):
                self._tracker.refresh_meta(path[: -len(".meta.json")] + ".jsonl")
            else:
                self._tracker.update(path)
        except Exception as exc:  # noqa: BLE001
            self._failed("read", exc, path)

    def _check_store(self) -> None:
        """A store damaged where no query may look (an old file's chunk) is found at start."""
        store = self._tracker.store
        if store is None:
            return
        try:
            damage = store.damage()
        except Exception as exc:  # noqa: BLE001 - e.g. closed: nothing to check
            damage = str(exc)
        if damage is not None:
            self._set_aside(store, damage)

    def _set_aside(self, store: Store, reason: str) -> None:
        try:
            fresh = store.replace_damaged(reason, self._warn)
        except Exception as exc:  # noqa: BLE001 - StoreError: keep running in memory
            self._warn(f"{exc}; running in memory")
            self._store = None
            self._tracker.replace_store(None, "store damaged — running in memory")
            return
        self._store = self._store_replaced = fresh
        self._tracker.replace_store(fresh, "store damaged — rebuilding")

    def _store_upkeep(self) -> None:
        """A store that failed: set a damaged one aside, bring the store up to date again."""
        tracker = self._tracker
        if tracker.store_kind is None or time.monotonic() < self._next_store_retry:
            return
        resting = tracker.store
        if resting is None:
            return
        if tracker.store_kind == store_health.DAMAGED and resting is not self._store_replaced:
            self._set_aside(resting, "damaged while running")
        if not tracker.retry_store():
            self._next_store_retry = time.monotonic() + (0 if tracker.resyncing else STORE_RETRY_S)

    def _startup(self) -> None:
        self._check_store()
        files = self._tracker.scan()
        plan = self._tracker.plan(files)
        # Sessions written in the last minutes are read before the watches go up: setting
        # up inotify over a big tree competes for the GIL and would keep them off screen.
        now = time.time()
        live_paths = {path for path, _ in plan[:LIVE_FIRST_MAX] if self._recent(path, now)}
        live = [entry for entry in plan if entry[0] in live_paths]
        for entry in live:
            self._tracker.backfill(*entry)
        self._live_read.set()
        self._watch_roots()
        with self._lock:
            # What they gained before the watches were up is picked up as an ordinary change.
            for path, _ in live:
                self._dirty[path] = None
            # Not a slice: a gone file (history) can sit between recent ones in mtime order.
            rest = [entry for entry in plan if entry[0] not in live_paths]
            self._backfill = rest[::-1]  # popped from the end: newest first
            self._start_prefill(files, rest)
            self._backfill_total = len(plan)
            self._backfill_done = len(live)
            self._planned = True
            self._busy = False
            self._history_maybe_loaded()
            self._lock.notify_all()

    def _start_prefill(self, files, rest: list[tuple[str, StoredFile | None]]) -> None:
        """Files the store has never seen (all of them without a store), if there are enough of
        them, go to worker processes."""
        by_path = {f.path: f for f in files}
        unseen = [by_path[path] for path, stored in rest if stored is None and path in by_path]
        if prefill.worth_it(unseen):
            store_path = self._store.path if self._store is not None else None
            self._prefill = prefill.Prefill(store_path, unseen, self._warn, self._lock)
            self._prefill.start()

    def _backfill_ready(self) -> bool:
        """(Lock held.) The next backfill file can be read now: the workers are not on it."""
        if not self._backfill:
            return False
        return self._prefill is None or not self._prefill.pending(self._backfill[-1][0])

    @staticmethod
    def _recent(path: str, now: float) -> bool:
        try:
            return now - os.stat(path).st_mtime < LIVE_FIRST_WINDOW_S
        except OSError:
            return False

    def _loop(self) -> None:
        next_poll = time.monotonic() + POLL_INTERVAL_S
        while True:
            with self._lock:
                while not (
                    self._stopping
                    or self._dirty
                    or self._dirty_dirs
                    or self._backfill_ready()
                    or self._lost_roots
                    or (self._prefill is not None and self._prefill.has_stored())
                    or self._tracker.resyncing
                ):
                    left = next_poll - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
                if self._stopping:
                    return
                lost, self._lost_roots = self._lost_roots, set()
                dirs, self._dirty_dirs = list(self._dirty_dirs), {}
                paths, self._dirty = list(self._dirty), {}
                prefilled = self._prefill.take_stored() if self._prefill is not None else []
                backfill = self._backfill.pop() if not (paths or dirs) and self._backfill_ready() else None
                self._busy = True
            for read in prefilled:
                # A file the tracker read meanwhile (it changed) is followed already.
                if self._tracker.identity(read.stored.path) is None:
                    self._tracker.adopt([read.stored])
                    self._prefilled[read.stored.path] = read
            for root in lost:
                self._unwatch(root)
            if lost:
                self._watch_new_roots()  # a root deleted and made again at once
            for directory in dirs:
                paths.extend(self._tracker.scan_dir(directory))
            try:
                for path in paths:
                    self._update(path)
                if backfill is not None:
                    try:
                        self._backfill_one(*backfill)
                    except Exception as exc:  # noqa: BLE001 - skip it, go on with the rest
                        self._failed("backfill", exc, backfill[0])
                if time.monotonic() >= next_poll:
                    self._periodic()
                    next_poll = time.monotonic() + POLL_INTERVAL_S
                self._store_upkeep()
            finally:
                with self._lock:
                    if backfill is not None:
                        self._backfill_done += 1
                        self._history_maybe_loaded()
                    self._busy = False
                    self._lock.notify_all()

    def _history_maybe_loaded(self) -> None:
        """With the lock held: ``on_history_loaded`` once the start's backfill is done."""
        if self._on_history_loaded is not None and self._planned and not self._backfill:
            loaded, self._on_history_loaded = self._on_history_loaded, None
            loaded()

    def _backfill_one(self, path: str, stored: StoredFile | None) -> None:
        read = self._prefilled.pop(path, None)
        if read is None:
            self._tracker.backfill(path, stored)
        elif read.in_store:
            self._tracker.backfill(path, read.stored)
        else:
            self._tracker.replay(path, record_codec.decode(read.held) if read.held else [])

    def _unwatch(self, root: Path) -> None:
        self._watched_roots.discard(root)
        observer = self._observers.pop(root, None)
        if observer is not None:
            with contextlib.suppress(Exception):
                observer.stop()

    def _watch_new_roots(self) -> None:
        """Roots that exist but are not watched: watch them, then read what they hold."""
        fresh = [r for r in self._roots if r not in self._watched_roots and r.is_dir()]
        if fresh:
            self._watch_roots()
            for root in fresh:
                for path in self._tracker.scan_dir(str(root)):
                    self._update(path)

    def _periodic(self) -> None:
        """Roots that appeared get watched and read; when polling, changed files get read."""
        for root in list(self._watched_roots):
            if not root.is_dir():  # removed: watch it again when it comes back
                self._unwatch(root)
        if not self._polling and any(not o.is_alive() for o in self._observers.values()):
            self._polling = True
            self._warn(
                f"a file watcher stopped (inotify limit?); polling every {POLL_INTERVAL_S:g} s instead"
            )
        self._watch_new_roots()
        if self._polling:
            self._poll()

    def _poll(self) -> None:
        """One polling pass: a stat of every transcript (no pathlib: ~40 ms for 7,000 files).
        While the backfill runs, files it has not reached yet are left to it."""
        from cctop.sources.load import quick_scan

        on_disk = quick_scan(self._roots)
        if on_disk is None:  # some dir unreadable: the careful scan warns about it
            on_disk = {f.path: (f.device, f.inode, f.size) for f in self._tracker.scan()}
        with self._lock:
            backfilling = bool(self._backfill)
        for path, identity in on_disk.items():
            known = self._tracker.identity(path)
            if known != identity and (known is not None or not backfilling):
                self._update(path)
        for path in self._tracker.known_paths():
            if path not in on_disk:
                self._update(path)  # confirms the deletion


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.strerror or exc} (errno {exc.errno})"
    return f"{type(exc).__name__}: {exc}"
