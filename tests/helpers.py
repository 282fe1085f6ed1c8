"""Shared test helpers: sample locations, transcript line builders, a ledger over files."""

from __future__ import annotations

import http.client
import json
import shutil
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from cctop.model.ledger import Ledger
from cctop.model.records import ApiCall
from cctop.sources.otlp import OtlpConfig, OtlpListener
from cctop.sources.prices import packaged_pricebook
from cctop.sources.transcripts.discovery import find_transcripts
from cctop.sources.transcripts.reader import read_all
from cctop.store.telemetry import OtlpArchive, archive_sink

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "samples"
REAL_CC = SAMPLES / "claude-code-2.1.197"
SPOTTER = SAMPLES / "claude-jsonl"

# Claude Code's own total_cost_usd for the real 2.1.197 runs (samples README).
REAL_CC_COSTS = {
    "2da9138a-9060-4234-9110-d4601e2b59d1": 0.209347,
    "2ccb795b-01cb-489a-8d13-a582aba90816": 0.20960025,
    "a4f1c02b-8334-4030-bda4-247b29589223": 0.20976525,
}


def skip_without_a_compiler(fallback: str) -> None:
    """Skip an optional C extension's "it was built" test where no C compiler is installed (the
    install then goes on without it, and ``fallback`` does the work)."""
    import pytest

    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): {fallback} alone")


def spotter_tree(tmp_path: Path) -> Path:
    """The spotter samples laid out as a real config dir: <tmp>/projects/-home-marco-spotter/..."""
    project = tmp_path / "projects" / "-home-marco-spotter"
    shutil.copytree(SPOTTER, project, ignore=shutil.ignore_patterns("README.md"))
    return tmp_path


def ledger_for(*roots: Path) -> Ledger:
    """A fresh full parse of everything under the given projects/ roots."""
    ledger = Ledger(packaged_pricebook())
    files = [f for root in roots for f in find_transcripts(root, ledger.warn)]
    read_all(files, ledger.warn, ledger.ingest)
    return ledger


def line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"


def assistant(
    session: str,
    msg_id: str,
    req_id: str | None,
    *,
    ts: str = "2026-11-20T10:00:00.000Z",
    model: str = "claude-opus-4-8",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
    write_1h: int | None = None,
    stop_reason: str | None = "end_turn",
    content: list[dict] | None = None,
    sidechain: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }
    if write_1h is not None:
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": cache_write - write_1h,
            "ephemeral_1h_input_tokens": write_1h,
        }
    obj: dict[str, Any] = {
        "type": "assistant",
        "sessionId": session,
        "timestamp": ts,
        "cwd": "/home/dev/proj",
        "isSidechain": sidechain,
        "uuid": f"u-{msg_id}-{output_tokens}",
        "message": {
            "id": msg_id,
            "model": model,
            "role": "assistant",
            "stop_reason": stop_reason,
            "content": content if content is not None else [{"type": "text", "text": "ok"}],
            "usage": usage,
        },
    }
    if req_id is not None:
        obj["requestId"] = req_id
    obj.update(extra)
    return obj


def user_prompt(session: str, text: str, *, ts: str = "2026-11-20T09:59:59.000Z", uuid: str = "p1") -> dict:
    return {
        "type": "user",
        "sessionId": session,
        "timestamp": ts,
        "cwd": "/home/dev/proj",
        "uuid": uuid,
        "message": {"role": "user", "content": text},
    }


def tool_result(session: str, tool_id: str, *, is_error: bool | None = None, ts: str) -> dict:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id, "content": "x"}
    if is_error is not None:
        block["is_error"] = is_error
    return {
        "type": "user",
        "sessionId": session,
        "timestamp": ts,
        "uuid": f"r-{tool_id}",
        "message": {"role": "user", "content": [block]},
    }


def write_session(root: Path, project: str, name: str, objs: list[dict]) -> Path:
    """Write transcript lines to <root>/projects/<project>/<name>.jsonl (name may hold subdirs)."""
    path = root / "projects" / project / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line(o) for o in objs))
    return path


class RecordSink:
    """A thread-safe sink for sources under test: keeps every record it is handed."""

    def __init__(self) -> None:
        self.records: list = []
        self.lock = threading.Lock()

    def __call__(self, batch) -> None:
        with self.lock:
            self.records.extend(batch)

    def of(self, kind: type) -> list:
        with self.lock:
            return [r for r in self.records if isinstance(r, kind)]

    def calls(self) -> list[ApiCall]:
        return self.of(ApiCall)

    def request_ids(self) -> list[str | None]:
        return [c.request_id for c in self.calls()]


def use_workers(monkeypatch, workers: int = 2) -> None:
    """Make any tree big enough for worker processes. The decision is taken in this process,
    so the patches count whatever way the workers start."""
    from cctop.sources.transcripts import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "worker_count", lambda: workers)


OTLP_CAPTURE = SAMPLES / "claude-code-2.1.197" / "otlp-http-json-capture.jsonl"


def replay_capture(port: int, capture: Path = OTLP_CAPTURE) -> None:
    """Every request of an OTLP HTTP/JSON capture POSTed to ``port``, each answered 200."""
    for line in capture.read_text().splitlines():
        exported = json.loads(line)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            body = json.dumps(exported["body"]).encode()
            headers = {"Content-Type": "application/json"}
            connection.request("POST", f"/v1/{exported['kind']}", body=body, headers=headers)
            assert connection.getresponse().status == 200
        finally:
            connection.close()


def send_capture(sink, capture: Path = OTLP_CAPTURE) -> None:
    """A capture sent over HTTP to a real listener feeding ``sink``."""
    listener = OtlpListener(OtlpConfig(http_port=-1, grpc_port=0), sink)
    assert listener.start() == []
    try:
        replay_capture(listener.status.http_port, capture)
    finally:
        listener.stop()


def archive_capture(store: Path, capture: Path = OTLP_CAPTURE) -> None:
    """A capture sent to a listener that keeps it in ``store``'s archive (as a live
    ``cctop --otlp`` does)."""
    archive = OtlpArchive(store)
    try:
        send_capture(archive_sink(lambda records: None, archive, print), capture)
    finally:
        archive.close()


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Whether ``check()`` holds within ``timeout`` seconds (a thread or a process is at work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()
