"""Latency of the live tailer: from a line written to the first ledger snapshot that counts it.

    python bench/latency_bench.py [--files 50] [--rate 200] [--seconds 5]

A writer process appends assistant lines (about 2 KB each, the size of a real one) to
``--files`` transcripts in random order at ``--rate`` lines per second in total, noting the
monotonic clock (shared by all processes on Linux) when each line is flushed. This process runs
the Tailer into a Ledger and, whenever the ledger's version moves, takes a snapshot and notes
which lines it now contains (lines of one file are read in order, so a session's request count
says which of its lines are in). Runs once with the SQLite store and once without. Prints a
table and writes bench/out/latency.json. Target: p95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctop.model.ledger import Ledger  # noqa: E402
from cctop.sources.prices import packaged_pricebook  # noqa: E402
from cctop.sources.transcripts.tailer import Tailer  # noqa: E402
from cctop.store.database import Store  # noqa: E402

PADDING = "lorem ipsum " * 150


def session_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def assistant_line(session: str, n: int) -> bytes:
    return orjson.dumps({
        "type": "assistant",
        "sessionId": session,
        "uuid": f"{session}-{n}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "cwd": "/home/dev/bench",
        "version": "2.1.197",
        "requestId": f"req_{session}_{n}",
        "message": {
            "id": f"msg_{session}_{n}",
            "model": "claude-opus-4-8",
            "role": "assistant",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": PADDING}],
            "usage": {"input_tokens": 3, "output_tokens": 50, "cache_read_input_tokens": 1000,
                      "cache_creation_input_tokens": 20},
        },
    }) + b"\n"  # fmt: skip


def writer(paths: list[str], rate: float, seconds: float, seed: int, out) -> None:
    """Separate process: append lines, report (file index, write time) per line."""
    rng = random.Random(seed)
    handles = [open(p, "ab") for p in paths]  # noqa: SIM115 - closed below
    counts = [0] * len(paths)
    written: list[tuple[int, float]] = []
    interval = 1.0 / rate
    start = time.monotonic()
    next_at = start
    while time.monotonic() - start < seconds:
        index = rng.randrange(len(paths))
        data = assistant_line(session_id(index), counts[index])
        counts[index] += 1
        handles[index].write(data)
        handles[index].flush()
        written.append((index, time.monotonic()))
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    for handle in handles:
        handle.close()
    out.send(written)


def run(files: int, rate: float, seconds: float, use_store: bool) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="cctop-latency-"))
    root = work / "projects"
    project = root / "-home-dev-bench"
    project.mkdir(parents=True)
    paths = []
    for index in range(files):
        path = project / f"{session_id(index)}.jsonl"
        path.write_bytes(b"")
        paths.append(str(path))
    ledger = Ledger(packaged_pricebook())
    store = Store.open(work / "store.sqlite3", print) if use_store else None
    tailer = Tailer([root], ledger.ingest, print, store=store)
    tailer.start()
    tailer.wait_idle(10)

    seen: dict[str, list[float]] = {}  # session -> when each of its lines was first in a snapshot
    stop = threading.Event()

    def watch() -> None:
        version = -1
        while not stop.is_set():
            if ledger.version != version:
                version = ledger.version
                snapshot = ledger.snapshot()
                now = time.monotonic()
                for sid, stats in snapshot.sessions.items():
                    times = seen.setdefault(sid, [])
                    while len(times) < stats.tokens.requests:
                        times.append(now)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(
        target=writer, args=(paths, rate, seconds, 1, send), daemon=True
    )
    process.start()
    written = receive.recv()
    process.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(len(t) for t in seen.values()) < len(written):
        time.sleep(0.01)
    stop.set()
    watcher.join()
    tailer.stop()
    counts: dict[int, int] = {}
    latencies = []
    for index, wrote in written:
        k = counts.get(index, 0)
        counts[index] = k + 1
        times = seen.get(session_id(index), [])
        latencies.append((times[k] - wrote) * 1000 if k < len(times) else float("inf"))
    latencies.sort()
    missing = sum(1 for x in latencies if x == float("inf"))

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return {
        "lines": len(written),
        "missing": missing,
        "p50_ms": statistics.median(latencies),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="lines per second, all files together")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "latency.json")
    args = parser.parse_args()
    results = {
        "with store": run(args.files, args.rate, args.seconds, True),
        "no store": run(args.files, args.rate, args.seconds, False),
    }
    print(f"{args.files} files, {args.rate:g} lines/s for {args.seconds:g} s (target p95 <= 100 ms)")
    print(f"{'':<11} {'lines':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'missing':>7}")
    for name, r in results.items():
        print(
            f"{name:<11} {r['lines']:>6} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f} "
            f"{r['max_ms']:8.1f} {r['missing']:>7}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": vars(args) | {"out": str(args.out)}, "results": results},
                                   indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
