"""Claude Code transcript lines (bytes) -> records.

Pure parsing: callers hand in bytes they read (whole files, or complete lines appended
to a tailed file). A byte-level prefilter keeps orjson away from the lines that can never
matter (progress mirrors, file-history snapshots, queue operations, attachments ...).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import datetime

import msgspec
import orjson

from cctop.format import shorten
from cctop.model.pricing import SYNTHETIC_MODEL
from cctop.model.records import (
    CONFIRMED,
    REPLAYED,
    WRITTEN,
    ApiCall,
    ApiError,
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
from cctop.sources.limits import MAX_COUNT, OutOfRange, checked_seconds, time_in_range

# A line is parsed only when it holds one of these; anything else cannot carry usage,
# tool calls, prompts, titles or compactions. Substring tests run at memchr speed (a regex
# alternation was 3x slower on long tool-result lines).
_MARKERS = (b'"assistant"', b'"user"', b"compact_boundary", b'"ai-title"', b'"custom-title"', b'"summary"')
_EMPTY: dict = {}
# User-line text that Claude Code writes itself: slash-command echoes, interruptions, a
# background subagent's completion (2.1.332+).
_NOT_PROMPTS = (
    "<command-", "<local-command", "<bash-", "<system-reminder", "[Request interrupted",
    "<task-notification>",
)  # fmt: skip
# Metadata records start with their type, so these cost a prefix test, not a scan of the line.
_QUEUE_OPERATION = b'{"type":"queue-operation"'
_COST_STATE = b'{"type":"cost-state"'
# A retried API error (2.1.332+); the subtype sits near the start of the line.
_API_ERROR = b'"subtype":"api_error"'
_API_ERROR_WITHIN = 400


class FileRole(msgspec.Struct, frozen=True):
    """What a transcript file is, from its path alone (never from the encoded dir name)."""

    session_id: str | None  # None: legacy flat agent file, session comes from its lines
    agent_id: str | None  # None: the session's main chain


def checked_time(value: object) -> float | None:
    """``parse_timestamp`` for a line's own timestamp: None when absent or unparseable (as
    before), OutOfRange when it parses to a moment before 2000 or from 2100 on."""
    return line_seconds(value, checked_time_in_python)


def checked_time_in_python(value: object) -> float | None:
    """``checked_time`` without the C reader: every form, and the judge of any value it
    does not take."""
    return checked_seconds(_parse_time(value), "timestamp")


def python_line_seconds(value: object, slow: Callable[[object], float | None], /) -> float | None:
    """What the optional C timestamp reader (_isotime.c) stands in for."""
    return slow(value)


try:  # Claude Code's one timestamp form read in C (built where a compiler is; see _isotime.c)
    from cctop.sources.transcripts._isotime import line_seconds
except ImportError:  # pragma: no cover - tests/test_isotime.py runs both ways
    line_seconds = python_line_seconds


def checked_count(value: object) -> int:
    """A token or request count: ints and integral floats in [0, 2^53); absent or not a number
    (a string, a bool) counts 0 as before; negative, non-finite or huge is OutOfRange."""
    if type(value) is int:
        if 0 <= value < MAX_COUNT:
            return value
        raise OutOfRange(f"count {value}")
    if isinstance(value, float):
        if 0.0 <= value < MAX_COUNT:  # NaN fails this too
            return int(value)
        raise OutOfRange(f"count {value}")
    return 0


def checked_cost(value: object) -> float | None:
    """A reported cost in dollars: None when absent or not a number, OutOfRange when
    negative, non-finite or huge."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if 0.0 <= value < MAX_COUNT:
        return float(value)
    raise OutOfRange(f"cost {value}")


def parse_timestamp(value: object) -> float | None:
    """ISO-8601 -> POSIX seconds; None when absent, unparseable or outside 2000..2100."""
    seconds = _parse_time(value)
    return seconds if seconds is not None and time_in_range(seconds) else None


