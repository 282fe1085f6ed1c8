"""The facts ``cctop report`` sums, loaded the one way history is (``sources.load.history``:
every call record through the store, or one scan with ``--no-store``, plus kept telemetry),
and kept in the store so the next report needs no record at all while nothing changed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sqlite3
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import orjson

from cctop.launch import Runtime, make_runtime, open_store, say_store_failed
from cctop.model.periods import CallFact, Mark, Usage
from cctop.model.records import Prompt, Record, ToolResult
from cctop.model.usage import usage_of
from cctop.sources import load as history
from cctop.sources.transcripts.discovery import quick_scan
from cctop.store.database import Store

FACTS_FORMAT = 3
# Records no report figure needs; left out, they cost neither ingest time nor memory.
_UNUSED = (ToolResult, Prompt)


@dataclass(frozen=True, slots=True)
class Loaded:
    usage: Usage
    sessions: Mapping[str, tuple[str, str | None]]  # id -> (project, cwd)
    warnings: tuple[str, ...]
    files: int  # transcripts found on disk
    roots: tuple
    undated: int  # calls without a time: in no period


def load(args: argparse.Namespace) -> Loaded:
    """Every deduplicated call under the roots ``args`` name (``--claude-dir``, ``--store``,
    ``--no-store``, ``--prices``), with ``--project`` applied. With the store, the facts of
    the last report are reused while no transcript, price, kept telemetry batch or line of
    the code that made them changed."""
    runtime = make_runtime(args)
    store = open_store(args, runtime.warn)
    try:
        key = None
        if store is not None:
            with contextlib.suppress(sqlite3.Error):  # a damaged store: history() says so
                key = _facts_key(runtime, store)
        saved = _saved(store, key, runtime) if store is not None and key is not None else None
        if saved is not None:
            return only_project(saved, args.project)
        loaded = _read(runtime, store)
        if store is not None and key is not None and loaded.files:
            with contextlib.suppress(sqlite3.Error):  # only the next report's speed depends on it
                store.save_report_facts(key, encode(loaded))
    finally:
        if store is not None:
            store.close()
    return only_project(loaded, args.project)


def _needed(record: Record) -> bool:
    return not isinstance(record, _UNUSED)


def _read(runtime: Runtime, store: Store | None) -> Loaded:
    """Every call record into one ledger (never the saved per-session aggregates: those are
    --once's), then its facts."""
    loaded = history.history(runtime.roots, runtime.new_ledger, store, keep=_needed)
    if loaded.store_failed:
        say_store_failed(loaded.store_failed)
    ledger = loaded.ledger
    usage, sessions, undated = usage_of(ledger, runtime.pricebook.rates_for)
    warnings = tuple(dict.fromkeys(ledger.snapshot().warnings))
    return Loaded(usage, sessions, warnings, loaded.files, tuple(runtime.roots), undated)


def only_project(loaded: Loaded, project: str | None) -> Loaded:
    """The facts of sessions whose project or cwd contains ``project`` (any case)."""
    if not project:
        return loaded
    needle = project.lower()
    keep = {
        sid
        for sid, (name, cwd) in loaded.sessions.items()
        if needle in name.lower() or needle in (cwd or "").lower()
    }

    def mine(items):
        return tuple(i for i in items if i.session_id in keep)

    usage = loaded.usage
    return replace(loaded, usage=Usage(mine(usage.calls), mine(usage.tool_calls), mine(usage.breaks)))


# -- saved facts ----------------------------------------------------------------------------


def _facts_key(runtime: Runtime, store: Store) -> str | None:
    """What the saved facts depend on: every transcript's (device, inode, size), the prices
    and code (as --once's saved aggregates), the roots and the kept telemetry. None when a
    directory could not be listed (then the careful path runs, with its warnings)."""
    on_disk = quick_scan(runtime.roots)
    if on_disk is None:
        return None
    code = history.aggregate_key(
        runtime.pricebook, True, sys.modules[__name__], sys.modules[usage_of.__module__]
    )
    digest = hashlib.sha256(repr((FACTS_FORMAT, code, sorted(map(str, runtime.roots)))).encode())
    digest.update(orjson.dumps(sorted(on_disk.items())))
    digest.update(repr(store.telemetry_mark()).encode())
    return digest.hexdigest()


def _saved(store: Store, key: str, runtime: Runtime) -> Loaded | None:
    try:
        data = store.report_facts(key)
        return None if data is None else decode(data, tuple(runtime.roots))
    except (sqlite3.Error, ValueError, TypeError, KeyError, IndexError):  # damaged: read the records
        return None


# The columns of CallFact and Mark that hold names (session id, project, model): numbered.
_NAMED = (1, 2, 3)


def encode(loaded: Loaded) -> bytes:
    """The facts as columns, names numbered (about 40 bytes a call), so that decoding runs
    in C: a list per column, ``map`` for the names, ``zip`` for the rows."""
    names: dict[str, int] = {}

    def columns(rows: tuple[Any, ...], width: int) -> list[list[Any]]:
        cols = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
        for index in _NAMED:
            cols[index] = [names.setdefault(name, len(names)) for name in cols[index]]
        return cols

    usage = loaded.usage
    doc = {
        "format": FACTS_FORMAT,
        "calls": columns(usage.calls, len(CallFact._fields)),
        "tools": columns(usage.tool_calls, len(Mark._fields)),
        "breaks": columns(usage.breaks, len(Mark._fields)),
        "names": list(names),
        "sessions": loaded.sessions,
        "warnings": list(loaded.warnings),
        "files": loaded.files,
        "undated": loaded.undated,
    }
    return orjson.dumps(doc)


def decode(data: bytes, roots: tuple) -> Loaded:
    """``encode``'s facts back; damage (another format, a column short, a name out of range)
    raises ValueError or IndexError."""
    doc = orjson.loads(data)
    if doc["format"] != FACTS_FORMAT:
        raise ValueError("another format")
    name_of = doc["names"].__getitem__
    calls = _rows(CallFact, doc["calls"], name_of)
    tools = _rows(Mark, doc["tools"], name_of)
    breaks = _rows(Mark, doc["breaks"], name_of)
    sessions = {sid: (name, cwd) for sid, (name, cwd) in doc["sessions"].items()}
    usage = Usage(calls, tools, breaks)
    return Loaded(usage, sessions, tuple(doc["warnings"]), doc["files"], roots, doc["undated"])


def _rows(kind: Any, columns: list[list[Any]], name_of: Callable[[int], str]) -> tuple[Any, ...]:
    """Named tuples of ``kind`` from ``columns``, made in C (``tuple.__new__`` over ``zip``)."""
    if len(columns) != len(kind._fields):
        raise ValueError("a damaged row")
    columns = [list(map(name_of, col)) if index in _NAMED else col for index, col in enumerate(columns)]
    return tuple(map(partial(tuple.__new__, kind), zip(*columns, strict=True)))
