"""Cold reads across cores: parsing is pure CPU work per file, so big reads fan out to
worker processes.

Four shapes: ``read_many`` ships records back to feed one ledger here;
``sessions_by_project`` gives each worker whole project directories and its own ledger, and
ships back only finished per-session figures; ``fill_by_project`` does the same and also ships
each file's records already encoded for the store, so filling an empty store costs this
process only the writes; ``encode_many`` does that for a live process (the TUI's first start),
whose threads rule out fork. Replayed history (resumed and
forked sessions) stays inside its project directory, so deduplication per project is
deduplication overall, and this process does no per-record work at all.

``sessions_by_project`` (and ``documents_by_project``) run in ``forked.forked_map``, the
others in a ``ProcessPoolExecutor``.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from msgspec.structs import replace

from cctop.model.ledger import Ledger
from cctop.model.records import Record
from cctop.model.snapshot import SessionStats
from cctop.sources.transcripts import linked_groups
from cctop.sources.transcripts.discovery import TranscriptFile, Warn
from cctop.sources.transcripts.forked import WorkerLost, die_with_parent, forked_map, forked_results
from cctop.sources.transcripts.reader import FileResult, prime_allocator, read_file
from cctop.store.database import SessionRow, Store, WholeFile, session_row

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.context import BaseContext

# multiprocessing and concurrent.futures are imported where a pool starts: a cold --once
# goes through forked_map and does without them (~10 ms of imports).

T = TypeVar("T")

# Below this much data the pool costs more than it saves (process start, pickling).
PARALLEL_MIN_BYTES = 48 * 1024 * 1024
BATCH_BYTES = 8 * 1024 * 1024


def _read_batch(files: Sequence[TranscriptFile]) -> tuple[list[FileResult], list[str]]:
    warnings: list[str] = []
    return [read_file(f, warnings.append, include_tail=True) for f in files], warnings


def _batches(files: Sequence[TranscriptFile]) -> Iterator[list[TranscriptFile]]:
    batch: list[TranscriptFile] = []
    size = 0
    for file in files:
        batch.append(file)
        size += file.size
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def worker_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def read_many(
    files: Sequence[TranscriptFile],
    warn: Warn,
    sink: Callable[[list[Record]], None],
    on_file: Callable[[TranscriptFile, FileResult], None] | None = None,
) -> int:
    """Read ``files`` (already in the wanted order), in worker processes when it pays.

    Records reach ``sink`` per file, in the order given; ``on_file`` sees each file's result
    (offset, malformed count) for callers that keep per-file state. Returns bytes consumed.
    """
    workers = worker_count()
    total = sum(f.size for f in files)
    if workers < 2 or total < PARALLEL_MIN_BYTES:
        return _read_serially(files, warn, sink, on_file)
    import multiprocessing

    consumed = 0
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with _pool(workers, context) as pool:
        batches = list(_batches(files))
        for batch, (results, warnings) in zip(batches, pool.map(_read_batch, batches), strict=True):
            for message in warnings:
                warn(message)
            for file, result in zip(batch, results, strict=True):
                consumed += result.offset
                sink(result.records)
                if on_file is not None:
                    on_file(file, result)
    return consumed


def _read_serially(files, warn, sink, on_file) -> int:
    consumed = 0
    for file in files:
        result = read_file(file, warn, include_tail=True)
        consumed += result.offset
        sink(result.records)
        if on_file is not None:
            on_file(file, result)
    return consumed


# Set in this process just before the pool forks; the workers inherit them. Among them the
# project ``groups``: a task names its groups by index instead of pickling their files.
_WORKER_CONTEXT: dict = {}


def _files_of(groups: Sequence[int]) -> list[TranscriptFile]:
    """In a worker: the files of the inherited project groups at these indices."""
    known = _WORKER_CONTEXT["groups"]
    return [f for index in groups for f in known[index]]


def keep_bigger(into: dict[str, T], items: Iterable[tuple[str, T]], requests: Callable[[T], int]) -> None:
    """The one merge rule for finished session figures computed apart (one project group
    each): a session seen in two groups keeps the figures with more requests."""
    for session_id, item in items:
        known = into.get(session_id)
        if known is None or requests(known) < requests(item):
            into[session_id] = item


def pays(files: Sequence[TranscriptFile]) -> bool:
    """Whether reading ``files`` by project in worker processes beats one process: a big
    enough tree, several cores, and fork (workers inherit the price book and code)."""
    return (
        bool(files)
        and worker_count() >= 2
        and hasattr(os, "fork")
        and sum(f.size for f in files) >= PARALLEL_MIN_BYTES
    )


def _project_groups(files: Sequence[TranscriptFile], groups: int) -> list[list[TranscriptFile]]:
    """Whole projects packed into ``groups`` bins of about equal size, biggest first."""
    by_project: dict[tuple[str, str], list[TranscriptFile]] = {}
    for file in files:
        by_project.setdefault(file.project, []).append(file)
    bins: list[list[TranscriptFile]] = [[] for _ in range(groups)]
    sizes = [0] * groups
    for project in sorted(by_project.values(), key=lambda fs: -sum(f.size for f in fs)):
        smallest = sizes.index(min(sizes))
        bins[smallest].extend(project)
        sizes[smallest] += sum(f.size for f in project)
    return [b for b in bins if b]


def _shrinking_groups(files: Sequence[TranscriptFile], workers: int) -> list[list[TranscriptFile]]:
    """Whole projects in groups to be handed out in this order, the biggest projects first,
    the groups shrinking towards the end (each about half a worker's share of what is left):
    the last groups are small, so the workers finish within a few ms of each other however
    their speeds differ. Equal groups left one core idle for up to one group (~60 ms of 0.5 s
    on 1 GB). No group is bigger than an equal eighth would be (``workers * 4`` of them),
    which bounds a worker's memory."""
    by_project: dict[tuple[str, str], list[TranscriptFile]] = {}
    for file in files:
        by_project.setdefault(file.project, []).append(file)
    projects = sorted(((sum(f.size for f in fs), fs) for fs in by_project.values()), key=lambda p: -p[0])
    remaining = sum(size for size, _ in projects)
    most, least = remaining / (workers * 4), remaining / (workers * 32)
    groups: list[list[TranscriptFile]] = []
    group: list[TranscriptFile] = []
    size = 0
    for project_size, project in projects:
        if group and size + project_size > most:
            groups.append(group)
            remaining -= size
            group, size = [], 0
        group.extend(project)
        size += project_size
        if size >= max(least, min(most, remaining / (workers * 2))):
            groups.append(group)
            remaining -= size
            group, size = [], 0
    if group:
        groups.append(group)
    return groups


def _sessions_of(groups: Sequence[int]) -> tuple[list[SessionStats], list[str], set[int]]:
    # A worker only allocates records and keeps them: the cycle collector finds nothing to
    # free and costs about a sixth of the run.
    gc.disable()
    prime_allocator()
    context = _WORKER_CONTEXT
    ledger = context["new_ledger"]()
    keys: set[int] = set()

    def sink(records: list[Record]) -> None:
        ledger.ingest(records)
        linked_groups.call_key_hashes(records, keys)

    files = sorted(_files_of(groups), key=lambda f: f.mtime, reverse=True)
    _read_serially(files, ledger.warn, sink, None)
    snapshot = ledger.snapshot(context["now"])
    return list(snapshot.sessions.values()), list(snapshot.warnings), keys


def _documents_of(groups: Sequence[int]) -> tuple[list[SessionRow], list[str], set[int]]:
    stats, warnings, keys = _sessions_of(groups)
    document = _WORKER_CONTEXT["document"]
    return [session_row(s, document, with_stats=False) for s in stats], warnings, keys


def sessions_by_project(
    files: Sequence[TranscriptFile], new_ledger: Callable[[], Ledger], now: float
) -> tuple[list[SessionStats], list[str]] | None:
    """Every session's figures, read by worker processes one project at a time, each into a
    ledger from ``new_ledger``; None when a pool would not pay (a small tree, one core, no
    fork) and the caller reads in-process."""
    if not pays(files):
        return None
    _WORKER_CONTEXT.update(new_ledger=new_ledger, now=now)
    return _by_project(files, _sessions_of, lambda s: s.id, lambda s: s.tokens.requests)


def documents_by_project(
    files: Sequence[TranscriptFile],
    new_ledger: Callable[[], Ledger],
    now: float,
    document: Callable[[SessionStats], bytes],
) -> tuple[list[SessionRow], list[str]] | None:
    """``sessions_by_project`` for a report that prints each session's finished ``document``:
    the workers render it too and hand back session rows without the stats (see
    ``store.session_row``). A row pickles as a few numbers and one bytes object, where a
    SessionStats is a tree of frozen objects that costs about as much to unpickle here as
    the documents cost to render."""
    if not pays(files):
        return None
    _WORKER_CONTEXT.update(new_ledger=new_ledger, now=now, document=document)
    return _by_project(files, _documents_of, lambda row: row.id, lambda row: row.requests)


def _by_project(
    files: Sequence[TranscriptFile],
    read_groups: Callable[[Sequence[int]], tuple[list[T], list[str], set[int]]],
    session_id: Callable[[T], str],
    requests: Callable[[T], int],
) -> tuple[list[T], list[str]]:
    """``read_groups`` run by worker processes on whole project groups (``_WORKER_CONTEXT`` set
    by the caller), merged in group order: the outcome never depends on timing."""
    workers = worker_count()
    sessions: dict[str, T] = {}
    warnings: dict[str, None] = {}
    try:
        groups = _shrinking_groups(files, workers)
        _WORKER_CONTEXT["groups"] = groups
        results: list = [None] * len(groups)
        overlap = linked_groups.Overlap()
        # Each result is taken in as it comes, while the workers read on: only the last one
        # is left to take in once they are done.
        for index, result in forked_results(lambda index: read_groups((index,)), len(groups), workers):
            results[index] = result
            overlap.add(result[2])
        # Groups holding the same call are read again as one (see linked_groups).
        merged = overlap.components([keys for _, _, keys in results])
        del overlap
        if merged:
            again = forked_map(lambda index: read_groups(merged[index]), len(merged), workers)
            for component, result in zip(merged, again, strict=True):
                for index in component:
                    results[index] = ([], [], set())
                results.append(result)
        for items, messages, _ in results:
            warnings.update(dict.fromkeys(messages))
            keep_bigger(sessions, [(session_id(item), item) for item in items], requests)
    finally:
        _WORKER_CONTEXT.clear()
    return list(sessions.values()), list(warnings)


def _fill_group(
    groups: Sequence[int],
) -> tuple[list[WholeFile], list[tuple[int, str]], list[SessionRow], list[str], set[int]]:
    gc.disable()  # as in _sessions_of
    prime_allocator()
    context = _WORKER_CONTEXT
    files = _files_of(groups)
    ledger = context["new_ledger"]()
    stored: list[WholeFile] = []
    keys: set[tuple[int, str]] = set()
    replay: frozenset[str] = context["replay"]
    # Its own connection: one opened before the fork must not be used in a child.
    store = Store.attach(context["store_path"]) if replay & {f.path for f in files} else None
    links: set[int] = set()  # call ids, to find groups that must be read together
    for file in sorted(files, key=lambda f: f.mtime, reverse=True):
        if store is not None and file.path in replay:
            records = store.load_file(file.path)
            ledger.ingest(records)
            linked_groups.call_key_hashes(records, links)
            continue
        result = read_file(file, ledger.warn, include_tail=True)
        ledger.ingest(result.records)
        linked_groups.call_key_hashes(result.records, links)
        if result.failed:
            continue  # not stored: the next run tries it again
        whole = WholeFile.of(
            file.path, file.device, file.inode, file.size, file.mtime, result.offset, result.records
        )
        keys.update(whole.keys)
        stored.append(replace(whole, keys=[]))  # shipped once, for the group, below
    if store is not None:
        store.close()
    snapshot = ledger.snapshot(context["now"])
    document = context["document"]
    rows = [session_row(s, document) for s in snapshot.sessions.values()]
    # Sorted here, in parallel, so the writer inserts them in index order as they come.
    return stored, sorted(keys), rows, list(snapshot.warnings), links


def fill_by_project(
    files: Sequence[TranscriptFile],
    new_ledger: Callable[[], Ledger],
    now: float,
    document: Callable[[SessionStats], bytes],
    store_files: Callable[[list[WholeFile], list[tuple[int, str]]], None],
    replay: frozenset[str] = frozenset(),
    store_path: str = "",
) -> tuple[list[SessionRow], list[str]] | None:
    """``sessions_by_project`` for a store being filled: each group's files reach
    ``store_files`` (encoded, with their offsets, and the group's dedupe keys sorted) as the
    group finishes, and the sessions come
    back as store session rows (see ``store.session_row``, ``document`` renders each one's
    report). Files in ``replay`` are stored whole and unchanged already: their records are
    read back from the store at ``store_path`` instead. None when a pool would not pay;
    nothing was read then."""
    if not pays(files):
        return None
    import multiprocessing
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    workers = worker_count()
    _WORKER_CONTEXT.update(
        new_ledger=new_ledger, now=now, document=document, replay=replay, store_path=store_path
    )
    sessions: dict[str, SessionRow] = {}
    warnings: dict[str, None] = {}
    try:
        # Smaller groups than sessions_by_project's: each ships its records back encoded, and
        # on 1 GB, 8 per worker kept the peak at ~245 MB against ~315 MB with 4 (and was faster).
        groups = _project_groups(files, workers * 8)
        _WORKER_CONTEXT["groups"] = groups
        context = multiprocessing.get_context("fork")
        results: list[tuple[list[SessionRow], list[str], set[int]]] = [([], [], set())] * len(groups)
        with _pool(workers, context) as pool:
            futures = {pool.submit(_fill_group, (index,)): index for index in range(len(groups))}
            # Written as each group finishes, so the writes overlap the reading still going on
            # instead of queueing behind a slow first group.
            try:
                for future in as_completed(futures):
                    stored, keys, rows, messages, links = future.result()
                    store_files(stored, keys)
                    # Let the group's blobs go: a finished future keeps its result.
                    results[futures.pop(future)] = (rows, messages, links)
                    del future, stored, keys
            except BaseException:  # e.g. the store failed: the groups not started are moot
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        # Groups holding the same call are summed again as one, from what was just stored.
        merged = linked_groups.linked([links for _, _, links in results])
        if merged:
            # Read back from the store (all stored by now), or without one from the files.
            stored_paths = frozenset(f.path for c in merged for i in c for f in groups[i])
            _WORKER_CONTEXT["replay"] = stored_paths if store_path else frozenset()
            with _pool(workers, context) as pool:
                for component, (_, _, rows, messages, links) in zip(
                    merged, pool.map(_fill_group, merged), strict=True
                ):
                    for index in component:
                        results[index] = ([], [], set())
                    results.append((rows, messages, links))
        for rows, messages, _ in results:  # in group order: the outcome never depends on timing
            warnings.update(dict.fromkeys(messages))
            keep_bigger(sessions, [(row.id, row) for row in rows], lambda row: row.requests)
    except BrokenProcessPool as broken:  # said as the forked pool says it, for one handler
        raise WorkerLost(f"a worker process ended without a result ({broken})") from broken
    finally:
        _WORKER_CONTEXT.clear()
    return list(sessions.values()), list(warnings)


# -- a live process's first fill -----------------------------------------------------------


def _encode_batch(files: Sequence[TranscriptFile]) -> tuple[list[WholeFile], list[str]]:
    warnings: list[str] = []
    encoded = []
    for file in files:
        said: list[str] = []
        result = read_file(file, said.append)  # no tail: a half-written line waits
        if said and not os.path.exists(file.path):
            continue  # deleted since it was listed: the tailer finds it gone, as any file
        if result.failed:
            warnings.extend(said)
            continue  # not stored: the tailer reads it (and retries) at its turn
        warnings.extend(said)
        # The file may have grown since it was listed: its size is at least what was read.
        size = max(file.size, result.offset)
        path = file.path
        encoded.append(
            WholeFile.of(path, file.device, file.inode, size, file.mtime, result.offset, result.records)
        )
    return encoded, warnings


def encode_many(
    files: Sequence[TranscriptFile], stopping: Callable[[], bool]
) -> Iterator[tuple[list[WholeFile], list[str]]]:
    """``files`` read from byte 0 and encoded for the store by worker processes, a batch at a
    time, in the order given. A few batches run ahead of the caller, not all of them: the
    results wait in this process's memory until the caller has written them.

    Workers come from a fork server (spawn where there is none), never a fork of the calling
    process: it runs other threads (the UI, file watchers), and a forked child could inherit
    a lock one of them held."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context: BaseContext
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Not the default (__main__): the calling program may be a script without a main guard.
        context.set_forkserver_preload([__name__])
    else:
        context = multiprocessing.get_context("spawn")
    captured = _start_helper_processes(context)
    workers = worker_count()
    batches = list(_batches(files))
    quiet = _quiet_worker if captured else die_with_parent
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=quiet) as pool:
        pending = [pool.submit(_encode_batch, batch) for batch in batches[: workers * 2]]
        queued = len(pending)
        try:
            while pending and not stopping():
                result = pending.pop(0).result()
                if queued < len(batches):
                    pending.append(pool.submit(_encode_batch, batches[queued]))
                    queued += 1
                yield result
        finally:
            for future in pending:
                future.cancel()


def _stderr_fd() -> int | None:
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if fd >= 0 else None


def _start_helper_processes(context) -> bool:
    """Start multiprocessing's resource tracker (and fork server) with a stderr they can use.

    The tracker hands ``sys.stderr``'s descriptor on to the process it starts, and a UI that
    captures stderr (Textual's capture says -1) makes that start fail. Then they get /dev/null,
    and the caller should silence its workers too: under a TUI their stderr is the screen.
    Returns whether stderr was captured."""
    if _stderr_fd() is not None:
        return False
    from multiprocessing import resource_tracker

    captured = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull
        try:
            resource_tracker.ensure_running()
            if context.get_start_method() == "forkserver":
                from multiprocessing import forkserver

                forkserver.ensure_running()
        finally:
            sys.stderr = captured
    return True


def _pool(workers: int, context) -> ProcessPoolExecutor:
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=die_with_parent)


def _quiet_worker() -> None:
    die_with_parent()
    prime_allocator()
    _silence_stderr()


def _silence_stderr() -> None:
    """A worker's initializer: nothing it might print can reach a TUI's screen."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
