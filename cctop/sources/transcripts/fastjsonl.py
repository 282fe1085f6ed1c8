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

from typing import Annotated, Any, cast

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
from cctop.sources.limits import MAX_COUNT, OutOfRange
from cctop.sources.transcripts.jsonl import (
    TranscriptParser,
    _collapse_calls,
    checked_cost,
    checked_time_in_python,
    line_seconds,
)

try:  # the optional C line finder (built where a compiler is; see _linescan.c)
    from cctop.sources.transcripts._linescan import interesting_lines
except ImportError:  # pragma: no cover - tests/test_linescan.py runs both ways
    interesting_lines = None  # type: ignore[assignment]

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
_INERT_KINDS = tuple(sorted(INERT))  # as _linescan wants them
# A queue operation matters only before a file's first user or assistant line (it dates a fork's
# birth); after it the full parser makes nothing of one.
QUEUE_OPERATION = b"queue-operation"
COST_STATE = b"cost-state"  # read here from a small struct of its own
MESSAGE = b"<message>"  # a conversation line whose type follows its message: user or assistant
HOT = frozenset({b"user", b"assistant", MESSAGE})
# The kinds _read_line tells apart, named to the C line finder so that it says them: its code
# 0 is MESSAGE, 1 a kind to find here, 2 + i _NAMED_KINDS[i].
_NAMED_KINDS = (COST_STATE, QUEUE_OPERATION, b"user", b"assistant")
_KIND_OF_CODE = (MESSAGE, None, *_NAMED_KINDS)
_HOT_TYPES = ("user", "assistant")
_INERT_TYPES = frozenset(kind.decode() for kind in INERT)
_MESSAGE_OPENS = b'"message":{'
_ATTACHMENT_OPENS = b'"attachment":{'
ATTACHMENT = b"attachment"
_CLOSE = ord("}")
_METADATA = b'{"type":"'
_CONVERSATION = b'{"parentUuid":'
_TYPE = b'"type":"'


class _Fields(msgspec.Struct, omit_defaults=True):
    """Absent fields stay absent (UNSET is dropped by ``to_builtins``), as in the full decode.

    Fields the common shapes read are typed as the full parser wants them, so msgspec checks
    them in C; a line where one is of another type is refused and the full parser decides.
    A count that is absent reads 0 in both parsers, so counts default to 0 (dropped by
    ``to_builtins`` too, where the full parser reads them with ``.get``: the same 0)."""


# A token count as the full parser keeps it unchanged (jsonl._count); any other value, a float
# or a bool say, is refused here and read by the full parser.
Count = Annotated[int, msgspec.Meta(ge=0, lt=MAX_COUNT)]


class Block(_Fields):
    type: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    tool_use_id: str | UnsetType = UNSET
    is_error: Any | UnsetType = UNSET
    text: Any | UnsetType = UNSET


class CacheSplit(_Fields):
    ephemeral_5m_input_tokens: Count = 0
    ephemeral_1h_input_tokens: Count = 0


class ServerTools(_Fields):
    web_search_requests: Count = 0


class Usage(_Fields):
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_input_tokens: Count = 0
    cache_creation_input_tokens: Count = 0
    cache_creation: CacheSplit | None | UnsetType = UNSET
    server_tool_use: ServerTools | None | UnsetType = UNSET
    speed: str | None | UnsetType = UNSET
    inference_geo: str | None | UnsetType = UNSET
    iterations: Any | UnsetType = UNSET  # its presence marks the end-of-stream line


class Message(_Fields):
    id: Any | UnsetType = UNSET
    model: str | UnsetType = UNSET
    stop_reason: Any | UnsetType = UNSET
    usage: Usage | UnsetType = UNSET
    content: str | list[Block] | UnsetType = UNSET


class Line(_Fields):
    """The fields of a ``user`` or ``assistant`` line that the full parser reads."""

    type: str | UnsetType = UNSET
    sessionId: str | UnsetType = UNSET
    cwd: str | UnsetType = UNSET
    gitBranch: str | UnsetType = UNSET
    version: str | UnsetType = UNSET
    timestamp: Any | UnsetType = UNSET
    uuid: str | UnsetType = UNSET
    promptId: str | UnsetType = UNSET
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


class CostState(_Fields):
    """A ``cost-state`` line (one per turn in today's transcripts): Claude Code's running cost."""

    type: str | UnsetType = UNSET
    sessionId: str | UnsetType = UNSET
    totalCostUSD: Any | UnsetType = UNSET
    startTime: Any | UnsetType = UNSET


