"""The C timestamp reader (_isotime.c) against jsonl.checked_time_in_python, which it stands in
for: the same float, bit for bit, or the same refusal, on real timestamps and on generated
near-misses (bad dates, leap days, the range's edges, damaged characters)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers import skip_without_a_compiler

from cctop.sources.limits import OutOfRange
from cctop.sources.transcripts import fastjsonl, jsonl
from cctop.sources.transcripts.jsonl import FileRole, checked_time, checked_time_in_python

try:
    from cctop.sources.transcripts._isotime import line_seconds
except ImportError:  # no compiler at install time
    line_seconds = None  # type: ignore[assignment]

needs_c = pytest.mark.skipif(line_seconds is None, reason="the C timestamp reader is not built here")


def test_the_extension_is_built_where_a_compiler_is() -> None:
    skip_without_a_compiler("checked_time_in_python reads")
    assert line_seconds is not None, "a compiler is here but _isotime was not built: reinstall (make)"
    assert jsonl.line_seconds is fastjsonl.line_seconds is line_seconds


def _outcome(read, value: object) -> tuple[str, str]:
    try:
        return "ok", repr(read(value))  # repr: the same float to the last bit
    except OutOfRange as refused:
        return "out of range", str(refused)


def _c(value: object) -> float | None:
    return line_seconds(value, checked_time_in_python)


def _stamps(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    stamps = []
    for index in range(count):
        year = rng.choice([1999, 2000, 2024, 2026, 2099, 2100, 2400]) if index % 3 else rng.randint(0, 9999)
        stamp = (f"{year:04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}T{rng.randint(0, 25):02d}:"
                 f"{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d}.{rng.randint(0, 999):03d}Z")  # fmt: skip
        if index % 5 == 0:  # one character damaged, perhaps into a non-ASCII digit
            at = rng.randrange(24)
            stamp = stamp[:at] + rng.choice("0Z.:-T a\u0663") + stamp[at + 1 :]
        stamps.append(stamp)
    return stamps


@needs_c
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_seconds_or_refusal_as_checked_time(seed: int) -> None:
    stamps = _stamps(seed, 20_000)
    outcomes = [_outcome(_c, stamp) for stamp in stamps]
    assert outcomes == [_outcome(checked_time_in_python, stamp) for stamp in stamps]
    assert sum(kind == "ok" and text != "None" for kind, text in outcomes) > 2_000  # the fast path ran


@needs_c
@pytest.mark.parametrize(
    "value",
    [
        "2026-11-20T10:00:00.123Z",
        "2024-02-29T23:59:59.999Z",  # a leap day
        "2023-02-29T00:00:00.000Z",  # not one
        "2000-01-01T00:00:00.000Z",  # the first moment taken
        "1999-12-31T23:59:59.999Z",  # out of range
        "2100-01-01T00:00:00.000Z",  # out of range
        "2026-11-20T10:00:60.000Z",  # a leap second: Python refuses it
        "2026-11-20T10:00:00.123+00:00",  # another form: checked_time's own path
        "2026-11-20T10:00:00Z",
        "",
        None,
        1732096800,
        b"2026-11-20T10:00:00.123Z",
    ],
)
def test_edges_and_other_forms(value: object) -> None:
    assert _outcome(_c, value) == _outcome(checked_time, value) == _outcome(checked_time_in_python, value)


@needs_c
@pytest.mark.parametrize("path", sorted((Path(__file__).parent / "samples").rglob("*.jsonl")), ids=str)
def test_the_parser_makes_the_same_records_either_way(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    role = FileRole("11111111-2222-4333-8444-555555555555", None)
    with_c = fastjsonl.FastTranscriptParser(role).feed(data, end)
    for module in (jsonl, fastjsonl):
        monkeypatch.setattr(module, "line_seconds", jsonl.python_line_seconds)
    assert fastjsonl.FastTranscriptParser(role).feed(data, end) == with_c
