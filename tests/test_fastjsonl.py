"""The cold-scan parser (fastjsonl) against the full parser it stands in for (jsonl): the same
records and the same malformed-line counts on every sample line, and the same ``--once --json``
on the samples and on a generated tree of each format. A record kind or a field the full parser
reads and the fast path misses fails here, on whichever sample has it."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from helpers import use_workers

from cctop.cli import build_parser
from cctop.report import once
from cctop.sources.limits import OutOfRange, checked_seconds
from cctop.sources.transcripts import reader
from cctop.sources.transcripts.fastjsonl import HOT, INERT, FastTranscriptParser, kind_of
from cctop.sources.transcripts.jsonl import FileRole, TranscriptParser, _parse_iso, _parse_time, checked_time

SAMPLES = Path(__file__).parent / "samples"
EVERY_JSONL = sorted(SAMPLES.rglob("*.jsonl"))
ROLES = (FileRole("11111111-2222-4333-8444-555555555555", None), FileRole(None, None), FileRole("s", "a1"))

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import corpus  # noqa: E402 - bench/ is not a package


def both(data: bytes, role: FileRole, pieces: int = 1) -> tuple[tuple, tuple]:
    """(records, malformed) of the full and the fast parser, fed ``data`` in ``pieces``."""
    lines = data.splitlines(keepends=True)
    step = max(1, len(lines) // pieces)
    chunks = [b"".join(lines[i : i + step]) for i in range(0, len(lines), step)]
    results = []
    for kind in (TranscriptParser, FastTranscriptParser):
        parser = kind(role)
        records = [r for chunk in chunks for r in parser.feed(chunk)]
        results.append((records, parser.malformed))
    return results[0], results[1]


def test_the_samples_cover_every_kind() -> None:
    assert len(EVERY_JSONL) > 20
    kinds = {kind_of(line) for path in EVERY_JSONL for line in path.read_bytes().splitlines()}
    assert kinds >= INERT, f"an inert kind no sample has: {INERT - kinds}"
    assert kinds >= HOT


@pytest.mark.parametrize("path", EVERY_JSONL, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_every_sample_file_gives_the_same_records(path: Path) -> None:
    data = path.read_bytes()
    for role in ROLES:
        for pieces in (1, 3):
            full, fast = both(data, role, pieces)
            assert fast == full


def test_inert_kinds_make_nothing_in_the_full_parser() -> None:
    """What the fast path skips unread, the full parser reads and makes nothing of."""
    seen = set()
    for path in EVERY_JSONL:
        for line in path.read_bytes().splitlines():
            kind = kind_of(line)
            if kind in INERT:
                seen.add(kind)
                for role in ROLES:
                    assert TranscriptParser(role).feed(line) == [], (kind, path)
    assert seen == INERT


@pytest.mark.parametrize(
    "line",
    [
        # cut short: the full parser counts it malformed, so the fast path must not skip it
        b'{"parentUuid":null,"isSidechain":false,"attachment":{"type":"x","role":"user"',
        b'{"type":"api-request-shape","body":{"role":"user"',
        # fields of unexpected types: msgspec refuses, the full parser decides
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":"text","sessionId":"s"}',
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":["a",1]},"sessionId":"s"}',
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","usage":[1]},"type":"assistant",'
        b'"sessionId":"s","timestamp":"2026-11-20T10:00:00.000Z"}',
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"input_tokens":"12","output_tokens":3.7,"cache_read_input_tokens":true,"iterations":null}},'
        b'"type":"assistant","requestId":"r","sessionId":"s"}',
        # the common shapes with odd values: the fast path's own code must read them as the full parser
        b'{"parentUuid":null,"isSidechain":true,"message":{"id":7,"model":5,"usage":{"input_tokens":-3,'
        b'"output_tokens":2.9,"cache_creation":[1],"server_tool_use":{"web_search_requests":true},'
        b'"iterations":null,"speed":1},"content":[{"type":"tool_use","id":"","name":"x"},'
        b'{"type":"tool_use","id":"t1"},{"type":"thinking"}]},"type":"assistant","requestId":5,'
        b'"costUSD":true,"sessionId":"s","cwd":"","version":"1","timestamp":"not a time"}',
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":3,"cache_creation":{"ephemeral_1h_input_tokens":9}}},"type":"assistant",'
        b'"requestId":"r","sessionId":"s","costUSD":0.5}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":3},"stop_reason":"end_turn"},"type":"assistant","requestId":"r","sessionId":"s"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":2},"stop_reason":null},"type":"assistant","requestId":"r","sessionId":"s"}',
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":[{"type":"tool_result",'
        b'"is_error":"true","tool_use_id":"t1"},{"type":"tool_result"},{"type":"image"}]},"sessionId":"s",'
        b'"gitBranch":"main","timestamp":"2026-11-20T10:00:00Z"}',
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":[{"type":"tool_result",'
        b'"tool_use_id":"t1"},{"type":"text","text":"and this"}]},"sessionId":"s","uuid":"u1"}',
        b'{"parentUuid":null,"isSidechain":false,"message":{"usage":{}},"type":"assistant"}',
        # who made a call: a fork's copied history (older than the file's birth), another session's
        # requestSessionId, a requestRef; Claude Code's own <synthetic> line with usage
        b'{"type":"queue-operation","operation":"enqueue","timestamp":"2026-11-20T10:00:00.000Z","sessionId":"s"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m1","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":3},"content":[{"type":"tool_use","id":"t1","name":"Bash"}]},"type":"assistant",'
        b'"requestId":"r1","sessionId":"s","cwd":"/w","timestamp":"2026-11-20T09:00:00.000Z"}\n'
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":[{"type":"tool_result",'
        b'"tool_use_id":"t1"}]},"sessionId":"s","timestamp":"2026-11-20T09:00:01.000Z"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m2","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":3},"content":[{"type":"tool_use","id":"t2","name":"Bash"}]},"type":"assistant",'
        b'"requestId":"r2","requestSessionId":"parent","sessionId":"s","timestamp":"2026-11-20T09:00:02.000Z"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m3","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":3}},"type":"assistant","requestId":"r3","requestRef":"q3","requestSessionId":"s",'
        b'"sessionId":"s","cwd":"/x","timestamp":"2026-11-20T10:00:05.000Z"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m4","model":"<synthetic>","usage":'
        b'{"output_tokens":0},"content":[{"type":"text","text":"No response requested."}]},'
        b'"type":"assistant","sessionId":"s","timestamp":"2026-11-20T10:00:06.000Z"}',
        # queue operations after the first conversation line: nothing, but a cut one is counted
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":"hi"},"sessionId":"s"}\n'
        b'{"type":"queue-operation","operation":"enqueue","content":"user","timestamp":"2026-11-20T10:00:00Z"}\n'
        b'{"type":"queue-operation","operation":"enqueue","content":"user","timestamp":"2026-11-20T10:0',
        # bytes that are not UTF-8 in a part the fast path skips, and in one it keeps
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":3},"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"x":"\xff"}}]},'
        b'"type":"assistant","requestId":"r","sessionId":"s"}',
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":3},"content":[{"type":"tool_use","id":"t1","name":"B\xffsh"}]},'
        b'"type":"assistant","requestId":"r","sessionId":"s"}',
        # values out of range reject the whole line, and leave the parser's state as the full one's
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"input_tokens":-1,"output_tokens":3}},"type":"assistant","requestId":"r","sessionId":"s","cwd":"/a"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"input_tokens":-1,"output_tokens":3}},"type":"assistant","requestId":"r","sessionId":"s","cwd":"/a"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"input_tokens":5,"output_tokens":4}},"type":"assistant","requestId":"r","sessionId":"s","cwd":"/a"}',
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":1e300}},"type":"assistant","requestId":"r","sessionId":"s","cwd":"/b",'
        b'"timestamp":"2026-11-20T10:00:00.000Z"}\n'
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"n","model":"claude-opus-4-8","usage":'
        b'{"output_tokens":1}},"type":"assistant","requestId":"q","sessionId":"s","cwd":"/b","costUSD":-2}\n'
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":[{"type":"tool_result",'
        b'"tool_use_id":"t1"}]},"sessionId":"s","cwd":"/c","timestamp":"1999-12-31T23:59:59.000Z"}\n'
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":[{"type":"tool_result",'
        b'"tool_use_id":"t2"}]},"sessionId":"s","cwd":"/c","timestamp":"2100-01-01T00:00:00.000Z"}\n'
        b'{"parentUuid":null,"isSidechain":false,"type":"user","message":{"content":[{"type":"tool_result",'
        b'"tool_use_id":"t3"}]},"sessionId":"s","cwd":"/c","timestamp":"2099-12-31T23:59:59.999Z"}',
        # not JSON, or not an object
        b'{"parentUuid":null,"isSidechain":false,"message":{"id":"m"',
        b"[1, 2]",
        b'"user"',
        # a conversation line whose type is not a hot one, found after its message
        b'{"parentUuid":null,"isSidechain":false,"message":{"role":"user"},"type":"system",'
        b'"subtype":"compact_boundary","sessionId":"s","compactMetadata":{"trigger":"auto"}}',
        # a message opening the line while its type, before it, says otherwise: read by its type
        b'{"parentUuid":null,"isSidechain":false,"type":"progress","message":{"content":"x"},"sessionId":"s"}',
        b'{"parentUuid":null,"isSidechain":false,"type":"progress","message":{"content":"x"},"sessionId":"s"}'
        b" ",  # a space after the object: not skipped by its head
        b'{"parentUuid":null,"isSidechain":false,"type":"progress","message":{"content":"x"},"sessionId":}',
        b'{"parentUuid":null,"isSidechain":false,"type":"user","attachment":{"type":"x"},"message":'
        b'{"content":"a prompt"},"sessionId":"s","timestamp":"2026-11-20T10:00:00.000Z"}',
        b'{"parentUuid":null,"isSidechain":false,"message":{"content":"a prompt"},"type":"attachment",'
        b'"sessionId":"s","timestamp":"2026-11-20T10:00:00.000Z"}',
        # Claude Code's running cost, read from its own struct: odd values as the full parser reads them
        b'{"type":"cost-state","totalCostUSD":1.25,"startTime":1763632800000,"sessionId":"s"}',
        b'{"type":"cost-state","totalCostUSD":"1.25","startTime":"x","sessionId":"s"}',
        b'{"type":"cost-state","totalCostUSD":-1,"sessionId":"s"}\n{"type":"cost-state","totalCostUSD":1e300}',
        b'{"type":"cost-state","totalCostUSD":2,"sessionId":5}',
        b'{"type":"cost-state","totalCostUSD":2,"sessionId":"s","type":"custom-title","customTitle":"t"}',
        b'{"type":"cost-state","totalCostUSD":2,"sessionId":"s"',
        # the kind names a type the full parser handles: never skipped
        b'{"type":"summary","summary":"a title","leafUuid":"u","role":"user"}',
        b'{"type":"custom-title","customTitle":"mine","sessionId":"s"}',
    ],
)
def test_odd_lines_are_decided_by_the_full_parser(line: bytes) -> None:
    for role in ROLES:
        full, fast = both(line + b"\n", role)
        assert fast == full


def once_json(capsysbinary, root: Path) -> dict:
    assert once.run_once(build_parser().parse_args(["--once", "--json", "--no-store", "--claude-dir",
                                                    str(root)])) == 0  # fmt: skip
    document = orjson.loads(capsysbinary.readouterr().out)
    document.pop("generated_at")
    return document


class FullParser(TranscriptParser):
    """The full parser, taking the reader's ``end`` argument."""

    def feed(self, data: bytes, end: int | None = None) -> list:
        return super().feed(data if end is None else data[:end])