_decode = msgspec.json.Decoder(Line).decode
_decode_cost_state = msgspec.json.Decoder(CostState).decode
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
            if data.endswith(_MESSAGE_OPENS, start, nested + 1):
                return MESSAGE  # user or assistant: the type comes after the message
            if data.endswith(_ATTACHMENT_OPENS, start, nested + 1):
                return ATTACHMENT
    return None


class FastTranscriptParser(TranscriptParser):
    """Same records as ``TranscriptParser``, for reading whole files (see the module doc)."""

    def feed(self, data: bytes, end: int | None = None) -> list[Record]:
        """The lines of ``data[:end]`` (all of it by default), which must end at a line boundary.
        Lines are located in place: a skipped line is never copied."""
        out: list[Record] = []
        stop = len(data) if end is None else end
        view = memoryview(data)
        if interesting_lines is not None:  # the C line finder: no Python step per skipped line
            read = self._read_line
            found = interesting_lines(data, stop, _INERT_KINDS, _NAMED_KINDS)
            for index in range(0, len(found), 3):
                start, newline, code = found[index], found[index + 1], found[index + 2]
                kind = _KIND_OF_CODE[code] if code != 1 else kind_of(data, start, newline)
                read(data, view, start, newline, kind, out)
        else:
            self._find_lines(data, view, stop, out)
        view.release()
        return _collapse_calls(out)

    def _find_lines(self, data: bytes, view: memoryview, stop: int, out: list[Record]) -> None:
        """The line finder in Python (as _linescan.c): every line of ``data[:stop]`` that is not
        skipped by its first bytes goes to ``_read_line``."""
        read = self._read_line
        find = data.find
        startswith = data.startswith
        endswith = data.endswith
        position = 0
        while position < stop:
            newline = find(b"\n", position, stop)
            if newline < 0:
                newline = stop
            if newline <= position:
                position = newline + 1
                continue
            # kind_of's answer, found in place (no call per line; most lines are skipped): the
            # commonest line, a conversation line whose first nested object is its message, is
            # decoded without looking for its type first (msgspec reads it), and an
            # attachment's head is read once.
            if startswith(_METADATA, position):
                head_end = position + 64
                quote = find(b'"', position + 9, head_end if head_end < newline else newline)
                kind = data[position + 9 : quote] if quote > 0 else None
            elif startswith(_CONVERSATION, position):
                nested = find(b"{", position + 14, newline)
                if nested > 0 and endswith(_MESSAGE_OPENS, position, nested + 1):
                    kind = MESSAGE
                elif (
                    nested > 0
                    and endswith(_ATTACHMENT_OPENS, position, nested + 1)
                    and find(_TYPE, position + 14, nested) < 0
                ):
                    kind = ATTACHMENT
                else:
                    kind = kind_of(data, position, newline)
            else:
                kind = None
            if kind is MESSAGE or kind not in INERT or data[newline - 1] != _CLOSE:
                read(data, view, position, newline, kind, out)
            position = newline + 1

    def _read_line(
        self,
        data: bytes,
        view: memoryview,
        position: int,
        newline: int,
        kind: bytes | None,
        out: list[Record],
    ) -> None:
        """The records of the line ``data[position:newline]`` of ``kind`` (kind_of's answer),
        which the line finder did not skip."""
        if kind == QUEUE_OPERATION and not self._opening and data[newline - 1] == _CLOSE:
            return
        if kind == COST_STATE:
            try:
                state = _decode_cost_state(view[position:newline])
            except _DecodeFailed:
                state = None
            if state is not None and state.type == "cost-state":
                session_id = self.role.session_id or state.sessionId or None
                if session_id is not None:
                    try:
                        self._cost_state(session_id, state.totalCostUSD, state.startTime, out)
                    except OutOfRange:  # as the full parser
                        self.rejected += 1
                return
        elif kind in HOT and self._read_hot(view, position, newline, kind, out):
            return
        self._parse_line(data[position:newline], out)  # the full parser's, for any other line

    def _read_hot(
        self, view: memoryview, position: int, newline: int, kind: bytes, out: list[Record]
    ) -> bool:
        """A user or assistant line read from its struct; False when the full parser must."""
        try:
            decoded = _decode(view[position:newline])
        except _DecodeFailed:
            return False
        line_type = decoded.type
        if line_type in _HOT_TYPES:
            mark = len(out)
            try:
                if not self._common(decoded, out):
                    self._parse_object(_to_builtins(decoded), out)
            except OutOfRange:  # as the full parser: the whole line goes
                del out[mark:]
                self.rejected += 1
            return True
        # A whole JSON line of a kind the full parser makes nothing of.
        return kind is MESSAGE and line_type in _INERT_TYPES

    # -- the common shapes of the hot kinds, straight from the structs ------------------------
    # Each mirrors the full parser's rule for that shape (jsonl.TranscriptParser._meta,
    # _assistant, _api_call, _user); any other shape goes through the full parser's own code.

    def _common(self, line: Line, out: list[Record]) -> bool:
        """Records of an assistant line with usage and no error, or of a user line of tool
        results only or of text (a prompt); False (and nothing done) for any other shape."""
        message = line.message
        if message is UNSET:
            return False
        content = message.content
        assistant = line.type == "assistant"
        if assistant:
            if message.usage is UNSET or line.isApiErrorMessage is True:
                return False
        elif type(content) is str:
            pass  # a prompt
        elif type(content) is not list:
            return False
        else:
            for block in content:
                if block.type == "text":
                    return False  # text beside the results: the full parser's rules
        # Typed fields (see _Fields): ``or None`` is the full parser's _str.
        session_id = self.role.session_id or line.sessionId or None
        if session_id is None:
            return True  # the full parser makes nothing of it either
        self._opening = False
        # In the full parser's order, so a value out of range leaves the same state behind.
        role = self.role
        if role.agent_id is not None and not self._subagent_announced:
            self._subagent_announced = True
            out.append(SubagentMeta(session_id=session_id, agent_id=role.agent_id))
        facts = (line.cwd or None, line.gitBranch or None, line.version or None)
        changed = facts != self._meta_seen.get(session_id) and any(facts)
        if changed:
            self._meta_seen[session_id] = facts
        timestamp = line_seconds(line.timestamp, checked_time_in_python)
        if changed:
            # A copied line's time is the parent's: it must not date this session.
            when = None if self._evidence(timestamp) == REPLAYED else timestamp
            out.append(SessionMeta(session_id, when, facts[0], facts[1], facts[2]))
        if assistant:
            # Who made the call: as jsonl.TranscriptParser._assistant decides it.
            made_by = None if line.requestSessionId is UNSET else line.requestSessionId
            if made_by is not None and (not isinstance(made_by, str) or not made_by or made_by == session_id):
                made_by = None
            evidence = CONFIRMED if made_by is not None or line.requestRef else self._evidence(timestamp)
            if message.model != SYNTHETIC_MODEL:
                self._common_call(line, message, session_id, timestamp, out, evidence, made_by)
            if type(content) is list:
                agent_id = role.agent_id
                for block in content:
                    if block.type == "tool_use" and block.id:
                        out.append(ToolUse(session_id, agent_id, block.id, block.name or "?", timestamp,
                                           Source.TRANSCRIPT, evidence, made_by))  # fmt: skip
        elif type(content) is str:
            meta = line.isMeta is True or line.isCompactSummary is True
            self._prompt(session_id, content, timestamp, meta, line.promptId or line.uuid or None, out)
        else:  # a list of tool results, by the test above
            evidence = self._evidence(timestamp)
            for block in cast("list[Block]", content):
                if block.type == "tool_result" and block.tool_use_id:
                    out.append(ToolResult(session_id, block.tool_use_id, block.is_error is True, timestamp,
                                          evidence=evidence))  # fmt: skip
        return True

    def _common_call(
        self, line: Line, message: Message, session_id: str, timestamp: float | None, out: list[Record],
        evidence: int, made_by: str | None,
    ) -> None:  # fmt: skip
        usage = message.usage
        assert usage is not UNSET
        message_id = None if message.id is UNSET else message.id
        request_id = None if line.requestId is UNSET else line.requestId
        output = usage.output_tokens
        stop = message.stop_reason
        final = (stop is not None and stop is not UNSET) or usage.iterations is not UNSET
        if self._adds_nothing(message_id, request_id, output, final):
            return
        split = usage.cache_creation or _NO_SPLIT
        web_searches = usage.server_tool_use.web_search_requests if usage.server_tool_use else 0
        cost = checked_cost(line.costUSD)
        out.append(
            ApiCall(
                session_id,
                self.role.agent_id,
                message.model or "",
                message_id if isinstance(message_id, str) and message_id else None,
                request_id if isinstance(request_id, str) and request_id else None,
                timestamp,
                usage.input_tokens,
                output,
                usage.cache_read_input_tokens,
                usage.cache_creation_input_tokens,
                split.ephemeral_5m_input_tokens,
                split.ephemeral_1h_input_tokens,
                web_searches,
                usage.speed or None,
                usage.inference_geo or None,
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


_NO_SPLIT = CacheSplit()
