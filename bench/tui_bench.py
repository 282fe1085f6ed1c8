"""TUI cost with 50 sessions: CPU of an idle app, and CPU per frame while all 50 update.

    python bench/tui_bench.py [--seconds 10] [--sessions 50]

Runs the real CctopApp headless (``run_test``, 160x50) on a ledger of synthetic sessions and
reads this process's CPU time (all threads) over a fixed wall-clock window. Baselines from the
same run: an empty Textual app idling the same time, and, for the burst, a table that is
Textual DataTable kept in step with ``update_cell`` on changed cells only (no update_width),
in place of cctop's line-API table.
Prints a table and writes bench/out/tui.json (or $CCTOP_BENCH_OUT/tui.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.text import Text  # noqa: E402
from textual.app import App  # noqa: E402
from textual.widgets import DataTable, Static  # noqa: E402

from cctop.model.records import ApiCall, SessionMeta, TitleKind, ToolResult, ToolUse  # noqa: E402
from cctop.ui import rows  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
import demo  # noqa: E402

from cctop.ui.app import CctopApp  # noqa: E402
from cctop.ui.widgets.session_table import SessionTable, View  # noqa: E402

SIZE = (160, 50)
MODELS = ("claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5")


def session_records(index: int, last: float, calls: int = 40) -> list:
    sid = f"00000000-0000-4000-8000-{index:012d}"
    records: list = [
        SessionMeta(sid, last - 3600, cwd=f"/home/dev/project{index % 12}", git_branch="main",
                    title=f"refactor module {index}", title_kind=TitleKind.CUSTOM),
    ]  # fmt: skip
    for n in range(calls):
        ts = last - (calls - 1 - n) * 60
        records.append(
            ApiCall(sid, None, MODELS[index % 3], f"msg_{index}_{n}", f"req_{index}_{n}", ts,
                    input_tokens=20 + n, output_tokens=300 + 7 * n, cache_read_tokens=20_000 + 900 * n,
                    cache_creation_tokens=1500, cache_creation_5m_tokens=1500, final=True)
        )  # fmt: skip
        records.append(ToolUse(sid, None, f"t_{index}_{n}", ("Bash", "Read", "Edit")[n % 3], ts))
        records.append(ToolResult(sid, f"t_{index}_{n}", n % 17 == 0, ts + 1.5))
    return records


def make_ledger(sessions: int, now: float, quiet_for: float, ticking: int = 0):
    """``sessions`` sessions whose last request was ``quiet_for`` seconds ago; the first
    ``ticking`` of them 30 s ago instead (a live cache whose countdown changes every second)."""
    ledger = demo.make_ledger()
    for i in range(sessions):
        ledger.ingest(session_records(i, now - (30 if i < ticking else quiet_for)))
    return ledger


class BenchApp(CctopApp):
    """Records when each snapshot lands and how long applying it to the widgets takes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.applied: list[tuple[float, int, float]] = []  # (time, version, redraw seconds)
        self.snapshot_seconds: list[float] = []
        plain_compute = self._compute

        def timed_compute(now: float, detail_id: str | None):
            start = time.perf_counter()
            message = plain_compute(now, detail_id)
            self.snapshot_seconds.append(time.perf_counter() - start)
            return message

        self._compute = timed_compute  # type: ignore[method-assign]

    def on_snapshot_ready(self, message) -> None:
        """Applying a snapshot: the screens watching the frame diff it in, synchronously."""
        start = time.perf_counter()
        super().on_snapshot_ready(message)
        end = time.perf_counter()
        self.applied.append((end, message.frame.snapshot.version, end - start))


class DataTableBaseline(DataTable):
    """The baseline: Textual's DataTable kept in step the careful way (update_cell for changed
    cells only, fixed widths, no update_width), as cctop did before its line-API table."""

    def __init__(self, style_for, **kwargs) -> None:
        super().__init__(cursor_type="row", cell_padding=0, **kwargs)
        self._style_for = style_for
        self._cells: dict = {}
        self.view = View(history=True)
        self.hidden_history = 0
        self.frames = 0
        self._helper = SessionTable(style_for)  # reuse its filtering and ordering only

    def on_mount(self) -> None:
        for column in rows.COLUMNS:
            self.add_column(column.label, width=column.width + 1, key=column.key)

    def _text(self, cell) -> Text:
        return Text(cell[0], style=self._style_for(cell[1]))

    def show(self, sessions, now, day_start, view=None, *, resort=False):  # type: ignore[override]
        desired, order = self._helper._desired(sessions, now, day_start, self.view)
        changed = False
        with self.app.batch_update():
            for key in order:
                cells, old = desired[key], self._cells.get(key)
                if old is None:
                    self.add_row(*(self._text(c) for c in cells), key=key)
                    changed = True
                elif old != cells:
                    for column, new, was in zip(rows.COLUMNS, cells, old, strict=True):
                        if new != was:
                            self.update_cell(key, column.key, self._text(new))
                    changed = True
                self._cells[key] = cells
        self.frames += changed
        return changed


