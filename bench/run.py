"""The one benchmark command (``make bench``): every figure next to baselines from the same run.

    python bench/run.py                          # both 1 GB trees (built once into bench/corpus/)
    python bench/run.py --size 200M --only none  # a quick run, no other benchmark modules
    python bench/run.py --before ../main         # also measure another checkout, interleaved

Two trees are built from the real samples in tests/samples (bench/corpus.py): one cloned from
Claude Code 2.1.197 (and older) sessions, one from 2.1.332 sessions (today's format, ~11x the
bytes per call). On each, with the page cache warm for everyone (one untimed grep first), and
``--repeat`` interleaved rounds of the cold commands (so load from other processes on the machine
hits all of them alike):
- ``grep -rc '"usage"'`` (output to a file: GNU grep stops at a file's first match on /dev/null);
- ccusage (``session --json --offline``, CLAUDE_CONFIG_DIR = the tree; pinned, installed from npm
  into bench/.cache; skipped with a note when it cannot be installed);
- cold: ``cctop --once --json --no-store`` (and the ``--before`` checkout's, in the same rounds);
  its ratio to ccusage is the median of the per-round ratios;
- TUI first start, empty store (bench/tui_start_bench.py: the real live view at 80x24, headless,
  in a fresh process; a checkout without it runs bench/startup_bench.py, the tailer alone): a live
  session on screen counted from the launch of the process, the whole history in the store, and
  how long the UI's event loop was held up meanwhile;
- ``cctop --once --json --store S``: the first run fills S, then the warm runs answer from it.
The token totals of cctop and ccusage are compared, and cctop's cold and store runs must agree.
Then every other ``bench/*_bench.py`` runs on the first tree (``--only`` picks), each printing its
own table and writing its JSON into bench/out/ (they get the tree as ``CCTOP_BENCH_CORPUS``, and as
``--corpus DIR`` when the script mentions that option, and the output dir as ``CCTOP_BENCH_OUT``).
Writes bench/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import ccusage  # noqa: E402 - bench/ is not a package
import corpus as corpus_builder  # noqa: E402
import tui_start_bench  # noqa: E402

OUT = BENCH / "out"
CORPORA = BENCH / "corpus"
# Targets: the cold scan at most as slow as ccusage, in memory and seconds.
COLD_TARGET_X = 1.0
RSS_TARGET_MB = 200.0
LIVE_TARGET_S = 0.3
UI_LAG_TARGET_MS = 100.0  # "responsive throughout": no input waits longer than this
HISTORY_TARGET_S = 2.0
HISTORY_TARGET_TREE = "2.1.332"
WARM_TARGET_S = 0.25
TREES = ("2.1.197", "2.1.332")


@dataclass
class Measure:
    name: str
    seconds: list[float] = field(default_factory=list)  # one per repeat
    rss_mb: list[float] = field(default_factory=list)  # one per repeat
    cpu: list[float] = field(default_factory=list)  # user + system seconds, workers included
    peak_rss_mb: float = 0.0
    output: str = ""  # stdout of the last repeat (not saved)
    error: str | None = None  # why the command failed; the other measures still run

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class ChildFailed(RuntimeError):
    pass


def _tree_rss_kb(root: int) -> int:
    """Memory of all descendants of a process (not the process: the launcher), from /proc
    (Linux): proportional set size (shared pages split between the processes sharing them, so
    forked workers are not counted twice), or VmRSS where smaps_rollup cannot be read."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields resume after the last ')'.
        parents[int(entry)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    total = 0
    for pid in parents:
        if pid == root:
            continue
        walk = pid
        while walk and walk != root:
            walk = parents.get(walk, 0)
        if walk == root:
            total += _memory_kb(pid)
    return total


def _memory_kb(pid: int) -> int:
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as handle:
                for line in handle:
                    if line.startswith(key):
                        return int(line.split()[1])
        except OSError:
            continue
    return 0


class TreeRssSampler(threading.Thread):
    """Samples the summed memory of a process tree: worker processes count too, which the
    ``wait4`` figure (the largest single process) misses."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval_s = interval_s
        self.peak_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self._stop_event.wait(self.interval_s):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak_kb


# A process's ru_maxrss starts at its parent's RSS when it was spawned (the address space is
# shared or copied until exec), and this process grows as it keeps outputs: commands spawned
# from here would carry that in their figure. A small launcher runs each command instead and
# reports the command's own wall time, peak RSS, CPU time (user + system, of the command and the
# processes it waited for: worker pools included) and exit code.
_LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
os.environ["CCTOP_BENCH_LAUNCHED_AT"] = repr(time.monotonic())  # a command may count from here
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    cpu = usage.ru_utime + usage.ru_stime
    report.write(f"{elapsed} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} {cpu}")
"""


def run_child(
    command: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> tuple[float, float, str, float]:
    """Wall seconds, peak memory (MB: the larger of the whole process tree's sampled PSS sum and
    the largest single process's RSS), stdout and CPU seconds of one run."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as report:
        launcher = [sys.executable, "-c", _LAUNCHER, report.name, *command]
        process = subprocess.Popen(launcher, stdout=out, stderr=subprocess.PIPE, env=env, cwd=cwd)
        sampler = TreeRssSampler(process.pid)
        sampler.start()
        assert process.stderr is not None
        err = process.stderr.read()
        process.wait()
        tree_kb = sampler.stop()
        figures = report.read().split()
        if len(figures) != 4:
            raise ChildFailed(f"the launcher failed: {err.decode(errors='replace').strip()[-1500:]}")
        elapsed, cpu = float(figures[0]), float(figures[3])
        max_rss_kb, code = int(figures[1]), int(figures[2])
        if code not in (0, 1) or (code == 1 and command[0] != "grep"):
            raise ChildFailed(f"exited {code}: {err.decode(errors='replace').strip()[-1500:]}")
        out.seek(0)
        text = out.read().decode(errors="replace")
    return elapsed, max(max_rss_kb, tree_kb) / 1024, text, cpu


def run_once(
    result: Measure, command: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> None:
    """One more run of ``command`` into ``result`` (none after a failure)."""
    if result.error is not None:
        return
    try:
        seconds, rss, text, cpu = run_child(command, env, cwd)
    except ChildFailed as exc:
        result.error = str(exc)
        print(f"  {result.name}: FAILED {result.error}", file=sys.stderr, flush=True)
        return
    result.seconds.append(seconds)
    result.rss_mb.append(round(rss, 1))
    result.cpu.append(round(cpu, 3))
    result.peak_rss_mb = max(result.peak_rss_mb, rss)
    result.output = text
    print(f"  {result.name}: {seconds:.3f} s, {cpu:.2f} s CPU, {rss:.0f} MB", file=sys.stderr, flush=True)


def measure(
    name: str, command: list[str], repeat: int, env: dict[str, str] | None = None, cwd: Path = REPO
) -> Measure:
    result = Measure(name)
    for _ in range(repeat):
        run_once(result, command, env, cwd)
    return result


def tree_bytes(root: Path) -> tuple[int, int]:
    files = total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(directory, name))
    return files, total


def ensure_corpus(size: int, seed: int, kind: str = "all") -> Path:
    label = size_label(size)
    directory = CORPORA / (f"{label}-seed{seed}" if kind == "all" else f"{kind}-{label}-seed{seed}")
    manifest = directory / "manifest.json"
    if manifest.exists():
        return directory
    if directory.exists():
        shutil.rmtree(directory)  # a half-built corpus from an interrupted run
    print(f"building the {label} corpus in {directory} ...", file=sys.stderr)
    building = directory.with_name(directory.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    built = corpus_builder.build(building, size, seed, kind=kind)
    building.rename(directory)
    print(f"  {built.files} files, {built.bytes / 2**20:.0f} MB in {built.seconds:.1f} s", file=sys.stderr)
    return directory


def size_label(size: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def cctop_env(home: Path) -> dict[str, str]:
    """The user's own ~/.claude and settings must not leak into the figures. Python keeps its
    compiled modules, as an installed cctop does (see ``compile_checkouts``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLAUDE", "CCTOP")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local"))
    return env


def compile_checkouts(checkouts: list[Path]) -> None:
    """Byte-compile each measured checkout first: pip compiles an installed package, but a
    source checkout run with PYTHONDONTWRITEBYTECODE set (as some shells and CI images do)
    would compile every module on every run, ~30 ms that no user pays."""
    for checkout in checkouts:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "cctop")],
                       stdout=subprocess.DEVNULL, env=env, check=False)  # fmt: skip


