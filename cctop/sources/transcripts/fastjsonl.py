"""The cold-scan parser: ``TranscriptParser`` with the same records, made in a fraction of the time.

Two means, both measured on real trees (see README, Benchmarks):

1. Lines are located by kind at the byte level, from their first bytes: Claude Code writes its
   metadata records as ``{"type":"<kind>",...`` and its conversation records as
   ``{"parentUuid":...,"isSidechain":...,`` followed by a few plain fields before the first
   nested object. The kinds ``INERT`` names (attachments, request shapes and blobs, progress
   mirrors: 95% of the bytes of a 2.1.332 transcript) make no record and leave the parser's state
   alone, so they are skipped without being decoded or scanned.
2. ``user`` and ``assistant`` lines (the hot kinds) are decoded by msgspec into structs that
   declare only the fields the parser reads (``Line`` below): tool inputs, tool results and
   thinking are skipped in C, never made into Python objects. The structs become plain dicts of
   those fields and go through the full parser's own ``_parse_object``, so every rule (dedupe,
   attribution, prompts, titles) lives in one place.

Anything else (other kinds, a line msgspec rejects or types differently, a line that does not
end its object) goes to the full parser line by line, which decides and counts exactly as it
always does. ``tests/test_fastjsonl.py`` checks the two give the same records on every sample.

A field the full parser starts to read must be declared below, or the fast path cannot see it:
the equivalence test fails on any sample that has it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from cctop.model.records import Record
from cctop.sources.transcripts.jsonl import TranscriptParser, _collapse_calls

# Record kinds the full parser makes nothing of and keeps no state for (checked against it on
# the samples by the tests). Any kind not named here is handed to the full parser.
INERT = frozenset(
    {
        b"attachment",
        b"progress",
        b"api-request",
        b"api-request-shape",
        b"api-request-blob",
        b"last-prompt",
        b"atis-latch",
        b"mode",
        b"permission-mode",
        b"tools-used",
        b"file-history-snapshot",
    }
)
MESSAGE = b"<message>"  # a conversation line whose type follows its message: user or assistant
HOT = frozenset({b"user", b"assistant", MESSAGE})
_HOT_TYPES = ("user", "assistant")
_CLOSE = ord("}")
_METADATA = b'{"type":"'
_CONVERSATION = b'{"parentUuid":'
_TYPE = b'"type":"'


class _Fields(msgspec.Struct, omit_defaults=True):
    """Absent fields stay absent (UNSET is dropped by ``to_builtins``), as in the full decode."""


class Block(_Fields):
    type: Any | UnsetType = UNSET
    id: Any | UnsetType = UNSET
    name: Any | UnsetType = UNSET
    tool_use_id: Any | UnsetType = UNSET
    is_error: Any | UnsetType = UNSET
    text: Any | UnsetType = UNSET


class Usage(_Fields):
    input_tokens: Any | UnsetType = UNSET
    output_tokens: Any | UnsetType = UNSET
    cache_read_input_tokens: Any | UnsetType = UNSET
    cache_creation_input_tokens: Any | UnsetType = UNSET
    cache_creation: Any | UnsetType = UNSET
    server_tool_use: Any | UnsetType = UNSET
    speed: Any | UnsetType = UNSET
    inference_geo: Any | UnsetType = UNSET
    iterations: Any | UnsetType = UNSET


class Message(_Fields):
    id: Any | UnsetType = UNSET
    model: Any | UnsetType = UNSET
    stop_reason: Any | UnsetType = UNSET
    usage: Usage | UnsetType = UNSET
    content: str | list[Block] | UnsetType = UNSET


class Line(_Fields):
    """The fields of a ``user`` or ``assistant`` line that the full parser reads."""

    type: Any | UnsetType = UNSET
    sessionId: Any | UnsetType = UNSET
    cwd: Any | UnsetType = UNSET
    gitBranch: Any | UnsetType = UNSET
    version: Any | UnsetType = UNSET
    timestamp: Any | UnsetType = UNSET
    uuid: Any | UnsetType = UNSET
    promptId: Any | UnsetType = UNSET
    isSidechain: Any | UnsetType = UNSET
    isMeta: Any | UnsetType = UNSET
    isCompactSummary: Any | UnsetType = UNSET
    requestId: Any | UnsetType = UNSET
    requestRef: Any | UnsetType = UNSET
    requestSessionId: Any | UnsetType = UNSET
    costUSD: Any | UnsetType = UNSET
    isApiErrorMessage: Any | UnsetType = UNSET
    apiErrorStatus: Any | UnsetType = UNSET
    error: Any | UnsetType = UNSET
    message: Message | UnsetType = UNSET


_decode = msgspec.json.Decoder(Line).decode
_to_builtins = msgspec.to_builtins
_DecodeFailed = (msgspec.DecodeError, msgspec.ValidationError)


def kind_of(data: bytes, start: int = 0, end: int | None = None) -> bytes | None:
    """The record kind of the line ``data[start:end]`` from its first bytes; None when they do
    not say. Nothing is copied but the kind."""
    if end is None:
        end = len(data)
    if data.startswith(_METADATA, start):
        quote = data.find(b'"', start + 9, min(start + 64, end))
        return data[start + 9 : quote] if quote > 0 else None
    if data.startswith(_CONVERSATION, start):
        # Before the first nested object only plain top-level fields can stand.
        nested = data.find(b"{", start + 14, end)
        at = data.find(_TYPE, start + 14, nested if nested > 0 else end)
        if at > 0:
            quote = data.find(b'"', at + 8, min(at + 72, end))
            return data[at + 8 : quote] if quote > 0 else None
        if nested > 0:
            if data.endswith(b'"message":{', start, nested + 1):
                return MESSAGE  # user or assistant: the type comes after the message
            if data.endswith(b'"attachment":{', start, nested + 1):
                return b"attachment"
    return None


class FastTranscriptParser(TranscriptParser):
    """Same records as ``TranscriptParser``, for reading whole files (see the module doc)."""

    def feed(self, data: bytes, end: int | None = None) -> list[Record]:
        """The lines of ``data[:end]`` (all of it by default), which must end at a line boundary.
        Lines are located in place: a skipped line is never copied."""
        out: list[Record] = []
        reference = super().feed
        parse = self._parse_object
        find = data.find
        view = memoryview(data)
        stop = len(data) if end is None else end
        position = 0
        while position < stop:
            newline = find(b"\n", position, stop)
            if newline < 0:
                newline = stop
            if newline > position:
                kind = kind_of(data, position, newline)
                if kind in INERT and data[newline - 1] == _CLOSE:
                    pass  # a line cut short is left to the full parser, which counts it
                else:
                    if kind in HOT:
                        try:
                            obj = _to_builtins(_decode(view[position:newline]))
                        except _DecodeFailed:
                            obj = None
                        if obj is not None and obj.get("type") in _HOT_TYPES:
                            parse(obj, out)
                            position = newline + 1
                            continue
                    out.extend(reference(data[position:newline]))
            position = newline + 1
        view.release()
        return _collapse_calls(out)
