"""Scale figures from issue 16: idle CPU of the TUI with 10,000 sessions of today, and the
RSS of a live cctop after 200,000 OTLP events.

    python bench/faults_bench.py [--sessions 10000] [--seconds 10] [--events 200000]

Idle CPU: the real CctopApp headless (run_test, 160x50) over a ledger of ``--sessions``
synthetic sessions whose last request was 10 minutes ago (today, idle, cache expired), this
process's CPU time over ``--seconds`` of wall clock, once the table has settled; next to an
empty Textual app idling as long. RSS: a real OtlpListener feeding a ledger (as ``cctop
--otlp`` without a store), ``--events`` api_request events POSTed over HTTP in batches of
100, VmRSS before and after (and after a gc). Prints a table and writes
bench/out/faults.json (or $CCTOP_BENCH_OUT/faults.json).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from tui_bench import EmptyApp, demo, idle_cpu, session_records  # noqa: E402

from cctop.ui.app import CctopApp  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def idle(sessions: int, seconds: float) -> dict:
    now = time.time()
    ledger = demo.make_ledger()
    for i in range(sessions):
        ledger.ingest(session_records(i, now - 600, calls=3))
    app = CctopApp(ledger, refresh=1.0)
    result = await idle_cpu(app, seconds, settle=True)
    result["sessions"] = sessions
    return result


def batch(offset: int, size: int) -> bytes:
    request = ExportLogsServiceRequest()
    logs = request.resource_logs.add().scope_logs.add()
    for n in range(offset, offset + size):
        record = logs.log_records.add()
        record.time_unix_nano = 1_800_000_000_000_000_000 + n * 1_000_000
        record.body.string_value = "claude_code.api_request"
        attrs = {
            "session.id": f"otlp-session-{n % 50}", "request_id": f"req_{n}", "model": "claude-sonnet-4-5",
            "input_tokens": "12", "output_tokens": "345", "cache_read_tokens": "20000",
            "cache_creation_tokens": "500", "cost_usd": "0.0123", "duration_ms": "2345",
        }  # fmt: skip
        for key, value in attrs.items():
            record.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return request.SerializeToString()


def otlp_rss(events: int) -> dict:
    from cctop.sources.otlp import OtlpConfig, OtlpListener

    ledger = demo.make_ledger()
    listener = OtlpListener(OtlpConfig(http_port=-1, grpc_port=0), ledger.ingest)
    assert listener.start() == []
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", listener.status.http_port, timeout=30)
        for offset in range(0, events, 100):
            connection.request("POST", "/v1/logs", body=batch(offset, 100),
                               headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        connection.close()
        seconds = time.perf_counter() - started
        ledger.snapshot()
        after = rss_mb()
        gc.collect()
        after_gc = rss_mb()
    finally:
        listener.stop()
    calls = ledger.snapshot().totals.all_time.requests
    return {
        "events": events, "calls_counted": calls, "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1), "rss_after_gc_mb": round(after_gc, 1),
        "bytes_per_event": round((after_gc - before) * 1024 * 1024 / events),
        "events_per_s": round(events / seconds),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--only", default="idle,otlp")
    args = parser.parse_args()
    results: dict = {}
    only = set(args.only.split(","))
    if "idle" in only:
        results["idle_empty_app"] = asyncio.run(idle_cpu(EmptyApp(), args.seconds, settle=False))
        results["idle_sessions"] = asyncio.run(idle(args.sessions, args.seconds))
        print(f"idle CPU, empty Textual app:     {results['idle_empty_app']['cpu_percent']:6.2f} % of a core")
        print(
            f"idle CPU, {args.sessions:,} sessions today: {results['idle_sessions']['cpu_percent']:6.2f} % "
            f"of a core ({results['idle_sessions']['snapshots']} snapshots in {args.seconds:g} s;"
            " target <= 1 %)"
        )
    if "otlp" in only:
        results["otlp_rss"] = otlp_rss(args.events)
        r = results["otlp_rss"]
        print(
            f"OTLP: {r['events']:,} api_request events ({r['calls_counted']:,} calls counted): RSS "
            f"{r['rss_before_mb']} -> {r['rss_after_gc_mb']} MB, {r['bytes_per_event']} bytes/event, "
            f"{r['events_per_s']:,} events/s"
        )
    out = Path(os.environ.get("CCTOP_BENCH_OUT", ROOT / "bench" / "out"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "faults.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
