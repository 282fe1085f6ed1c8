"""The attribution corpus: sessions written by the real Claude Code CLI (``harness.PINNED``)
against the fake Messages API, for the tests that check every call lands in the session that
made it (``tests/test_attribution.py``).

It covers a resume on another model, a ``--continue``, two ``--fork-session`` forks of one
parent (one id sorting before the parent's, one after; a ``--continue`` that picks up the second
fork), a manual ``/compact`` then a resume, an automatic compaction (a prompt near the model's
window), two subagents in parallel, a 529 retried, a fatal 403
(a ``<synthetic>`` error line), parallel tool calls of which one fails, in a directory with a
non-ASCII name, 1h cache writes and web searches. Beside the transcripts it keeps
the fake API's ledger of every answer (with the session header the CLI sent), the telemetry
Claude Code exported (OTLP/HTTP JSON, as the 2.1.197 capture) and Claude Code's own results.

Generating takes a minute or two: run it once and commit the output, so the unit tests need no
npm (``python -m tests.e2e.attribution_corpus tests/samples/attribution-2.1.332``). The e2e test
``test_attribution_live`` runs it again into a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .fake_api import FakeAnthropicApi, Script, Text, ToolCall, Turn, Usage, read_body
from .harness import ClaudeHome, find_or_install_claude

# Chosen ids, so a fork's id sorts on either side of its parent's.
PARENT = "80000000-0000-4000-8000-00000000000a"
FORK_BEFORE = "10000000-0000-4000-8000-0000000000f1"  # sorts before PARENT
FORK_AFTER = "f0000000-0000-4000-8000-0000000000f2"  # sorts after PARENT
COMPACTED = "c0000000-0000-4000-8000-00000000000c"
AGENT = "a0000000-0000-4000-8000-00000000000b"
RETRIED = "90000000-0000-4000-8000-000000000529"
FAILED = "d0000000-0000-4000-8000-000000000403"
PARALLEL = "b0000000-0000-4000-8000-0000000000b2"
AUTO_COMPACTED = "e0000000-0000-4000-8000-0000000000ac"
UNICODE_DIR = "prøjekt ü"
MISSING_FILE = "/nonexistent/cctop-attribution/missing.txt"


def _bash(text: str) -> ToolCall:
    return ToolCall("Bash", {"command": f"echo {text}", "description": f"say {text}"})


SCRIPTS = {
    "a1": Script([
        Turn([Text("Starting."), _bash("a1")],
             Usage(input_tokens=20, output_tokens=61, cache_1h=9000, cache_5m=400)),
        Turn([Text("Started.")], Usage(input_tokens=3, output_tokens=30, cache_read=9400, cache_1h=250)),
    ]),
    "a2": Script([
        Turn([_bash("a2")], Usage(input_tokens=5, output_tokens=44, cache_read=9650, cache_5m=700)),
        Turn([Text("Resumed.")], Usage(input_tokens=2, output_tokens=25, cache_read=10350, web_searches=2)),
    ]),
    "a3": Script([Turn([Text("Continued.")],
                       Usage(input_tokens=4, output_tokens=19, cache_read=10400, cache_5m=90))]),
    "f1": Script([
        Turn([_bash("f1")], Usage(input_tokens=6, output_tokens=41, cache_read=10400, cache_5m=300)),
        Turn([Text("Forked low.")], Usage(input_tokens=2, output_tokens=22, cache_read=10700, cache_5m=120)),
    ]),
    "f2": Script([Turn([Text("Forked high.")],
                       Usage(input_tokens=7, output_tokens=23, cache_read=10400, cache_1h=500))]),
    "f2b": Script([
        Turn([_bash("f2b")], Usage(input_tokens=3, output_tokens=38, cache_read=10900, cache_5m=210)),
        Turn([Text("Fork continued.")],
             Usage(input_tokens=2, output_tokens=17, cache_read=11110, web_searches=1)),
    ]),
    # /compact's own calls quote the marked prompt: they get a scripted answer and real usage,
    # and never reach the transcript (OTLP tags them ``query_source: compact``).
    "c1": Script([
        Turn([_bash("c1")], Usage(input_tokens=22, output_tokens=60, cache_5m=8000)),
        Turn([Text("Ready to compact.")],
             Usage(input_tokens=3, output_tokens=28, cache_read=8000, cache_5m=150)),
    ]),
    "c2": Script([Turn([Text("After compaction.")], Usage(input_tokens=9, output_tokens=21, cache_5m=2500))]),
    "g1": Script([
        Turn([ToolCall("Agent", {"description": "look around", "prompt": "<<e2e:sub>> look around",
                                 "subagent_type": "general-purpose", "run_in_background": False}),
              ToolCall("Agent", {"description": "look elsewhere", "prompt": "<<e2e:sub2>> look elsewhere",
                                 "subagent_type": "general-purpose", "run_in_background": False})],
             Usage(input_tokens=6, output_tokens=70, cache_5m=8800)),
        Turn([Text("Agent done.")], Usage(input_tokens=3, output_tokens=26, cache_read=8800, cache_5m=260)),
    ]),
    "sub": Script([
        Turn([_bash("sub")], Usage(input_tokens=9, output_tokens=31, cache_5m=4100)),
        Turn([Text("Looked around.")], Usage(input_tokens=2, output_tokens=17, cache_read=4100, cache_5m=60)),
    ]),
    "sub2": Script([
        Turn([_bash("sub2")], Usage(input_tokens=8, output_tokens=29, cache_5m=4200)),
        Turn([Text("Looked elsewhere.")],
             Usage(input_tokens=2, output_tokens=15, cache_read=4200, cache_1h=80)),
    ]),
    "p1": Script([
        Turn([ToolCall("Read", {"file_path": MISSING_FILE}), _bash("p1")],
             Usage(input_tokens=19, output_tokens=57, cache_5m=8300)),
        Turn([Text("One failed.")], Usage(input_tokens=4, output_tokens=20, cache_read=8300, cache_5m=330)),
    ]),
    # 190K of a 200K window: Claude Code compacts before the next request. Its compaction
    # requests quote the marked prompt (turn 1); the continuation after it does not (the
    # fallback answer, zero usage).
    "auto": Script([
        Turn([Text("Big."), _bash("auto")],
             Usage(input_tokens=5, output_tokens=40, cache_read=150000, cache_5m=40000)),
        Turn([Text("Summary of the work so far.")],
             Usage(input_tokens=3, output_tokens=30, cache_read=190000, cache_5m=100)),
    ]),
    "r1": Script([
        Turn([_bash("r1")], Usage(input_tokens=21, output_tokens=55, cache_5m=8100), fail_first=(529,)),
        Turn([Text("Retried.")],
             Usage(input_tokens=3, output_tokens=24, cache_read=8100, cache_5m=140)),
    ]),
    "e1": Script([Turn([Text("never")], Usage(input_tokens=1, output_tokens=1), fail_first=(403,) * 20)]),
}  # fmt: skip

# (name, claude arguments, whether Claude Code reports success)
RUNS: list[tuple[str, list[str], bool]] = [
    ("a1", ["<<e2e:a1>> start", "--session-id", PARENT], True),
    ("a2", ["<<e2e:a2>> resume", "--resume", PARENT, "--model", "claude-sonnet-4-6"], True),
    ("a3", ["<<e2e:a3>> continue", "--continue"], True),
    ("f1", ["<<e2e:f1>> fork low", "--resume", PARENT, "--fork-session", "--session-id", FORK_BEFORE], True),
    ("f2", ["<<e2e:f2>> fork high", "--resume", PARENT, "--fork-session", "--session-id", FORK_AFTER], True),
    ("f2b", ["<<e2e:f2b>> continue the fork", "--continue"], True),
    ("c1", ["<<e2e:c1>> work then compact", "--session-id", COMPACTED], True),
    ("compact", ["/compact", "--resume", COMPACTED], True),
    ("c2", ["<<e2e:c2>> after compaction", "--resume", COMPACTED], True),
    ("g1", ["<<e2e:g1>> use an agent", "--session-id", AGENT], True),
    ("r1", ["<<e2e:r1>> retry", "--session-id", RETRIED], True),
    ("e1", ["<<e2e:e1>> fail", "--session-id", FAILED], False),
    ("p1", ["<<e2e:p1>> two tools at once", "--session-id", PARALLEL], True),  # in UNICODE_DIR
    ("auto", ["<<e2e:auto>> go big", "--session-id", AUTO_COMPACTED, "--model", "claude-sonnet-4-6"], True),
]


class _Capture:
    """An OTLP/HTTP JSON sink: every export body Claude Code sends, in arrival order."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = read_body(self)
                kind = self.path.rsplit("/", 1)[-1]
                with contextlib.suppress(ValueError):  # not JSON: not Claude Code's, not kept
                    capture.batches.append({"kind": kind, "transport": "http:application/json",
                                            "body": json.loads(body)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        return {
            "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.server.server_address[1]}",
            "OTEL_LOGS_EXPORT_INTERVAL": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def generate(out: Path, claude: str | None = None) -> None:
    """Run every scenario and write ``out/claude/projects/...``, ``ledger.jsonl``,
    ``otlp-http-json-capture.jsonl`` and ``results.jsonl``."""
    claude = claude or find_or_install_claude()
    out.mkdir(parents=True, exist_ok=True)
    capture = _Capture()
    results = []
    with tempfile.TemporaryDirectory(prefix="cctop-attr-") as tmp, FakeAnthropicApi(SCRIPTS) as api:
        home = ClaudeHome(claude, Path(tmp), api.base_url)
        elsewhere = home.root / UNICODE_DIR
        elsewhere.mkdir()
        for name, args, succeeds in RUNS:
            cwd = elsewhere if name == "p1" else None
            process = home.start(*args, env=capture.env(), cwd=cwd)
            stdout, stderr = process.communicate(timeout=180)
            try:
                result = json.loads(stdout)
            except ValueError:
                result = {"unparsed": stdout[-500:], "stderr": stderr[-500:]}
            ok = process.returncode == 0 and not result.get("is_error")
            if ok != succeeds:
                raise RuntimeError(f"run {name}: exit {process.returncode}: {stdout[-800:]} {stderr[-800:]}")
            results.append({"run": name, **{k: result.get(k) for k in ("session_id", "total_cost_usd",
                                                                        "is_error", "num_turns")}})
        capture.stop()
        projects = out / "claude" / "projects"
        if projects.exists():
            shutil.rmtree(projects)
        shutil.copytree(home.config_dir / "projects", projects)
        served = [s.to_json() for s in api.served if s.path.startswith("/v1/messages")]
    _write_jsonl(out / "ledger.jsonl", served)
    _write_jsonl(out / "otlp-http-json-capture.jsonl", capture.batches)
    _write_jsonl(out / "results.jsonl", results)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--claude", help="claude binary (default: the pinned one, installed if needed)")
    args = parser.parse_args()
    if args.claude is None and os.environ.get("CCTOP_E2E_CLAUDE"):
        args.claude = os.environ["CCTOP_E2E_CLAUDE"]
    generate(args.out, args.claude)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
