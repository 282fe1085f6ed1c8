"""Warm and cold ``cctop --once --json`` against ``grep -rc '"usage"'`` over the same tree.

    python bench/store_bench.py --corpus DIR [--runs 5]

DIR is a tree made by bench/corpus.py (``--size 1G``). Every figure is the best of ``--runs``
wall-clock runs, measured in this run, so a loaded machine slows baseline and cctop alike.
Prints a table and writes bench/out/store.json.

- grep:    the baseline the issue sets (target: warm <= 2.5x grep), output to a pipe
- grep>null: the same with output to /dev/null, where GNU grep stops at each file's first
           match: faster, and the stricter bar
- cold:    ``--no-store``: every transcript parsed (target: 3 s)
- build:   first run with an empty store: parse and fill the store (target: <= 1.5x cold)
- warm:    second run, nothing changed: saved aggregates (warm>null: output to /dev/null)
- append:  one transcript grew by a line: stored records + appended bytes
- stale:   saved aggregates invalid (new prices or cctop code): every stored record replayed
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], runs: int, before=None, devnull: bool = False) -> tuple[float, bytes]:
    best = float("inf")
    out = b""
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        if devnull:
            done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        else:
            done = subprocess.run(command, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
        if done.returncode not in (0, 1):  # grep answers 1 when a file has no match
            sys.exit(f"{command[0]} failed: {done.stderr.decode(errors='replace')}")
        out = done.stdout
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="a bench/corpus.py tree")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "store.json")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    work = Path(tempfile.mkdtemp(prefix="cctop-store-bench-"))
    store = work / "store.sqlite3"
    cctop = [sys.executable, "-m", "cctop", "--once", "--json", "--claude-dir", str(corpus)]
    results: dict[str, float] = {}
    try:
        grep = ["grep", "-rc", '"usage"', str(corpus)]
        subprocess.run(grep, capture_output=True, check=False)  # page cache warm for everyone
        results["grep"], _ = timed(grep, args.runs)
        # GNU grep stops at the first match when its output is /dev/null: a lower bound only.
        results["grep>null"], _ = timed(grep, args.runs, devnull=True)
        results["cold"], cold_out = timed([*cctop, "--no-store"], args.cold_runs)
        results["build"], build_out = timed([*cctop, "--store", str(store)], 1)
        results["warm"], warm_out = timed([*cctop, "--store", str(store)], args.runs)
        # Like for like with grep>null: the 20 MB document goes to /dev/null, not through a pipe.
        results["warm>null"], _ = timed([*cctop, "--store", str(store)], args.runs, devnull=True)
        grown = max((p for p in corpus.rglob("*.jsonl")), key=lambda p: p.stat().st_mtime)
        original = grown.read_bytes()
        line = original.splitlines(keepends=True)[-1]

        def grow() -> None:
            with open(grown, "ab") as handle:
                handle.write(line)

        try:
            results["append"], _ = timed([*cctop, "--store", str(store)], max(1, args.runs // 2), grow)
        finally:
            grown.write_bytes(original)

        def forget_aggregates() -> None:  # what a price fix or a cctop upgrade does to them
            with sqlite3.connect(store) as db:
                db.execute("DELETE FROM snapshot_cache")

        stale_runs = max(1, args.runs // 2)
        results["stale"], _ = timed([*cctop, "--store", str(store)], stale_runs, forget_aggregates)
        same = _without_clock(cold_out) == _without_clock(warm_out) == _without_clock(build_out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = results["warm"] / results["grep"]
    ratio_null = results["warm>null"] / results["grep>null"]
    print(f"corpus {corpus} (best of {args.runs})")
    print(f"{'run':<10} {'seconds':>8} {'x grep':>7}")
    for name, seconds in results.items():
        print(f"{name:<10} {seconds:8.3f} {seconds / results['grep']:7.2f}")
    print(
        f"warm/grep = {ratio:.2f}, (warm>null)/(grep>null) = {ratio_null:.2f} (target <= 2.5); "
        f"cold = {results['cold']:.2f} s (target 3 s)"
    )
    print(f"build/cold = {results['build'] / results['cold']:.2f} (target <= 1.5)")
    print(f"build and warm output equal cold output (clock aside): {same}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "seconds": results,
        "warm_over_grep": ratio,
        "warm_over_grep_devnull": ratio_null,
        "build_over_cold": results["build"] / results["cold"],
        "same_output": same,
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _without_clock(raw: bytes) -> object:
    doc = json.loads(raw)
    doc.pop("generated_at", None)
    for session in doc.get("sessions", []):
        session["agents"] = sorted(session.get("agents", []), key=lambda a: a["id"])
    return doc


if __name__ == "__main__":
    sys.exit(main())
