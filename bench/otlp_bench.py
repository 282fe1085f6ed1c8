"""OTLP listener throughput: api_request events/s over HTTP/protobuf and gRPC.

    python bench/otlp_bench.py [--seconds 4] [--batch 200]

The listener runs in this process with a counting sink (as in the app); a separate
client process sends batches of Claude-Code-shaped ``api_request`` events as fast as
the listener answers, over one kept-alive connection. Baseline, same run: decoding the
same batches in-process with no transport, the ceiling the transports approach.
Checks nothing was lost (events counted by the sink == events the client sent).
Target: >= 20,000 events/s per transport. Writes bench/out/otlp.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

from cctop.model.records import ApiCall  # noqa: E402
from cctop.sources.otlp import OtlpConfig, OtlpListener  # noqa: E402
from cctop.sources.otlp.codec import SIGNALS, parse_protobuf  # noqa: E402
from cctop.sources.otlp.decode import decode_logs  # noqa: E402

TARGET_EVENTS_PER_S = 20_000
OUT = Path(os.environ.get("CCTOP_BENCH_OUT", REPO / "bench" / "out"))


def make_batch(batch: int, offset: int) -> bytes:
    """One export request shaped like Claude Code 2.1.19x's (same attributes, same types)."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    for key, value in (("service.name", "claude-code"), ("service.version", "2.1.197"), ("os.type", "linux")):
        resource_logs.resource.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    scope = resource_logs.scope_logs.add()
    scope.scope.name = "com.anthropic.claude_code.events"
    for i in range(batch):
        n = offset + i
        record = scope.log_records.add()
        record.time_unix_nano = 1_795_342_436_201_000_000 + n * 1_000_000
        record.observed_time_unix_nano = record.time_unix_nano
        record.body.string_value = "claude_code.api_request"
        attrs: dict[str, Any] = {
            "user.id": "668c4a8057b7d197271d8c1128bd511dd2dce83015e515f329286e4b6a77817c",
            "session.id": f"bench-session-{n % 8}",
            "terminal.type": "xterm",
            "event.name": "api_request",
            "event.timestamp": "2026-11-22T10:13:56.201Z",
            "event.sequence": str(n),
            "prompt.id": "043fc755-a0b7-4e14-9a91-206261bb00a2",
            "model": "claude-opus-4-8",
            "input_tokens": "21",
            "output_tokens": "67",
            "cache_read_tokens": "13457",
            "cache_creation_tokens": "19054",
            "cost_usd": 0.1208675,
            "cost_usd_micros": "120868",
            "duration_ms": "49",
            "request_id": f"req_bench{n:012d}",
            "speed": "normal",
            "query_source": "sdk",
            "effort": "high",
        }
        for key, value in attrs.items():
            any_value = (
                AnyValue(double_value=value) if isinstance(value, float) else AnyValue(string_value=value)
            )
            record.attributes.append(KeyValue(key=key, value=any_value))
    return request.SerializeToString()


def client(transport: str, port: int, seconds: float, batch: int, result: Any) -> None:
    """Runs in its own process: send as fast as answered for ``seconds``."""
    bodies = [make_batch(batch, k * batch) for k in range(8)]
    sent = requests = 0
    if transport == "grpc":
        import grpc

        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=None,
            response_deserializer=None,
        )

        def send(body: bytes) -> None:
            export(body, timeout=10)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/x-protobuf"}

        def send(body: bytes) -> None:
            connection.request("POST", "/v1/logs", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")

    send(bodies[0])  # warm-up, not counted
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        send(bodies[requests % len(bodies)])
        requests += 1
        sent += batch
    result.put({"sent": sent + batch, "requests": requests, "seconds": time.perf_counter() - started})


class CountingSink:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, records: Any) -> None:
        n = sum(1 for record in records if type(record) is ApiCall)
        with self.lock:
            self.calls += n


def baseline(batch: int, seconds: float) -> dict[str, Any]:
    """Parse + decode with no transport: what the listener does per request anyway."""
    bodies = [make_batch(batch, k * batch) for k in range(8)]
    events = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        decode_logs(parse_protobuf(SIGNALS["logs"], bodies[events // batch % 8]))
        events += batch
    elapsed = time.perf_counter() - started
    return {
        "transport": "in-process decode (baseline)",
        "events": events,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
    }


def run_transport(transport: str, seconds: float, batch: int) -> dict[str, Any]:
    sink = CountingSink()
    config = OtlpConfig(
        http_port=-1 if transport == "http" else 0, grpc_port=-1 if transport == "grpc" else 0
    )
    listener = OtlpListener(config, sink)
    warnings = listener.start()
    if warnings:
        raise SystemExit(f"listener did not start: {warnings}")
    port = listener.status.http_port if transport == "http" else listener.status.grpc_port
    context = multiprocessing.get_context("spawn")
    result = context.Queue()
    process = context.Process(target=client, args=(transport, port, seconds, batch, result))
    process.start()
    outcome = result.get(timeout=seconds + 60)
    process.join(timeout=10)
    listener.stop()
    received = sink.calls
    return {
        "transport": "HTTP/protobuf" if transport == "http" else "gRPC",
        "batch": batch,
        "requests": outcome["requests"],
        "events": outcome["sent"],
        "received": received,
        "lost": outcome["sent"] - received,
        "seconds": outcome["seconds"],
        "events_per_s": (outcome["sent"] - batch) / outcome["seconds"],
        "listener_errors": listener.status.errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--batch", type=int, default=200, help="events per export request")
    args = parser.parse_args()

    rows = [baseline(args.batch, min(args.seconds, 2.0))]
    rows += [run_transport(transport, args.seconds, args.batch) for transport in ("http", "grpc")]
    base = rows[0]["events_per_s"]
    print(
        f"{'path':32} {'events':>9} {'seconds':>8} {'events/s':>10} {'x base':>7} {'lost':>5} {'target':>14}"
    )
    ok = True
    for row in rows:
        is_transport = "lost" in row
        meets = row["events_per_s"] >= TARGET_EVENTS_PER_S
        verdict = (f">={TARGET_EVENTS_PER_S // 1000}k " + ("ok" if meets else "MISS")) if is_transport else ""
        if is_transport:
            ok = ok and meets and row["lost"] == 0 and row["listener_errors"] == 0
        print(
            f"{row['transport']:32} {row['events']:9d} {row['seconds']:8.2f} {row['events_per_s']:10.0f} "
            f"{row['events_per_s'] / base:7.2f} {row.get('lost', ''):>5} {verdict:>14}"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    report = {
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "batch": args.batch,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rows": rows,
        "ok": ok,
    }
    for name in ("otlp.json", "otlp_bench.json"):  # the second is the name bench/run.py looks for
        (OUT / name).write_text(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