@functools.cache
def _clock_tables() -> tuple[dict[str, int], dict[str, float]]:
    """"MM:SS" -> seconds into the hour, "mmm" -> seconds: one lookup each instead of
    parsing. Built on first use: with the C reader, a cold scan never needs them."""
    clock = {f"{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(60)}
    return clock, {f"{n:03d}": n / 1000 for n in range(1000)}


# "2026-11-20T10" -> that hour's POSIX seconds.
_HOURS: dict[str, float] = {}


def _parse_time(value: object) -> float | None:
    """ISO-8601 -> POSIX seconds. Claude Code's ``2026-11-20T10:00:00.123Z`` form takes a fast
    path, the date and hour parsed once per hour (a session's lines rarely share a second);
    the sum is the same float as parsing the second and adding the milliseconds."""
    if type(value) is str and len(value) == 24 and value[23] == "Z" and value[19] == "." and value[13] == ":":
        clocks, milliseconds = _clock_tables()
        clock = clocks.get(value[14:19])
        millis = milliseconds.get(value[20:23])
        if clock is not None and millis is not None:
            hour = value[:13]
            base = _HOURS.get(hour)
            if base is None:
                base = _parse_iso(hour + ":00:00Z")
                if base is not None:
                    if len(_HOURS) > 4096:
                        _HOURS.clear()
                    _HOURS[hour] = base
            if base is not None:
                return base + clock + millis
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 24 and value[19] == "." and value[23] == "Z" and value[20:23].isdigit():
        base = _parse_iso(value[:19] + "Z")  # e.g. non-ASCII digits, which int() reads
        return None if base is None else base + int(value[20:23]) / 1000
    return _parse_iso(value)


def _parse_iso(value: str) -> float | None:
    try:
        if value.endswith("Z"):  # Python 3.10's fromisoformat does not take "Z"
            value = value[:-1] + "+00:00"
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError):  # year 1 with an offset overflows
        return None