def totals_of(output: str) -> dict[str, Any]:
    return json.loads(output)["totals"]


def other_benchmarks() -> list[str]:
    """Every ``bench/*_bench.py``: modules others write, run as they are (but the TUI start,
    measured on every tree above)."""
    return sorted(p.stem for p in BENCH.glob("*_bench.py") if p.stem != "tui_start_bench")


def _json_mtimes() -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in OUT.glob("*.json") if p.name != "results.json"}


def run_others(corpus: Path, only: set[str] | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in other_benchmarks():
        script = BENCH / f"{name}.py"
        if only is not None and name not in only:
            continue
        print(f"\n== {name} ==", flush=True)
        env = dict(os.environ, CCTOP_BENCH_CORPUS=str(corpus), CCTOP_BENCH_OUT=str(OUT))
        command = [sys.executable, str(script)]
        if "--corpus" in script.read_text(encoding="utf-8"):
            command += ["--corpus", str(corpus)]
        before = _json_mtimes()
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=REPO)
        written = sorted(name for name, mtime in _json_mtimes().items() if before.get(name) != mtime)
        results[name] = {
            "exit_code": done.returncode,
            "seconds": round(time.perf_counter() - started, 2),
            "json": [str((OUT / n).relative_to(REPO)) for n in written],
        }
    return results



