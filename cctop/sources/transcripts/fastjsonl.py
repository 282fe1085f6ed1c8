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
   thinking are skipped in C, never made into Python objects. Their two common shapes (an
   assistant line with usage and no error; a user line of tool results only: nearly all of
   them) become records straight from the structs (``_common``, which mirrors the full parser's
   rules for those shapes); any other shape becomes a plain dict of the declared fields and goes
   through the full parser's own ``_parse_object``.

Anything else (other kinds, a line msgspec rejects or types differently, a line that does not
end its object) goes to the full parser line by line, which decides and counts exactly as it
always does. ``tests/test_fastjsonl.py`` checks the two give the same records on every sample.

A field the full parser starts to read must be declared below, or the fast path cannot see it:
the equivalence test fails on any sample that has it.

Damage is where the two may differ, on purpose (checking it would cost the scan its speed): a
skipped line is only checked to end its object, so damage inside it goes uncounted
(tests/test_fastjsonl.py says so too).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from cctop.model.pricing import SYNTHETIC_MODEL
from cctop.model.records import (
    CONFIRMED,
    REPLAYED,
    ApiCall,
    Record,
    SessionMeta,
    Source,
    SubagentMeta,
    ToolResult,
    ToolUse,
)
from cctop.sources.limits import MAX_COUNT, OutOfRange, checked_seconds
from cctop.sources.transcripts.jsonl import (
    TranscriptParser,
    _collapse_calls,
    _count,
    _parse_time,
    _str,
    checked_cost,
    checked_count,
)

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
# A queue operation matters only before a file's first user or assistant line (it dates a fork's
# birth); after it the full parser makes nothing of one.
QUEUE_OPERATION = b"queue-operation"
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
# On any of these the full parser decides (bad UTF-8 in a kept string raises UnicodeDecodeError).
_DecodeFailed = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)


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
                if (kind in INERT or (kind == QUEUE_OPERATION and not self._opening)) and data[
                    newline - 1
                ] == _CLOSE:
                    pass  # a line cut short is left to the full parser, which counts it
                else:
                    if kind in HOT:
                        try:
                            decoded = _decode(view[position:newline])
                        except _DecodeFailed:
                            decoded = None
                        if decoded is not None and decoded.type in _HOT_TYPES:
                            mark = len(out)
                            try:
                                if not self._common(decoded, out):
                                    parse(_to_builtins(decoded), out)
                            except OutOfRange:  # as the full parser: the whole line goes
                                del out[mark:]
                                self.rejected += 1
                            position = newline + 1
                            continue
                    out.extend(reference(data[position:newline]))
            position = newline + 1
        view.release()
        return _collapse_calls(out)

    # -- the common shapes of the hot kinds, straight from the structs ------------------------
    # Each mirrors the full parser's rule for that shape (jsonl.TranscriptParser._meta,
    # _assistant, _api_call, _user); any other shape goes through the full parser's own code.

    def _common(self, line: Line, out: list[Record]) -> bool:
        """Records of an assistant line with usage and no error, or of a user line of tool
        results only; False (and nothing done) for any other shape."""
        message = line.message
        if message is UNSET:
            return False
        content = message.content
        if line.type == "assistant":
            if message.usage is UNSET or line.isApiErrorMessage is True:
                return False
        elif type(content) is not list or any(block.type == "text" for block in content):
            return False  # a prompt, or text beside the results: the full parser's rules
        session_id = self.role.session_id or _str(line.sessionId)
        if session_id is None:
            return True  # the full parser makes nothing of it either
        self._opening = False
        # In the full parser's order, so a value out of range leaves the same state behind.
        role = self.role
        if role.agent_id is not None and not self._subagent_announced:
            self._subagent_announced = True
            out.append(SubagentMeta(session_id=session_id, agent_id=role.agent_id))
        facts = (_str(line.cwd), _str(line.gitBranch), _str(line.version))
        changed = facts != self._meta_seen.get(session_id) and any(facts)
        if changed:
            self._meta_seen[session_id] = facts
        timestamp = checked_seconds(fast_timestamp(line.timestamp), "timestamp")
        if changed:
            # A copied line's time is the parent's: it must not date this session.
            when = None if self._evidence(timestamp) == REPLAYED else timestamp
            out.append(SessionMeta(session_id, when, facts[0], facts[1], facts[2]))
        if line.type == "assistant":
            # Who made the call: as jsonl.TranscriptParser._assistant decides it.
            made_by = None if line.requestSessionId is UNSET else line.requestSessionId
            if made_by is not None and (not isinstance(made_by, str) or not made_by or made_by == session_id):
                made_by = None
            evidence = CONFIRMED if made_by is not None or line.requestRef else self._evidence(timestamp)
            if _str(message.model) != SYNTHETIC_MODEL:
                self._common_call(line, message, session_id, timestamp, out, evidence, made_by)
            if type(content) is list:
                self._common_tool_uses(content, session_id, timestamp, evidence, made_by, out)
        elif type(content) is list:  # always, by the test above
            evidence = self._evidence(timestamp)
            for block in content:
                if block.type == "tool_result":
                    tool_id = _str(block.tool_use_id)
                    if tool_id:
                        is_error = block.is_error is True
                        out.append(ToolResult(session_id, tool_id, is_error, timestamp, evidence=evidence))
        return True

    def _common_tool_uses(
        self, content: list[Block], session_id: str, timestamp: float | None, evidence: int,
        made_by: str | None, out: list[Record],
    ) -> None:  # fmt: skip
        agent_id = self.role.agent_id
        for block in content:
            if block.type == "tool_use":
                tool_id = _str(block.id)
                if tool_id:
                    name = _str(block.name) or "?"
                    out.append(ToolUse(session_id, agent_id, tool_id, name, timestamp, Source.TRANSCRIPT,
                                       evidence, made_by))  # fmt: skip

    def _common_call(
        self, line: Line, message: Message, session_id: str, timestamp: float | None, out: list[Record],
        evidence: int, made_by: str | None,
    ) -> None:  # fmt: skip
        usage = message.usage
        assert usage is not UNSET
        message_id = None if message.id is UNSET else message.id
        request_id = None if line.requestId is UNSET else line.requestId
        output = usage.output_tokens
        output = output if type(output) is int and 0 <= output < MAX_COUNT else checked_count(output)
        stop = message.stop_reason
        final = (stop is not None and stop is not UNSET) or usage.iterations is not UNSET
        if self._adds_nothing(message_id, request_id, output, final):
            return
        split = usage.cache_creation
        split = split if type(split) is dict else _EMPTY
        server = usage.server_tool_use
        server = server if type(server) is dict else _EMPTY
        cost = checked_cost(line.costUSD)
        out.append(
            ApiCall(
                session_id,
                self.role.agent_id,
                _str(message.model) or "",
                message_id if isinstance(message_id, str) and message_id else None,
                request_id if isinstance(request_id, str) and request_id else None,
                timestamp,
                _count(usage.input_tokens),
                output,
                _count(usage.cache_read_input_tokens),
                _count(usage.cache_creation_input_tokens),
                _count(split.get("ephemeral_5m_input_tokens")),
                _count(split.get("ephemeral_1h_input_tokens")),
                _count(server.get("web_search_requests")),
                _str(usage.speed),
                _str(usage.inference_geo),
                final,
                line.isSidechain is True,
                Source.TRANSCRIPT,
                cost,
                None,
                None,
                evidence,
                made_by,
            )
        )


_EMPTY: dict = {}
# "MM:SS" -> seconds into the hour, "mmm" -> seconds: one lookup each instead of parsing.
_CLOCK = {f"{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(60)}
_MILLIS = {f"{n:03d}": n / 1000 for n in range(1000)}
_HOURS: dict[str, float] = {}


def fast_timestamp(value: object) -> float | None:
    """The full parser's reading of a time (``jsonl._parse_time``, before its range check), the
    date and hour parsed once per hour instead of once per second (a session's lines rarely
    share a second). Its ``...T10:00:00.123Z`` form only; anything else, or an hour the full
    parser would refuse, is left to it."""
    if type(value) is not str or len(value) != 24 or value[23] != "Z" or value[19] != "." or value[13] != ":":
        return _parse_time(value)
    clock = _CLOCK.get(value[14:19])
    millis = _MILLIS.get(value[20:23])
    if clock is None or millis is None:
        return _parse_time(value)
    hour = value[:13]
    base = _HOURS.get(hour)
    if base is None:
        base = _parse_time(hour + ":00:00Z")
        if base is None:
            return _parse_time(value)
        if len(_HOURS) > 4096:
            _HOURS.clear()
        _HOURS[hour] = base
    return base + clock + millis