def _count(value: object) -> int:
    return value if type(value) is int and 0 <= value < MAX_COUNT else checked_count(value)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class TranscriptParser:
    """Parses the lines of one transcript file, remembering what it already reported
    (cwd, branch, version) so a long file yields one SessionMeta per change, not per line."""

    def __init__(self, role: FileRole) -> None:
        self.role = role
        self.malformed = 0  # complete lines that were not valid JSON objects
        self.rejected = 0  # lines with a count, cost or time outside sane ranges
        self._meta_seen: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._subagent_announced = False
        self._first_prompt_seen: set[str] = set()
        # (message id, request id, output tokens, final) of the last API call sighting.
        self._last_call: tuple[object, object, int, bool] | None = None
        # When the file's own life began: a fork's file opens with its own lines stamped at
        # fork time (``queue-operation``), then a copy of the parent's history, older than
        # them. None = not known (an interactive start, or a file read from the middle).
        self._birth: float | None = None
        self._opening = True  # no user/assistant line seen yet: the birth can still be set

    def _adds_nothing(self, message_id: object, request_id: object, output: int, final: bool) -> bool:
        """Whether this line repeats the response just seen without improving on it (Claude
        Code writes a line per content block, each with the usage so far): a later line counts
        only with more output, or as the final one with as much. Both parsers' one rule."""
        last = self._last_call
        if (
            last is not None
            and message_id
            and last[0] == message_id
            and last[1] == request_id
            and (output < last[2] or (output == last[2] and (last[3] or not final)))
        ):
            return True
        self._last_call = (message_id, request_id, output, final)
        return False

    def feed(self, data: bytes) -> list[Record]:
        """Parse complete lines; ``data`` must end at a line boundary (the tailer ensures it)."""
        out: list[Record] = []
        parse_line = self._parse_line
        for line in data.split(b"\n"):
            parse_line(line, out)
        return _collapse_calls(out)

    def _parse_line(self, line: bytes, out: list[Record]) -> None:
        """One line, without its newline: its records onto ``out``."""
        a, u, c, t1, t2, t3 = _MARKERS
        if not (a in line or u in line or c in line or t1 in line or t2 in line or t3 in line):
            if line.startswith(_COST_STATE) or line.find(_API_ERROR, 0, _API_ERROR_WITHIN) >= 0:
                pass  # parsed below
            elif self._opening and line.startswith(_QUEUE_OPERATION):
                self._note_birth(line)
                return
            else:
                return
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = lenient_loads(line)  # rare: e.g. a lone surrogate Node wrote
            if obj is None:
                self.malformed += 1
                return
        if isinstance(obj, dict):
            mark = len(out)
            try:
                self._parse_object(obj, out)
            except OutOfRange:
                del out[mark:]  # the whole line goes: its other figures are suspect too
                self.rejected += 1
        else:
            self.malformed += 1

    def prime(self, head: bytes) -> None:
        """Before reading a file from past its start: learn when its own life began from its
        first lines (``head``, the file's first bytes), as a read from 0 would. No records."""
        for line in complete_prefix(head).split(b"\n"):
            if not self._opening:
                return
            if line.startswith(_QUEUE_OPERATION):
                self._note_birth(line)
            elif b'"user"' in line or b'"assistant"' in line:
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(obj, dict) and obj.get("type") in ("user", "assistant"):
                    self._opening = False

    def feed_tail(self, line: bytes) -> list[Record]:
        """A last line with no newline yet: parsed only if it is already whole JSON."""
        malformed, rejected = self.malformed, self.rejected
        records = self.feed(line)
        self.malformed, self.rejected = malformed, rejected  # said when the line is complete
        return records

    # -- one line ---------------------------------------------------------------

    def _session_of(self, obj: dict) -> str | None:
        return self.role.session_id or _str(obj.get("sessionId"))

    def _note_birth(self, line: bytes) -> None:
        if self._birth is not None:
            return
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if isinstance(obj, dict):
            self._birth = parse_timestamp(obj.get("timestamp"))

    def _evidence(self, timestamp: float | None) -> int:
        """REPLAYED for a line older than its file's birth: history copied into a fork."""
        birth = self._birth
        if birth is not None and timestamp is not None and timestamp < birth:
            return REPLAYED
        return WRITTEN

    def _parse_object(self, obj: dict, out: list[Record]) -> None:
        kind = obj.get("type")
        session_id = self._session_of(obj)
        if session_id is None:
            return
        if kind == "assistant":
            self._opening = False
            self._meta(obj, session_id, out)
            self._assistant(obj, session_id, out)
        elif kind == "user":
            self._opening = False
            self._meta(obj, session_id, out)
            self._user(obj, session_id, out)
        elif kind == "queue-operation":
            if self._opening and self._birth is None:
                self._birth = parse_timestamp(obj.get("timestamp"))
        elif kind == "cost-state":
            self._cost_state(session_id, obj.get("totalCostUSD"), obj.get("startTime"), out)
        elif kind == "system":
            if obj.get("subtype") == "api_error":
                self._retried_error(obj, session_id, out)
            elif obj.get("subtype") == "compact_boundary":
                meta = obj.get("compactMetadata")
                meta = meta if isinstance(meta, dict) else {}
                timestamp = checked_time(obj.get("timestamp"))
                if self._evidence(timestamp) == REPLAYED:
                    return  # the parent's compaction, copied into a fork
                out.append(
                    Compaction(
                        session_id=session_id,
                        agent_id=self.role.agent_id,
                        timestamp=timestamp,
                        trigger=_str(meta.get("trigger")),
                        pre_tokens=checked_count(meta.get("preTokens")) or None,
                    )
                )
        elif self.role.agent_id is None:
            # Titles describe the main session; subagent files carry none worth showing.
            self._title(kind, obj, session_id, out)

    def _cost_state(self, session_id: str, total: object, start: object, out: list[Record]) -> None:
        """Claude Code's own running cost of a session (both parsers' one rule)."""
        cost = checked_cost(total)
        if cost is not None:
            out.append(ReportedCost(session_id, cost, _number(start)))

    def _retried_error(self, obj: dict, session_id: str, out: list[Record]) -> None:
        found = obj.get("error")
        error: dict = found if isinstance(found, dict) else _EMPTY
        status = error.get("status")
        attempt = obj.get("retryAttempt")
        timestamp = checked_time(obj.get("timestamp"))
        out.append(
            ApiError(
                session_id=session_id,
                timestamp=timestamp,
                status=str(status) if isinstance(status, (int, str)) and status != "" else None,
                error=_str(error.get("formatted")) or shorten(_str(error.get("message")) or "", 200) or None,
                attempt=attempt if type(attempt) is int else None,
                request_id=_str(error.get("requestId")),
                evidence=self._evidence(timestamp),
            )
        )

    def _meta(self, obj: dict, session_id: str, out: list[Record]) -> None:
        if self.role.agent_id is not None and not self._subagent_announced:
            self._subagent_announced = True
            out.append(SubagentMeta(session_id=session_id, agent_id=self.role.agent_id))
        facts = (_str(obj.get("cwd")), _str(obj.get("gitBranch")), _str(obj.get("version")))
        if facts != self._meta_seen.get(session_id) and any(facts):
            self._meta_seen[session_id] = facts
            timestamp = checked_time(obj.get("timestamp"))
            out.append(
                SessionMeta(
                    session_id=session_id,
                    # A copied line's time is the parent's: it must not date this session.
                    timestamp=None if self._evidence(timestamp) == REPLAYED else timestamp,
                    cwd=facts[0],
                    git_branch=facts[1],
                    version=facts[2],
                )
            )

    def _assistant(self, obj: dict, session_id: str, out: list[Record]) -> None:
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        timestamp = checked_time(obj.get("timestamp"))
        agent_id = self.role.agent_id
        model = _str(message.get("model")) or ""
        usage = message.get("usage")
        # Who made the call: a line copied into a fork names its maker (2.1.332+); a line with
        # a ``requestRef`` and no such name was made here; else the file's birth tells copies.
        made_by = obj.get("requestSessionId")
        if made_by is not None and (not isinstance(made_by, str) or not made_by or made_by == session_id):
            made_by = None
        evidence = CONFIRMED if made_by is not None or obj.get("requestRef") else self._evidence(timestamp)
        is_error = obj.get("isApiErrorMessage") is True
        # ``<synthetic>`` lines (Claude Code's own: errors, "No response requested.") and
        # zero-usage error lines were never answered by the API: not calls.
        if isinstance(usage, dict) and model != SYNTHETIC_MODEL and not (is_error and not _any_usage(usage)):
            self._api_call(obj, message, usage, session_id, model, timestamp, out, evidence, made_by)
        if is_error:
            status = obj.get("apiErrorStatus")
            request_id = obj.get("requestId")
            out.append(
                ApiError(
                    session_id=session_id,
                    timestamp=timestamp,
                    status=str(status) if status is not None else None,
                    error=_str(obj.get("error")),
                    model=model or None,
                    request_id=request_id if isinstance(request_id, str) and request_id else None,
                    evidence=evidence,
                )
            )
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    tool_id = _str(block.get("id"))
                    if tool_id:
                        out.append(
                            ToolUse(
                                session_id=session_id,
                                agent_id=agent_id,
                                tool_use_id=tool_id,
                                name=_str(block.get("name")) or "?",
                                timestamp=timestamp,
                                evidence=evidence,
                                made_by=made_by,
                            )
                        )

    def _api_call(
        self, obj: dict, message: dict, usage: dict, session_id: str, model: str,
        timestamp: float | None, out: list[Record], evidence: int, made_by: str | None,
    ) -> None:  # fmt: skip
        # Hot path (one call per assistant line): plain ints are taken as they are, and a
        # repeated line of the response just seen is dropped unless it improves on it.
        message_id = message.get("id")
        request_id = obj.get("requestId")
        output = usage.get("output_tokens")
        output = output if type(output) is int and 0 <= output < MAX_COUNT else checked_count(output)
        final = message.get("stop_reason") is not None or "iterations" in usage
        if self._adds_nothing(message_id, request_id, output, final):
            return
        get = usage.get
        split = get("cache_creation")
        split = split if isinstance(split, dict) else _EMPTY
        server = get("server_tool_use")
        server = server if isinstance(server, dict) else _EMPTY
        cost = checked_cost(obj.get("costUSD"))
        out.append(
            ApiCall(
                session_id,
                self.role.agent_id,
                model,
                message_id if isinstance(message_id, str) and message_id else None,
                request_id if isinstance(request_id, str) and request_id else None,
                timestamp,
                _count(get("input_tokens")),
                output,
                _count(get("cache_read_input_tokens")),
                _count(get("cache_creation_input_tokens")),
                _count(split.get("ephemeral_5m_input_tokens")),
                _count(split.get("ephemeral_1h_input_tokens")),
                _count(server.get("web_search_requests")),
                _str(get("speed")),
                _str(get("inference_geo")),
                # Older versions wrote mid-stream snapshots with stop_reason null; the
                # end-of-stream line adds ``iterations``.
                final,
                obj.get("isSidechain") is True,
                Source.TRANSCRIPT,
                cost,
                None,
                None,
                evidence,
                made_by,
            )
        )

    def _user(self, obj: dict, session_id: str, out: list[Record]) -> None:
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        timestamp = checked_time(obj.get("timestamp"))
        content = message.get("content")
        prompt_text: str | None = None
        if isinstance(content, str):
            prompt_text = content
        elif isinstance(content, list):
            texts = []
            for block in content:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_result":
                    tool_id = _str(block.get("tool_use_id"))
                    if tool_id:
                        out.append(
                            ToolResult(
                                session_id=session_id,
                                tool_use_id=tool_id,
                                is_error=block.get("is_error") is True,
                                timestamp=timestamp,
                                evidence=self._evidence(timestamp),
                            )
                        )
                elif block.get("type") == "text" and isinstance(block.get("text"), str):
                    texts.append(block["text"])
            if texts and len(texts) == len(content):
                prompt_text = "\n".join(texts)
        if prompt_text is not None:
            meta = obj.get("isMeta") is True or obj.get("isCompactSummary") is True
            prompt_id = _str(obj.get("promptId")) or _str(obj.get("uuid"))
            self._prompt(session_id, prompt_text, timestamp, meta, prompt_id, out)

    def _prompt(
        self, session_id: str, text: str, timestamp: float | None, meta: bool, prompt_id: str | None,
        out: list[Record],
    ) -> None:  # fmt: skip
        """A user line's text, as a prompt (both parsers' one rule): not a subagent's (its task,
        written by the parent), not meta or a compaction summary, not a command's output."""
        if self.role.agent_id is not None or meta:
            return
        stripped = text.lstrip()
        if stripped.startswith(_NOT_PROMPTS):
            return
        evidence = self._evidence(timestamp)
        out.append(
            Prompt(
                session_id=session_id,
                # promptId is OTLP's prompt.id: a prompt seen by both counts once.
                prompt_id=prompt_id or f"{session_id}:{timestamp}",
                timestamp=timestamp,
                length=len(text),
                evidence=evidence,
            )
        )
        # A fork is titled by its own first prompt, not by the parent's it copies.
        if session_id not in self._first_prompt_seen and stripped and evidence != REPLAYED:
            self._first_prompt_seen.add(session_id)
            out.append(
                SessionMeta(
                    session_id=session_id,
                    timestamp=timestamp,
                    title=shorten(stripped),
                    title_kind=TitleKind.FIRST_PROMPT,
                )
            )

    def _title(self, kind: object, obj: dict, session_id: str, out: list[Record]) -> None:
        if kind == "custom-title":
            text, title_kind = obj.get("customTitle"), TitleKind.CUSTOM
        elif kind == "ai-title":
            text, title_kind = obj.get("aiTitle"), TitleKind.AI
        elif kind == "summary":
            text, title_kind = obj.get("summary"), TitleKind.SUMMARY
        else:
            return
        if isinstance(text, str) and text.strip():
            out.append(SessionMeta(session_id=session_id, title=shorten(text), title_kind=title_kind))