@dataclass
class Tree:
    """The measures on one tree."""

    kind: str
    path: Path
    files: int
    megabytes: float
    grep: Measure
    ccusage: Measure | None
    ccusage_alone: Measure | None  # its native binary without npm's launcher
    cold: list[Measure]  # this checkout's, then --before's
    first_start: list[Measure]  # output: tui_start_bench's (or startup_bench's) JSON line
    fill: Measure
    warm: Measure
    calls: int = 0
    notes: list[str] = field(default_factory=list)


def _ratio(cold: Measure, ccusage: Measure | None, cpu: bool = False) -> float | None:
    """Median of the per-round ratios cctop / ccusage (of wall seconds, or of CPU seconds)."""
    if ccusage is None or not cold.ok or not ccusage.ok:
        return None
    pairs = zip(cold.cpu, ccusage.cpu) if cpu else zip(cold.seconds, ccusage.seconds)  # noqa: B905
    return statistics.median(a / b for a, b in pairs if b > 0)


def _cpu(m: Measure) -> str:
    return f"{statistics.median(m.cpu):.2f}" if m.ok and m.cpu else ""


def _startup(output: str) -> dict[str, Any]:
    try:
        return json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}


def measure_tree(kind: str, args: argparse.Namespace, ccusage_command: list[str] | None) -> Tree:
    corpus = ensure_corpus(args.size, args.seed, kind)
    projects = corpus / "projects"
    files, size = tree_bytes(projects)
    checkouts = [("cctop", REPO)] + ([(f"before ({args.before.name})", args.before)] if args.before else [])
    print(f"\n== tree {kind}: {corpus.relative_to(REPO)} ==", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="cctop-bench-") as scratch:
        home = Path(scratch)
        env = cctop_env(home)
        grep_command = ["grep", "-rc", '"usage"', str(projects)]
        subprocess.run(grep_command, stdout=subprocess.DEVNULL)  # the page cache, warm for everyone
        grep = Measure("grep -rc '\"usage\"'")
        usage = Measure(f"ccusage {ccusage.VERSION} session --json --offline") if ccusage_command else None
        alone_command = ccusage.binary_alone(ccusage_command) if ccusage_command else None
        alone = Measure("  its native binary alone (no npm launcher)") if alone_command else None
        cold = [Measure(f"{label} --once --json --no-store") for label, _ in checkouts]
        for _ in range(args.repeat):
            run_once(grep, grep_command)
            if usage is not None and ccusage_command is not None:
                run_once(usage, ccusage_command, dict(env, CLAUDE_CONFIG_DIR=str(corpus)))
            if alone is not None and alone_command is not None:
                run_once(alone, alone_command, dict(env, CLAUDE_CONFIG_DIR=str(corpus)))
            for measure_, (_, checkout) in zip(cold, checkouts, strict=True):
                command = [sys.executable, "-m", "cctop", "--once", "--json", "--no-store", "--claude-dir",
                           str(corpus)]  # fmt: skip
                run_once(measure_, command, env, checkout)
        first_start = []
        for label, checkout in checkouts:
            live = home / f"live-{len(first_start)}" / "projects" / "-home-dev-live"
            live.mkdir(parents=True)
            tui_start_bench.live_copy(live)  # written a moment ago, its lines stamped now
            script = checkout / "bench" / "tui_start_bench.py"
            headless = not script.exists()  # an older checkout: the tailer alone
            script = checkout / "bench" / "startup_bench.py" if headless else script
            command = [sys.executable, str(script), "--one", str(projects), str(live.parent),
                       str(home / f"startup-{len(first_start)}.sqlite3")]  # fmt: skip
            name = f"{label} TUI first start{' (tailer alone)' if headless else ''} (empty store)"
            first_start.append(measure(name, command, 1, env, checkout))
        stored = [sys.executable, "-m", "cctop", "--once", "--json", "--store", str(home / "store.sqlite3"),
                  "--claude-dir", str(corpus)]  # fmt: skip
        fill = measure("cctop --once --json (fills the store)", stored, 1, env)
        warm = measure("cctop --once --json (warm store)", stored, args.repeat, env)
    tree = Tree(kind, corpus, files, size / 2**20, grep, usage, alone, cold, first_start, fill, warm)
    totals = [totals_of(m.output) for m in (cold[0], fill, warm) if m.ok]
    tree.calls = totals[0]["requests"] if totals else 0
    if len(totals) != 3 or any(t != totals[0] for t in totals):
        tree.notes.append("MISMATCH: cctop's cold and store runs disagree (or one failed)")
    if usage is not None and usage.ok and totals:
        theirs = ccusage.tokens(usage.output)
        ours = {k: totals[0][k] for k in theirs}
        tree.notes.append("token totals: cctop and ccusage agree" if ours == theirs
                          else f"token totals differ: cctop {ours}, ccusage {theirs}")
    return tree


