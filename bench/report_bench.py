"""``cctop report`` and the history screen on a corpus, beside ``--once --json`` in the same run.

    python bench/report_bench.py --corpus bench/corpus/1G-seed7 [--repeat 3]

- every report (daily ... sessions, ``--json``) from a warm store: the first run after the
  store holds the history (it keeps the summed facts), then the best of ``--repeat``;
  ``--once --json`` warm is the baseline (target: any report <= 0.5 s);
- ``report daily --no-store`` (one scan) beside ``--once --json --no-store``;
- the history screen: ``g`` pressed to charts drawn, in the real app (headless, 160x45) on a
  ledger holding the whole corpus: once before anything was summed, and once after a session
  changed (the last sums are drawn at once, target <= 0.5 s; then the fresh ones, for which
  only that session's facts are made again).
Prints a table and writes bench/out/report.json (or $CCTOP_BENCH_OUT/report.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("daily", "weekly", "monthly", "blocks", "models", "projects", "sessions")
TARGET_S = 0.5


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local"))
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def best(command: list[str], env: dict[str, str], repeat: int) -> float:
    return min(timed(command, env) for _ in range(repeat))


async def history_screen(corpus: Path, store: Path) -> dict[str, float]:
    """Seconds from ``g`` to the charts drawn, on a ledger holding the whole corpus (read from
    the warm store as the TUI's history is): before and after the app made its facts."""
    sys.path.insert(0, str(ROOT / "tests"))
    import demo

    from cctop.launch import make_runtime, open_store
    from cctop.model.records import ApiCall
    from cctop.sources.load import history as load_history
    from cctop.ui.app import CctopApp

    args = argparse.Namespace(prices=None, claude_dir=[corpus], store=store, no_store=False, rebuild=False)
    runtime = make_runtime(args)
    opened = open_store(args, runtime.warn)
    try:  # every record, through the warm store, as the TUI's history reaches its ledger
        ledger = load_history(runtime.roots, runtime.new_ledger, opened, keep=lambda record: True).ledger
    finally:
        if opened is not None:
            opened.close()
    now = demo.fixed_now(ledger)
    app = CctopApp(ledger, now=lambda: now)
    async with app.run_test(size=(160, 45)) as pilot:
        await demo.settle(app, pilot, timeout=120)
        cold, _ = await _open(app, pilot)  # before the app summed anything in the background
        await pilot.press("escape")
        late = ApiCall("bench", None, "claude-opus-4-8", "msg_b", "req_b", now - 5, 10, 10, final=True)
        ledger.ingest([late])
        # The last sums are drawn at once; the fresh ones redo only the session that changed.
        warm, fresh = await _open(app, pilot)
        calls = app.screen.history.report.totals.requests
    return {
        "open_cold_s": round(cold, 3),
        "open_s": round(warm, 3),
        "fresh_s": round(fresh, 3),
        "calls": calls,
    }


async def _open(app, pilot) -> tuple[float, float]:
    """Seconds from ``g`` to the first frame with charts (the cost chart rendered with data),
    and to the screen idle with sums of the ledger as it is."""
    from textual_plotext import PlotextPlot

    shown: list[float] = []
    render = PlotextPlot.render

    def timed_render(widget):  # the widget's own render, timed
        result = render(widget)
        if widget.id == "cost-chart" and getattr(widget.screen, "draws", 0) and not shown:
            shown.append(time.perf_counter())
        return result

    PlotextPlot.render = timed_render  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        await pilot.press("g")  # returns once the app is idle
        screen = app.screen
        while screen.history is None or screen.history.version != app.ledger.version:
            await pilot.pause(0.005)
        await pilot.pause()
        ready = time.perf_counter() - started
    finally:
        PlotextPlot.render = render  # type: ignore[method-assign]
    return shown[0] - started, ready


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=os.environ.get("CCTOP_BENCH_CORPUS"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.corpus is None:
        parser.error("--corpus DIR (a tree from bench/corpus.py)")
    corpus = args.corpus.resolve()
    cctop = [sys.executable, "-m", "cctop"]
    results: dict = {"corpus": str(corpus), "repeat": args.repeat, "target_s": TARGET_S}
    with tempfile.TemporaryDirectory(prefix="cctop-report-bench-") as scratch:
        home = Path(scratch)
        env = env_for(home)
        store = home / "store.sqlite"
        where = ["--claude-dir", str(corpus)]
        stored = [*where, "--store", str(store)]
        results["once_fill_s"] = round(timed([*cctop, "--once", "--json", *stored], env), 3)
        results["once_warm_s"] = round(best([*cctop, "--once", "--json", *stored], env, args.repeat), 3)
        reports = {}
        for kind in KINDS:
            command = [*cctop, "report", kind, "--json", *stored]
            first = timed(command, env)
            reports[kind] = {"first_s": round(first, 3), "warm_s": round(best(command, env, args.repeat), 3)}
        results["reports"] = reports
        results["once_no_store_s"] = round(timed([*cctop, "--once", "--json", "--no-store", *where], env), 3)
        results["report_no_store_s"] = round(
            timed([*cctop, "report", "daily", "--json", "--no-store", *where], env), 3
        )
        results["history_screen"] = asyncio.run(history_screen(corpus, store))

    print(f"{'measure':44} {'seconds':>8}")
    print(f"{'cctop --once --json (store, warm)':44} {results['once_warm_s']:8.3f}")
    for kind, figures in results["reports"].items():
        verdict = "ok" if figures["warm_s"] <= TARGET_S else "MISS"
        line = f"cctop report {kind} --json (warm; 1st {figures['first_s']:.2f})"
        print(f"{line:44} {figures['warm_s']:8.3f}  <= {TARGET_S} {verdict}")
    print(f"{'cctop --once --json --no-store':44} {results['once_no_store_s']:8.3f}")
    print(f"{'cctop report daily --json --no-store':44} {results['report_no_store_s']:8.3f}")
    screen = results["history_screen"]
    verdict = "ok" if screen["open_s"] <= TARGET_S else "MISS"
    print(f"{'history screen: g -> charts on screen':44} {screen['open_s']:8.3f}  <= {TARGET_S} {verdict}")
    print(f"{'history screen: ... fresh sums drawn, idle':44} {screen['fresh_s']:8.3f}")
    print(f"{'history screen: g before anything was summed':44} {screen['open_cold_s']:8.3f}")
    out = Path(os.environ.get("CCTOP_BENCH_OUT", ROOT / "bench" / "out"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