def _any_usage(usage: dict) -> bool:
    get = usage.get
    return bool(
        _count(get("input_tokens")) or _count(get("output_tokens"))
        or _count(get("cache_read_input_tokens")) or _count(get("cache_creation_input_tokens"))
    )  # fmt: skip


def _collapse_calls(records: list[Record]) -> list[Record]:
    """Keep one sighting per API call within a batch (the ledger's rule: most output, then a
    final line). Claude Code writes a line per content block, so this halves the ledger's work."""
    best: dict[str, tuple[int, ApiCall]] = {}
    drop: set[int] = set()
    for index, record in enumerate(records):
        if type(record) is not ApiCall or not record.message_id:
            continue
        key = record.key
        seen = best.get(key)
        if seen is None:
            best[key] = (index, record)
            continue
        old_index, old = seen
        if record.output_tokens > old.output_tokens or (
            record.output_tokens == old.output_tokens and record.final and not old.final
        ):
            drop.add(old_index)
            best[key] = (index, record)
        else:
            drop.add(index)
    if not drop:
        return records
    return [record for index, record in enumerate(records) if index not in drop]


def parse_subagent_meta(session_id: str, agent_id: str, data: bytes) -> SubagentMeta | None:
    """``agent-<id>.meta.json`` -> SubagentMeta; None when unreadable."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    return SubagentMeta(
        session_id=session_id,
        agent_id=agent_id,
        agent_type=_str(obj.get("agentType")),
        description=_str(obj.get("description")),
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def lenient_loads(line: bytes) -> object | None:
    """A line orjson refuses but JavaScript wrote: a string cut inside an emoji leaves a lone
    surrogate escape (``"\\ud83d"``), which is valid JSON text but not valid Unicode. The
    stdlib decoder takes it; lone surrogates become U+FFFD so the strings stay encodable.
    None when the line is not JSON at all."""
    try:
        obj = json.loads(line.decode("utf-8", "replace"), parse_constant=_not_json)
    except (ValueError, RecursionError):
        return None
    return _without_surrogates(obj)


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: the stdlib takes them, Node never writes them


def _without_surrogates(value: object) -> object:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def complete_prefix(data: bytes) -> bytes:
    """The part of ``data`` that ends with a newline: a half-written last line waits."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""
