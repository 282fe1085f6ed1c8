"""The C line finder (_linescan.c) against fastjsonl's Python loop it stands in for: the same
lines handed on, of the same kinds, on every sample and on damaged and
unusual lines; and the same records from the parser either way. Where a C compiler is on the
machine, the extension must have been built (an install that silently lost it would only be
slower, and nothing else would say so)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers import skip_without_a_compiler

from cctop.sources.transcripts import fastjsonl
from cctop.sources.transcripts.fastjsonl import INERT, FastTranscriptParser
from cctop.sources.transcripts.jsonl import FileRole, TranscriptParser

SAMPLES = Path(__file__).parent / "samples"
EVERY_JSONL = sorted(SAMPLES.rglob("*.jsonl"))
ROLE = FileRole("11111111-2222-4333-8444-555555555555", None)
C_FINDER = fastjsonl.interesting_lines
needs_c = pytest.mark.skipif(C_FINDER is None, reason="the C line finder is not built here")


def test_the_extension_is_built_where_a_compiler_is() -> None:
    skip_without_a_compiler("the Python loop reads")
    assert C_FINDER is not None, "a compiler is here but _linescan was not built: reinstall (make)"


def handed_on(
    data: bytes, stop: int, use_c: bool, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[int, int, bytes | None]]:
    """(start, newline, kind) of every line the finder hands to ``_read_line``."""
    seen: list[tuple[int, int, bytes | None]] = []
    parser = FastTranscriptParser(ROLE)
    monkeypatch.setattr(parser, "_read_line", lambda d, v, start, newline, kind, out: seen.append(
        (start, newline, kind)))  # fmt: skip
    monkeypatch.setattr(fastjsonl, "interesting_lines", C_FINDER if use_c else None)
    parser.feed(data, stop)
    return seen


@needs_c
@pytest.mark.parametrize("path", EVERY_JSONL, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_both_finders_hand_on_the_same_lines_of_every_sample(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = path.read_bytes()
    stop = data.rfind(b"\n") + 1
    assert handed_on(data, stop, True, monkeypatch) == handed_on(data, stop, False, monkeypatch)
    # and with the last line's newline missing (a line being written, read by feed_tail)
    assert handed_on(data[: stop - 1], stop - 1, True, monkeypatch) == handed_on(
        data[: stop - 1], stop - 1, False, monkeypatch
    )


# Pieces of line heads the rules look at, cut and joined at random below.
HEADS = [
    b'{"type":"',
    b'{"parentUuid":',
    b'null,"isSidechain":false,',
    b'"8c0a1d7e-1111-4222-8333-444455556666","isSidechain":true,',
    b'"message":{',
    b'"attachment":{',
    b'"type":"',
    b'"type":"user",',
    b'"agentId":"a1",',
    *(kind + b'"' for kind in INERT),
    b'queue-operation"',
    b'cost-state"',
    b'assistant"',
    b'"role":"user"',
    b"}",
    b"{",
    b'"',
    b"\n",
    b"x" * 70,
    b"\xff\x00",
]


def damaged_lines(count: int, seed: int) -> bytes:
    chance = random.Random(seed)
    out = []
    for _ in range(count):
        pieces = chance.choices(HEADS, k=chance.randint(0, 6))
        line = b"".join(pieces)
        if chance.random() < 0.5:
            line += b"}"
        out.append(line)
    return b"\n".join(out)


@needs_c
@pytest.mark.parametrize("seed", range(8))
def test_both_finders_agree_on_damaged_and_unusual_lines(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = damaged_lines(3000, seed)
    for stop in (len(data), data.rfind(b"\n") + 1, len(data) // 2):
        assert handed_on(data, stop, True, monkeypatch) == handed_on(data, stop, False, monkeypatch)


@needs_c
def test_the_finder_skips_only_closed_inert_lines() -> None:
    inert = tuple(sorted(INERT))
    named = (b"cost-state", b"queue-operation")
    lines = [
        b'{"type":"progress","x":1}',  # skipped
        b'{"type":"progress","x":1',  # cut short: read (the full parser counts it)
        b"",  # empty: nothing
        b'{"parentUuid":null,"isSidechain":false,"message":{"role":"user"}}',  # message first
        b'{"parentUuid":null,"isSidechain":false,"attachment":{"type":"x"},"type":"attachment"}',  # skipped
        b'{"type":"queue-operation","operation":"enqueue"}',  # read, by its name (code 2 + 1)
        b'{"type":"mode',  # no closing quote in the head, no newline after it: read
    ]
    data = b"\n".join(lines)
    found = C_FINDER(data, len(data), inert, named)
    triples = [tuple(found[i : i + 3]) for i in range(0, len(found), 3)]
    assert [(data[a:b], code) for a, b, code in triples] == [
        (lines[1], 1), (lines[3], 0), (lines[5], 3), (lines[6], 1)]  # fmt: skip
    assert C_FINDER(data, 0, inert, named) == []
    assert C_FINDER(data, 10**9, inert, named) == found  # a stop past the end is the end
    with pytest.raises(TypeError):
        C_FINDER(data, len(data), list(inert), named)
    with pytest.raises(TypeError):
        C_FINDER(data, len(data), inert, ("progress",))


@pytest.mark.parametrize("path", EVERY_JSONL, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_the_python_loop_gives_the_full_parsers_records(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the extension is built the rest of the suite reads through it: this keeps the
    Python loop (what an install without a compiler runs) checked against the full parser."""
    data = path.read_bytes()
    full = TranscriptParser(ROLE)
    expected = full.feed(data)
    monkeypatch.setattr(fastjsonl, "interesting_lines", None)
    fast = FastTranscriptParser(ROLE)
    assert (fast.feed(data), fast.malformed) == (expected, full.malformed)