def _seconds(m: Measure) -> str:
    if not m.ok:
        return "FAILED"
    low, high = min(m.seconds), max(m.seconds)
    spread = f" ({low:.2f}-{high:.2f})" if len(m.seconds) > 1 else ""
    return f"{m.median:.3f}{spread}"


def print_tree(tree: Tree, ccusage_note: str, repeat: int) -> None:
    print(f"\ntree {tree.kind}: {tree.path.relative_to(REPO)}, {tree.files} files, {tree.megabytes:.0f} MB, "
          f"{tree.calls} API calls; median of {repeat} interleaved rounds; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    header = (f"{'measure':52} {'seconds (range)':>20} {'x ccusage':>9} {'CPU s':>6} {'x ccusage':>9} "
              f"{'RSS MB':>6}  target")  # fmt: skip
    print(header)
    print("-" * len(header))

    def row(name: str, seconds: str, ratio: str = "", rss: float | None = None, target: str = "",
            cpu: str = "", cpu_ratio: str = "") -> None:  # fmt: skip
        print(f"{name:52} {seconds:>20} {ratio:>9} {cpu:>6} {cpu_ratio:>9} "
              f"{'' if rss is None else f'{rss:.0f}':>6}  {target}")  # fmt: skip

    row(tree.grep.name, _seconds(tree.grep), cpu=_cpu(tree.grep))
    if tree.ccusage is not None:
        usage = tree.ccusage
        row(usage.name, _seconds(usage), "1.00", usage.peak_rss_mb, cpu=_cpu(usage), cpu_ratio="1.00")
        alone = tree.ccusage_alone
        if alone is not None:
            ratio, cpu_ratio = _ratio(alone, usage), _ratio(alone, usage, cpu=True)
            row(alone.name, _seconds(alone), "-" if ratio is None else f"{ratio:.2f}", alone.peak_rss_mb,
                cpu=_cpu(alone), cpu_ratio="-" if cpu_ratio is None else f"{cpu_ratio:.2f}")  # fmt: skip
    else:
        row(ccusage_note, "-")
    for cold in tree.cold:
        ratio = _ratio(cold, tree.ccusage)
        cpu_ratio = _ratio(cold, tree.ccusage, cpu=True)
        verdict = f"<= {COLD_TARGET_X:g}x, <= {RSS_TARGET_MB:g} MB: " + (
            "ok" if ratio is not None and ratio <= COLD_TARGET_X and cold.peak_rss_mb <= RSS_TARGET_MB
            else "MISS")  # fmt: skip
        row(cold.name, _seconds(cold), "-" if ratio is None else f"{ratio:.2f}", cold.peak_rss_mb, verdict,
            _cpu(cold), "-" if cpu_ratio is None else f"{cpu_ratio:.2f}")  # fmt: skip
    for start in tree.first_start:
        figures = _startup(start.output)
        live = figures.get("live_on_screen_s")
        loaded = figures.get("history_in_store_s", figures.get("history_loaded_s"))
        name = start.name.removesuffix(" (empty store)")
        row(f"{name}: live session on screen", "-" if live is None else f"{live:.3f}", "", None,
            f"<= {LIVE_TARGET_S:g} s: " + ("ok" if live is not None and live <= LIVE_TARGET_S else "MISS"))
        # The issue sets this target on today's format only (the 2.1.197 tree has ~9x the calls).
        history_ok = loaded is not None and loaded <= HISTORY_TARGET_S
        history_verdict = (
            f"<= {HISTORY_TARGET_S:g} s: " + ("ok" if history_ok else "MISS")
            if tree.kind == HISTORY_TARGET_TREE
            else f"(target on {HISTORY_TARGET_TREE} only)"
        )
        row(f"{name}: whole history in the store", "-" if loaded is None else f"{loaded:.3f}", "",
            start.peak_rss_mb, history_verdict)  # fmt: skip
        fill = figures.get("during_fill")
        if fill:  # the real live view: how long the UI waited at worst while the history loaded
            lag = fill["loop_lag_max_ms"]
            lag_ok = lag is not None and lag <= UI_LAG_TARGET_MS
            row(f"{name}: UI held up at most (ms)", "-" if lag is None else f"{lag:.0f}", "", None,
                f"<= {UI_LAG_TARGET_MS:g} ms: " + ("ok" if lag_ok else "MISS"))  # fmt: skip
    row(tree.fill.name, _seconds(tree.fill), "", tree.fill.peak_rss_mb, cpu=_cpu(tree.fill))
    warm_ok = tree.warm.ok and tree.warm.median <= WARM_TARGET_S
    row(tree.warm.name, _seconds(tree.warm), "", tree.warm.peak_rss_mb,
        f"<= {WARM_TARGET_S:g} s: " + ("ok" if warm_ok else "MISS"), _cpu(tree.warm))
    for cold in tree.cold if tree.ccusage_alone is not None else ():
        ratio, cpu_ratio = _ratio(cold, tree.ccusage_alone), _ratio(cold, tree.ccusage_alone, cpu=True)
        if ratio is not None and cpu_ratio is not None:
            print(f"{cold.name} / ccusage's binary alone: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU")
    for note in tree.notes:
        print(note)


