"""The benchmark corpus generator (bench/corpus.py): deterministic, distinct, well-formed, and
read by cctop with every copied API call counted once. Not an e2e test; it lives here beside the
other harness code it shares owners with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import corpus  # noqa: E402 - bench/ is not a package

from cctop.model.ledger import Ledger  # noqa: E402
from cctop.sources.prices import packaged_pricebook  # noqa: E402
from cctop.sources.transcripts.discovery import find_transcripts  # noqa: E402
from cctop.sources.transcripts.reader import read_file  # noqa: E402

END = 1_790_000_000.0
SIZE = 3 * 2**20


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, corpus.Manifest]:
    out = tmp_path_factory.mktemp("corpus")
    return out, corpus.build(out, SIZE, seed=11, end=END)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(built, tmp_path: Path) -> None:
    out, _ = built
    again = corpus.build(tmp_path / "again", SIZE, seed=11, end=END)
    assert _files(out / "projects") == _files(tmp_path / "again" / "projects")
    assert again.files == built[1].files
    other = corpus.build(tmp_path / "other", SIZE, seed=12, end=END)
    assert set(_files(tmp_path / "other" / "projects")).isdisjoint(_files(out / "projects"))
    assert other.files > 0


def test_shape_size_and_times(built) -> None:
    out, manifest = built
    files = [p for p in (out / "projects").rglob("*") if p.is_file()]
    assert len(files) == manifest.files
    assert sum(p.stat().st_size for p in files if p.suffix == ".jsonl") == manifest.bytes
    assert 0.8 * SIZE <= manifest.bytes <= 1.3 * SIZE
    assert manifest.files >= 10 and manifest.projects >= 2
    assert any(p.parent.name == "subagents" and p.name.startswith("agent-") for p in files)
    stamps: list[str] = []
    for path in files:
        if path.suffix != ".jsonl":
            json.loads(path.read_text())  # meta.json
            continue
        lines = path.read_bytes().splitlines()
        for line in lines:
            record = orjson.loads(line)
            if "timestamp" in record:
                stamps.append(record["timestamp"])
        assert END - 31 * 86400 <= path.stat().st_mtime <= END
    assert corpus._iso_to_epoch(min(stamps).encode()) >= END - 31 * 86400


def test_every_copy_is_a_distinct_session_and_call(built) -> None:
    out, manifest = built
    warnings: list[str] = []
    message_ids: dict[bytes, int] = {}
    main_sessions = set()
    ledger = Ledger(packaged_pricebook())
    for file in find_transcripts(out / "projects", warnings.append):
        records = read_file(file, warnings.append).records
        ledger.ingest(records)
        if file.role.agent_id is None:
            main_sessions.add(file.role.session_id)
        for line in Path(file.path).read_bytes().splitlines():
            record = orjson.loads(line)
            message = record.get("message")
            if (
                record.get("type") == "assistant"
                and isinstance(message, dict)
                and message.get("usage")
                and message.get("model") != "<synthetic>"  # Claude Code's own line, no API call
            ):
                key = f"{message.get('id')}:{record.get('requestId')}".encode()
                message_ids[key] = message_ids.get(key, 0) + 1
    assert not warnings
    snapshot = ledger.snapshot()
    assert len(main_sessions) == manifest.sessions == len(snapshot.sessions)
    # Each API call of each copy is its own call: none merged with another copy's.
    assert snapshot.totals.all_time.requests == len(message_ids)
    assert len(message_ids) > manifest.copies


def test_parse_size() -> None:
    assert corpus.parse_size("100M") == 100 * 2**20
    assert corpus.parse_size("1G") == 2**30
    assert corpus.parse_size("1.5g") == int(1.5 * 2**30)
    with pytest.raises(Exception, match="not a size"):
        corpus.parse_size("lots")