async def swap_in_baseline(app: CctopApp) -> SessionTable | DataTableBaseline:
    old = app.screen.query_one(SessionTable)
    new = DataTableBaseline(app.style_for, id="baseline")
    await app.screen.mount(new, after=old)
    old.display = False
    old.show = new.show  # the screen keeps calling its table: route that to the baseline
    new.focus()
    app.redraw()
    return new


class EmptyApp(App):
    def compose(self):
        yield Static("idle")


async def idle_cpu(app: App, seconds: float, settle: bool, baseline: bool = False) -> dict:
    async with app.run_test(size=SIZE) as pilot:
        if settle:
            await demo.settle(app, pilot)
            await pilot.press("h")
        if baseline:
            await swap_in_baseline(app)
        await asyncio.sleep(1.0)
        frames0 = getattr(app, "frames", 0)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        shown = app.screen.query_one("#baseline" if baseline else "#sessions").row_count if settle else 0
        return {
            "cpu_percent": round(100 * cpu / wall, 3),
            "cpu_s": round(cpu, 4),
            "wall_s": round(wall, 2),
            "snapshots": getattr(app, "frames", 0) - frames0,
            "rows": shown,
        }


async def burst(sessions: int, seconds: float, baseline: bool) -> dict:
    """A writer thread adds one request to every session every 100 ms (a busy afternoon x10)."""
    now = time.time()
    ledger = make_ledger(sessions, now, quiet_for=600)
    app = BenchApp(ledger, refresh=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await demo.settle(app, pilot)
        await pilot.press("h")
        table = await swap_in_baseline(app) if baseline else app.screen.query_one(SessionTable)
        await asyncio.sleep(0.5)
        stop = threading.Event()
        ingested: list[tuple[float, int]] = []

        def writer() -> None:
            n = 0
            while not stop.wait(0.1):
                n += 1
                ts = time.time()
                ledger.ingest(
                    ApiCall(f"00000000-0000-4000-8000-{i:012d}", None, MODELS[i % 3], f"msg_b{n}_{i}",
                            f"req_b{n}_{i}", ts, 10, 100 + n, 30_000 + n, 500, final=True)
                    for i in range(sessions)
                )  # fmt: skip
                ingested.append((time.perf_counter(), ledger.version))

        frames0, table_frames0, applied0 = app.frames, table.frames, len(app.applied)
        computed0 = len(app.snapshot_seconds)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        await asyncio.sleep(seconds)
        stop.set()
        thread.join()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        frames = app.frames - frames0
        applied = app.applied[applied0:]
        latencies = []
        for at, version in ingested:
            shown = next((t for t, v, _ in applied if v >= version), None)
            if shown is not None:
                latencies.append(shown - at)
        return {
            "cpu_percent": round(100 * cpu / wall, 2),
            "frames": frames,
            "frames_per_s": round(frames / wall, 2),
            "table_updates": table.frames - table_frames0,
            "cpu_ms_per_frame": round(1000 * cpu / max(frames, 1), 2),
            "apply_ms_median": round(1000 * statistics.median(d for *_, d in applied), 2)
            if applied
            else None,
            "latency_ms_median": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "latency_ms_max": round(1000 * max(latencies), 1) if latencies else None,
            "ingest_batches": len(ingested),
            "snapshot_ms_median": round(1000 * statistics.median(app.snapshot_seconds[computed0:]), 2),
        }


async def append_latency(appends: int) -> dict:
    """End to end: a line appended to a real transcript file, watched by the real tailer, until
    the sessions table shows the new output figure (polled every 5 ms)."""
    import json
    import tempfile

    from cctop.sources.transcripts.tailer import Tailer

    sid = "2da9138a-9060-4234-9110-d4601e2b59d1"
    with tempfile.TemporaryDirectory() as tmp:
        projects = demo.lay_out_samples(Path(tmp))
        ledger = demo.make_ledger()
        tailer = Tailer([projects], sink=ledger.ingest, warn=ledger.warn)
        tailer.start()
        try:
            tailer.wait_idle(30)
            target = projects / "-home-dev-proj1" / f"{sid}.jsonl"
            template = json.loads([x for x in target.read_text().splitlines() if '"assistant"' in x][-1])
            app = CctopApp(ledger, refresh=1.0)
            latencies = []
            async with app.run_test(size=SIZE) as pilot:
                await demo.settle(app, pilot)
                await pilot.press("h")
                table = app.screen.query_one(SessionTable)
                for n in range(appends):
                    await asyncio.sleep(0.3 + 0.07 * n)  # land at different points of the timers
                    before = table.get_cell(sid, "output").plain
                    line = dict(
                        template,
                        requestId=f"req_lat{n}",
                        uuid=f"00000000-0000-4000-8000-{n:012d}",
                        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    )
                    line["message"] = dict(template["message"], id=f"msg_lat{n}")
                    with target.open("a") as handle:
                        handle.write(json.dumps(line) + "\n")
                    start = time.perf_counter()
                    while table.get_cell(sid, "output").plain == before and time.perf_counter() - start < 5:
                        await asyncio.sleep(0.005)
                    latencies.append(time.perf_counter() - start)
        finally:
            tailer.stop()
    latencies.sort()
    return {
        "appends": appends,
        "polling_fallback": tailer.status.polling,
        "median_ms": round(1000 * statistics.median(latencies), 1),
        "max_ms": round(1000 * latencies[-1], 1),
    }  # fmt: skip


async def main_async(args) -> dict:
    now = time.time()
    results: dict = {
        "many": args.many,
        "sessions": args.sessions,
        "terminal": f"{SIZE[0]}x{SIZE[1]}",
        "seconds": args.seconds,
    }
    results["idle_baseline_empty_app"] = await idle_cpu(EmptyApp(), args.seconds, settle=False)
    quiet = make_ledger(args.sessions, now, quiet_for=3 * 3600)
    results["idle_quiet"] = await idle_cpu(CctopApp(quiet, refresh=1.0), args.seconds, settle=True)
    ticking = make_ledger(args.sessions, now, quiet_for=3 * 3600, ticking=5)
    results["idle_5_cache_countdowns"] = await idle_cpu(
        CctopApp(ticking, refresh=1.0), args.seconds, settle=True
    )
    results["idle_5_cache_countdowns_datatable"] = await idle_cpu(
        CctopApp(ticking, refresh=1.0), args.seconds, settle=True, baseline=True
    )
    many = make_ledger(args.many, now, quiet_for=3 * 86400, ticking=5)
    results["idle_many_history"] = await idle_cpu(CctopApp(many, refresh=1.0), args.seconds, settle=True)
    results["burst"] = await burst(args.sessions, args.burst_seconds, baseline=False)
    results["burst_datatable"] = await burst(args.sessions, args.burst_seconds, baseline=True)
    results["append_to_screen"] = await append_latency(args.appends)
    return results


def print_table(r: dict) -> None:
    print(f"cctop TUI, {r['sessions']} sessions, headless {r['terminal']}, {r['seconds']} s windows")
    print("CPU = this process, all threads (writer and snapshot worker included), per wall second")
    print(f"{'scenario':34} {'CPU %':>8} {'snapshots':>10}")
    for key, label in (
        ("idle_baseline_empty_app", "baseline: empty Textual app"),
        ("idle_quiet", "idle, nothing changes"),
        ("idle_5_cache_countdowns", "idle, 5 cache countdowns ticking"),
        ("idle_5_cache_countdowns_datatable", "  the same, DataTable baseline"),
        ("idle_many_history", f"{r['many']} sessions shown (h), 5 ticking"),
    ):
        row = r[key]
        print(f"{label:34} {row['cpu_percent']:>8.2f} {row['snapshots']:>10}")
    print()
    print(f"{'burst: 50 sessions x 10 updates/s':34} {'CPU %':>8} {'frames/s':>9} {'ms CPU/frame':>13} "
          f"{'snapshot ms':>12} {'apply ms':>9} {'latency ms (med/max)':>21}")  # fmt: skip
    for key, label in (("burst", "cctop line-API table"),
                       ("burst_datatable", "baseline: DataTable + update_cell")):  # fmt: skip
        row = r[key]
        latency = f"{row['latency_ms_median']!s:>10} / {row['latency_ms_max']!s:<9}"
        print(
            f"{label:34} {row['cpu_percent']:>8.1f} {row['frames_per_s']:>9.2f} "
            f"{row['cpu_ms_per_frame']:>13.1f} {row['snapshot_ms_median']:>12.2f} "
            f"{row['apply_ms_median']:>9.2f} {latency}"
        )
    a = r["append_to_screen"]
    print(
        f"\nline appended to a transcript -> shown in the table ({a['appends']} appends, real tailer"
        f"{', polling' if a['polling_fallback'] else ''}): median {a['median_ms']} ms, max {a['max_ms']} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="idle window")
    parser.add_argument("--burst-seconds", type=float, default=6.0)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--many", type=int, default=2000, help="sessions for the large idle case")
    parser.add_argument("--appends", type=int, default=12, help="lines appended for the latency figure")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print_table(results)
    out = Path(os.environ.get("CCTOP_BENCH_OUT", ROOT / "bench" / "out"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "tui.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out / 'tui.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