def summary(m: Measure) -> dict[str, Any]:
    if not m.ok:
        return {"name": m.name, "error": m.error}
    return {"name": m.name, "seconds": [round(s, 4) for s in m.seconds], "median_s": round(m.median, 4),
            "cpu_s": m.cpu, "peak_rss_mb": round(m.peak_rss_mb, 1), "rss_mb": m.rss_mb}


def tree_results(tree: Tree) -> dict[str, Any]:
    return {
        "path": str(tree.path.relative_to(REPO)), "files": tree.files, "megabytes": round(tree.megabytes, 1),
        "api_calls": tree.calls,
        "grep": summary(tree.grep),
        "ccusage": None if tree.ccusage is None else summary(tree.ccusage),
        "ccusage_binary_alone": None if tree.ccusage_alone is None else summary(tree.ccusage_alone),
        "cold": [
            dict(summary(m), x_ccusage=_ratio(m, tree.ccusage), cpu_x_ccusage=_ratio(m, tree.ccusage, True),
                 x_ccusage_binary_alone=_ratio(m, tree.ccusage_alone))
            for m in tree.cold
        ],
        "first_start": [dict(summary(m), **_startup(m.output)) for m in tree.first_start],
        "fill": summary(tree.fill),
        "warm": summary(tree.warm),
        "notes": tree.notes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cctop benchmarks against same-run baselines")
    parser.add_argument("--size", type=corpus_builder.parse_size, default=corpus_builder.GB,
                        help="size of each tree, e.g. 200M or 1G (default 1G)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the cold commands")
    parser.add_argument("--trees", default=",".join(TREES), help="comma list of tree kinds (default both)")
    parser.add_argument("--before", type=Path, default=None,
                        help="another cctop checkout to measure in the same rounds (e.g. main)")
    parser.add_argument("--only", default=None,
                        help="comma list of *_bench modules to run, e.g. otlp_bench (default: all; 'none')")
    args = parser.parse_args(argv)
    only = None if args.only is None else {s.strip() for s in args.only.split(",") if s.strip()}
    kinds = [k.strip() for k in args.trees.split(",") if k.strip()]
    if args.before is not None:
        args.before = args.before.resolve()

    OUT.mkdir(parents=True, exist_ok=True)
    compile_checkouts([REPO] + ([args.before] if args.before else []))
    ccusage_command, ccusage_note = ccusage.install()
    print(ccusage_note, file=sys.stderr)
    trees = [measure_tree(kind, args, ccusage_command) for kind in kinds]
    for tree in trees:
        print_tree(tree, ccusage_note, args.repeat)
    same = all(not n.startswith("MISMATCH") for tree in trees for n in tree.notes)
    results: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "ccusage": ccusage_note,
        "repeat": args.repeat,
        "seed": args.seed,
        "trees": {tree.kind: tree_results(tree) for tree in trees},
        "targets": {"cold_x_ccusage": COLD_TARGET_X, "peak_rss_mb": RSS_TARGET_MB, "live_s": LIVE_TARGET_S,
                    "history_s": HISTORY_TARGET_S, "warm_s": WARM_TARGET_S},
    }
    if trees:
        results["others"] = run_others(trees[0].path, only)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {(OUT / 'results.json').relative_to(REPO)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
