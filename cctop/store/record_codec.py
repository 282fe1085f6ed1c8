"""Records <-> compact bytes for the store: one orjson array of positional rows per batch.

Positional rows (type index, then the record's fields in declaration order) keep blobs small
and decoding a plain ``cls(*row)``. Enums are written as their values and restored on decode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from operator import attrgetter
from typing import Any

import orjson
from msgspec import structs

from cctop.model.records import (
    Activity,
    ApiCall,
    ApiError,
    CallTiming,
    Compaction,
    Prompt,
    Record,
    ReportedCost,
    SessionMeta,
    Source,
    SubagentMeta,
    TitleKind,
    ToolResult,
    ToolUse,
)

# The order is part of the stored format: append new types, never reorder.
TYPES: tuple[type, ...] = (
    ApiCall,
    ToolUse,
    ToolResult,
    Prompt,
    Compaction,
    SessionMeta,
    SubagentMeta,
    ApiError,
    Activity,
    CallTiming,
    ReportedCost,
)
_INDEX = {cls: i for i, cls in enumerate(TYPES)}
_FIELDS = [tuple(f.name for f in structs.fields(cls)) for cls in TYPES]
# One C-level getter per type returns all of a record's fields as a tuple (every type has
# several): about twice as fast as a getattr per field.
_GETTERS = {cls: (i, attrgetter(*names)) for i, (cls, names) in enumerate(zip(TYPES, _FIELDS, strict=True))}
_ENUMS: dict[str, Callable[[Any], Enum]] = {"source": Source, "title_kind": TitleKind}


def _enum_slots(index: int) -> list[tuple[int, Callable[[Any], Enum]]]:
    # +1: position 0 of a row is the type index.
    return [(i + 1, _ENUMS[name]) for i, name in enumerate(_FIELDS[index]) if name in _ENUMS]


_ENUM_SLOTS = [_enum_slots(i) for i in range(len(TYPES))]


def encode(records: Sequence[Record]) -> bytes:
    getters = _GETTERS
    rows = []
    for record in records:
        index, getter = getters[type(record)]
        rows.append((index, *getter(record)))
    return orjson.dumps(rows)


def decode(data: bytes) -> list[Record]:
    out: list[Record] = []
    for row in orjson.loads(data):
        index = row[0]
        for position, enum in _ENUM_SLOTS[index]:
            value = row[position]
            if value is not None:
                row[position] = enum(value)
        if index == _INDEX[Activity]:
            row[5] = tuple(tuple(pair) for pair in row[5])  # attributes: tuple of pairs
        out.append(TYPES[index](*row[1:]))
    return out
