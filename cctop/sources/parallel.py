"""Cold reads across cores: parsing is pure CPU work per file, so big backfills fan out
to worker processes while this process feeds the ledger in file order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from cctop.model.records import Record
from cctop.sources.discovery import TranscriptFile, Warn
from cctop.sources.reader import FileResult, read_file

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
    consumed = 0
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
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
