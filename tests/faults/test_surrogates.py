"""A lone surrogate escape (``\\ud83d``: Node cutting a string inside an emoji) is valid JSON
text that orjson refuses; such a line used to be dropped as malformed and its call lost."""

from __future__ import annotations

import orjson
import pytest
from helpers import assistant, user_prompt

from cctop.model.records import ApiCall, SessionMeta
from cctop.sources.transcripts.jsonl import FileRole, TranscriptParser
from faults.common import PROJECT, once_json


def cut_emoji(obj: dict) -> bytes:
    """The line as Node writes it when a string ends in half an emoji."""
    text = orjson.dumps(obj).decode()
    return text.replace("CUT", "\\ud83d").encode() + b"\n"


LINES = [
    cut_emoji(user_prompt("s1", "look at this CUT")),
    cut_emoji(assistant("s1", "m1", "r1", content=[{"type": "text", "text": "smile CUT"}])),
    cut_emoji(assistant("s1", "m2", "r2", content=[{"type": "text", "text": "fine \\ud83d\\ude00 pair"}])),
]


def test_the_lines_parse_and_lone_surrogates_become_replacement_chars():
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(LINES[0])  # what made the line "malformed"
    bad = b'{"type": "user", oops\n{"type": "user", "x": NaN}\n'  # not JSON, stay malformed
    parser = TranscriptParser(FileRole("s1", None))
    records = [*parser.feed(b"".join(LINES)), *parser.feed(bad)]
    malformed = parser.malformed
    assert malformed == 2
    assert [r.request_id for r in records if isinstance(r, ApiCall)] == ["r1", "r2"]
    title = next(r.title for r in records if isinstance(r, SessionMeta) and r.title)
    assert title == "look at this \ufffd"
    orjson.dumps(title)  # encodable again (the store and --json need that)


@pytest.mark.parametrize("store", [["--no-store"], []], ids=["no-store", "store"])
def test_once_counts_the_call(tmp_path, store):
    path = tmp_path / ".claude" / "projects" / PROJECT / "s1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(LINES))
    doc = once_json(tmp_path, *store)
    assert doc["totals"]["requests"] == 2
    assert not [w for w in doc["warnings"] if "malformed" in w]
    assert doc["sessions"][0]["title"] == "look at this \ufffd"