def full_and_fast(capsysbinary, monkeypatch, root: Path) -> tuple[dict, dict]:
    fast = once_json(capsysbinary, root)
    with monkeypatch.context() as patch:
        patch.setattr(reader, "FastTranscriptParser", FullParser)
        full = once_json(capsysbinary, root)
    return full, fast


@pytest.mark.parametrize("kind", ["2.1.197", "2.1.332", "all"])
def test_once_json_is_the_same_on_a_generated_tree(kind, tmp_path, monkeypatch, capsysbinary) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    use_workers(monkeypatch)
    built = corpus.build(tmp_path / "tree", 3 * 2**20, seed=5, end=1_790_000_000.0, kind=kind)
    full, fast = full_and_fast(capsysbinary, monkeypatch, tmp_path / "tree")
    assert fast == full
    assert len(fast["sessions"]) == built.sessions
    assert fast["totals"]["requests"] > 20


@pytest.mark.parametrize("root", sorted({p.parents[1] for p in SAMPLES.rglob("projects/*/*.jsonl")}))
def test_once_json_is_the_same_on_the_samples(root: Path, tmp_path, monkeypatch, capsysbinary) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    full, fast = full_and_fast(capsysbinary, monkeypatch, root)
    assert fast == full
    assert fast["sessions"]


