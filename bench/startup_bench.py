"""Start-up: how soon a live session is on screen while the history is still loading.

    python bench/startup_bench.py [--corpus DIR]    (default: the 1 GB corpus of bench/run.py)

A session written a moment ago sits in a second root beside the corpus, as a running
``claude`` would. The Tailer starts into a Ledger (what the TUI does) and this process takes
snapshots every 5 ms until one holds the live session: that is "live on screen". The baseline,
measured in the same run, is the time until the whole history is loaded. Three runs, each in a
fresh process as a real start is: no store, a first run that fills a fresh store, and a warm
start from that store (the everyday case).
Target: live on screen <= 0.5 s whatever the history size. Prints a table and writes
bench/out/startup.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cctop.model.ledger import Ledger  # noqa: E402
from cctop.sources.prices import packaged_pricebook  # noqa: E402
from cctop.sources.transcripts.tailer import Tailer  # noqa: E402
from cctop.store.database import Store  # noqa: E402

SAMPLE = REPO / "tests/samples/claude-code-2.1.197/projects/-home-dev-proj1"
LIVE_ID = "2da9138a-9060-4234-9110-d4601e2b59d1"  # a real 2.1.197 session, copied as "live"
DEFAULT_CORPUS = REPO / "bench/corpus/1G-seed7"


def measure(roots: list[Path], store_path: Path | None, timeout: float) -> dict:
    warnings: list[str] = []
    ledger = Ledger(packaged_pricebook())
    store = Store.open(store_path, warnings.append) if store_path else None
    tailer = Tailer(roots, sink=ledger.ingest, warn=warnings.append, store=store)
    start = time.monotonic()
    tailer.start()
    live_s = None
    try:
        while time.monotonic() - start < timeout:
            if LIVE_ID in ledger.snapshot().sessions:
                live_s = time.monotonic() - start
                break
            time.sleep(0.005)
        done = tailer.wait_idle(timeout)
        all_s = time.monotonic() - start
        sessions = len(ledger.snapshot().sessions)
    finally:
        tailer.stop()
        if store is not None:
            store.close()
    return {"live_on_screen_s": live_s, "history_loaded_s": all_s if done else None, "sessions": sessions}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench/out/startup.json")
    parser.add_argument("--one", nargs=3, metavar=("CORPUS", "LIVE_ROOT", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # one measurement, in a fresh process like a real start
        corpus_root, live_root, store = args.one
        row = measure(
            [Path(corpus_root), Path(live_root)], Path(store) if store != "-" else None, args.timeout
        )
        print(json.dumps(row))
        return 0
    corpus = args.corpus / "projects" if (args.corpus / "projects").is_dir() else args.corpus
    if not corpus.is_dir():
        print(f"no corpus at {args.corpus}: run bench/run.py (or bench/corpus.py) first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cctop-startup-") as tmp:
        live_root = Path(tmp) / "live" / "projects"
        (live_root / "-home-dev-live").mkdir(parents=True)
        shutil.copy(SAMPLE / f"{LIVE_ID}.jsonl", live_root / "-home-dev-live")  # mtime: now
        store = str(Path(tmp) / "store.sqlite3")
        rows = {
            name: _fresh_process(corpus, live_root, store_arg, args.timeout)
            for name, store_arg in (
                ("no store", "-"),
                ("store, first run", store),
                ("store, warm start", store),
            )
        }
    print(f"corpus: {corpus}")
    print(f"{'run':<20}{'live on screen':>16}{'history loaded':>16}{'ratio':>8}{'sessions':>10}")
    for name, row in rows.items():
        live, loaded = row["live_on_screen_s"], row["history_loaded_s"]
        ratio = f"{live / loaded:.3f}" if live and loaded else "-"
        print(f"{name:<20}{_s(live):>16}{_s(loaded):>16}{ratio:>8}{row['sessions']:>10}")
    ok = all(r["live_on_screen_s"] is not None and r["live_on_screen_s"] <= 0.5 for r in rows.values())
    print(f"target: live session on screen <= 0.5 s: {'met' if ok else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"corpus": str(corpus), "target_s": 0.5, "ok": ok, "runs": rows}
    args.out.write_text(json.dumps(document, indent=2))
    return 0


def _fresh_process(corpus: Path, live_root: Path, store: str, timeout: float) -> dict:
    command = [
        sys.executable,
        __file__,
        "--timeout",
        str(timeout),
        "--one",
        str(corpus),
        str(live_root),
        store,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout + 60)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


if __name__ == "__main__":
    raise SystemExit(main())