def reference_time(value: object) -> float | None:
    """A time parsed whole, each time, as the parsers always read it: the second by datetime,
    plus its milliseconds."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 24 and value[19] == "." and value[23] == "Z" and value[20:23].isdigit():
        base = _parse_iso(value[:19] + "Z")
        return None if base is None else base + int(value[20:23]) / 1000
    return _parse_iso(value)


def read_checked(read, value):
    try:
        return read(value)
    except OutOfRange as exc:
        return ("out of range", str(exc))


def checked_reference(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    return checked_seconds(reference_time(value), "timestamp")


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-20T10:00:00.000Z", "2026-11-20T10:59:59.999Z", "2026-11-20T23:07:08.123Z",
        "2026-12-31T23:59:59.999Z", "2024-02-29T12:30:45.500Z",  # a leap day
        "2026-11-20T10:60:00.000Z", "2026-11-20T10:00:60.000Z", "2026-11-20T24:00:00.000Z",
        "2026-02-30T10:00:00.000Z", "2026-11-20T10:00:00.١٢٣Z", "2026-11-20T10:0a:00.000Z",
        "2026-11-20 10:00:00.000Z", "2026-W47-4T10:11:12.013Z", "2026-11-20T10:00:00.000+",
        "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.123456Z", "2026-11-20T10:00:00.000+00:00",
        # both ends of the range a line's time must be in, read from the cache of hours the second time
        "2000-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "2099-12-31T23:59:59.999Z",
        "2100-01-01T00:00:00.000Z", "9999-12-31T23:00:00.000Z", "0001-01-01T00:00:00.000Z",
        "", "Z" * 24, None, 17, 1.5,
    ],
)  # fmt: skip
def test_times_read_from_the_cache_of_hours_are_parsed_whole(value) -> None:
    for _ in range(2):  # the second time from the cache of hours
        assert _parse_time(value) == reference_time(value)
        assert read_checked(checked_time, value) == read_checked(checked_reference, value)


def test_times_of_every_sample_line() -> None:
    stamps = {
        match.decode()
        for path in EVERY_JSONL
        for match in re.findall(rb'"timestamp":"([^"]*)"', path.read_bytes())
    }
    assert len(stamps) > 500
    for value in sorted(stamps):
        assert _parse_time(value) == reference_time(value), value
        # and within a microsecond of datetime's own reading of the whole string
        whole = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        assert abs(_parse_time(value) - whole) < 1e-6


def test_where_damage_is_read_differently() -> None:
    """The one documented difference (see fastjsonl's module doc): damage inside a skipped line
    goes uncounted."""
    inside = b'{"type":"api-request-blob","body":{"role":"user",' + b"}"  # ends its object, but broken
    full, fast = both(inside + b"\n", ROLES[0])
    assert full == ([], 1) and fast == ([], 0)
