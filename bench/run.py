"""The one benchmark command (``make bench``): every figure next to a baseline from the same run.

    python bench/run.py                 # 1 GB corpus (built once into bench/corpus/)
    python bench/run.py --size 100M     # a quick run

Measures, on the same corpus with the page cache warm for everyone:
- baseline: ``grep -rc '"usage"'`` over the tree;
- cold: ``cctop --once --json --no-store`` (MB/s, API calls/s, x baseline, peak RSS);
- store: ``cctop --once --json --store S``: the 1st run fills S, the 2nd is the warm figure a user
  meets, and the best of the runs after it shows the steady state.
Then runs every other ``bench/*_bench.py`` (otlp, latency, tui, store, ...) as a subprocess, each
printing its own table and writing its JSON into bench/out/. They get the corpus as
``CCTOP_BENCH_CORPUS`` (and as ``--corpus DIR`` when the script mentions that option) and the
output dir as ``CCTOP_BENCH_OUT``.
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

import corpus as corpus_builder  # noqa: E402 - bench/ is not a package

OUT = BENCH / "out"
CORPORA = BENCH / "corpus"
# Targets from the benchmarks issue, as multiples of the grep baseline.
COLD_TARGET_X = 20.0
WARM_TARGET_X = 2.5
RSS_TARGET_MB = 300.0


@dataclass
class Measure:
    name: str
    seconds: list[float] = field(default_factory=list)  # one per repeat
    rss_mb: list[float] = field(default_factory=list)  # one per repeat
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
# reports the command's own wall time, peak RSS and exit code.
_LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    report.write(f"{elapsed} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MB: the larger of the whole process tree's sampled PSS sum and
    the largest single process's RSS) and stdout of one run."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as report:
        launcher = [sys.executable, "-c", _LAUNCHER, report.name, *command]
        process = subprocess.Popen(launcher, stdout=out, stderr=subprocess.PIPE, env=env, cwd=REPO)
        sampler = TreeRssSampler(process.pid)
        sampler.start()
        assert process.stderr is not None
        err = process.stderr.read()
        process.wait()
        tree_kb = sampler.stop()
        figures = report.read().split()
        if len(figures) != 3:
            raise ChildFailed(f"the launcher failed: {err.decode(errors='replace').strip()[-1500:]}")
        elapsed, max_rss_kb, code = float(figures[0]), int(figures[1]), int(figures[2])
        if code not in (0, 1) or (code == 1 and command[0] != "grep"):
            raise ChildFailed(f"exited {code}: {err.decode(errors='replace').strip()[-1500:]}")
        out.seek(0)
        text = out.read().decode(errors="replace")
    return elapsed, max(max_rss_kb, tree_kb) / 1024, text


def measure(name: str, command: list[str], repeat: int, env: dict[str, str] | None = None) -> Measure:
    result = Measure(name)
    for _ in range(repeat):
        try:
            seconds, rss, text = run_child(command, env)
        except ChildFailed as exc:
            result.error = str(exc)
            print(f"  {name}: FAILED {result.error}", file=sys.stderr, flush=True)
            return result
        result.seconds.append(seconds)
        result.rss_mb.append(round(rss, 1))
        result.peak_rss_mb = max(result.peak_rss_mb, rss)
        result.output = text
    print(f"  {name}: best {result.best:.3f} s, peak RSS {result.peak_rss_mb:.0f} MB", file=sys.stderr,
          flush=True)
    return result


def tree_bytes(root: Path) -> tuple[int, int]:
    files = total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(directory, name))
    return files, total


def ensure_corpus(size: int, seed: int) -> Path:
    label = size_label(size)
    directory = CORPORA / f"{label}-seed{seed}"
    manifest = directory / "manifest.json"
    if manifest.exists():
        return directory
    if directory.exists():
        shutil.rmtree(directory)  # a half-built corpus from an interrupted run
    print(f"building the {label} corpus in {directory} ...", file=sys.stderr)
    building = directory.with_name(directory.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    built = corpus_builder.build(building, size, seed)
    building.rename(directory)
    print(f"  {built.files} files, {built.bytes / 2**20:.0f} MB in {built.seconds:.1f} s", file=sys.stderr)
    return directory


def size_label(size: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def cctop_env(home: Path) -> dict[str, str]:
    """The user's own ~/.claude and settings must not leak into the figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local"))
    return env


def totals_of(output: str) -> dict[str, Any]:
    return json.loads(output)["totals"]


def other_benchmarks() -> list[str]:
    """Every ``bench/*_bench.py``: modules others write, run as they are."""
    return sorted(p.stem for p in BENCH.glob("*_bench.py"))


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


def print_table(megabytes: float, rows: list[tuple[Measure, int, float | None]], baseline: float) -> None:
    """One line per measure; ``count`` is what per-second rates count (usage lines or API calls)."""
    header = (f"{'measure':42} {'seconds':>8} {'MB/s':>8} {'items/s':>10} {'x grep':>8} {'target':>10} "
              f"{'RSS MB':>8}")
    print(header)
    print("-" * len(header))
    for measure_, count, target in rows:
        if not measure_.ok:
            print(f"{measure_.name:42} FAILED: {(measure_.error or '').splitlines()[-1:]}")
            continue
        times = measure_.best / baseline
        verdict = "" if target is None else f"<={target:g}x " + ("ok" if times <= target else "MISS")
        rss = measure_.peak_rss_mb
        rss_mark = "" if measure_.name.startswith("grep") or rss <= RSS_TARGET_MB else " MISS"
        print(f"{measure_.name:42} {measure_.best:8.3f} {megabytes / measure_.best:8.0f} "
              f"{count / measure_.best:10.0f} {times:8.1f} {verdict:>10} {rss:8.0f}{rss_mark}")


def summary(measure_: Measure, megabytes: float, count: int, baseline: float) -> dict[str, Any]:
    if not measure_.ok:
        return {"name": measure_.name, "error": measure_.error}
    return {
        "name": measure_.name,
        "seconds": [round(s, 4) for s in measure_.seconds],
        "best_s": round(measure_.best, 4),
        "median_s": round(measure_.median, 4),
        "mb_per_s": round(megabytes / measure_.best, 1),
        "items_per_s": round(count / measure_.best, 1),
        "x_baseline": round(measure_.best / baseline, 2),
        "peak_rss_mb": round(measure_.peak_rss_mb, 1),
        "rss_mb": measure_.rss_mb,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cctop benchmarks against same-run baselines")
    parser.add_argument("--size", type=corpus_builder.parse_size, default=corpus_builder.GB,
                        help="corpus size, e.g. 100M or 1G (default 1G)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (best is kept)")
    parser.add_argument("--only", default=None,
                        help="comma list of *_bench modules to run, e.g. otlp_bench (default: all; 'none')")
    args = parser.parse_args(argv)
    only = None if args.only is None else {s.strip() for s in args.only.split(",") if s.strip()}

    OUT.mkdir(parents=True, exist_ok=True)
    corpus = ensure_corpus(args.size, args.seed)
    projects = corpus / "projects"
    files, size = tree_bytes(projects)
    megabytes = size / 2**20
    cctop = [sys.executable, "-m", "cctop", "--once", "--json"]

    with tempfile.TemporaryDirectory(prefix="cctop-bench-") as scratch:
        home = Path(scratch)
        env = cctop_env(home)
        # Everybody reads from the page cache: one untimed pass first. grep's output goes to a
        # file like cctop's: with stdout on /dev/null GNU grep stops at each file's first match.
        subprocess.run(["grep", "-rc", '"usage"', str(projects)], stdout=subprocess.DEVNULL)
        grep = measure("grep -rc '\"usage\"'", ["grep", "-rc", '"usage"', str(projects)], args.repeat)
        usage_lines = sum(int(line.rsplit(":", 1)[1]) for line in grep.output.splitlines() if ":" in line)
        cold = measure("cctop --once --json --no-store", [*cctop, "--no-store", "--claude-dir", str(corpus)],
                       args.repeat, env)
        store = home / "store.sqlite"
        stored = [*cctop, "--store", str(store), "--claude-dir", str(corpus)]
        fill = measure("cctop --once --json (store: 1st run)", stored, 1, env)
        # The warm figure is the very next run, as a user meets it; later runs show the steady state.
        second = measure("cctop --once --json (store: 2nd run)", stored, 1, env)
        warm = measure("cctop --once --json (store: 3rd+ runs)", stored, args.repeat, env)

    if not grep.ok:
        raise SystemExit(f"the grep baseline failed: {grep.error}")
    runs = (("cold", cold), ("fill", fill), ("second", second), ("warm", warm))
    totals = {key: totals_of(m.output) for key, m in runs if m.ok}
    calls = next(iter(totals.values()), {}).get("requests", 0)
    print(f"\ncorpus {corpus.relative_to(REPO)}: {files} files, {megabytes:.0f} MB, {calls} API calls, "
          f"{usage_lines} '\"usage\"' lines; best of {args.repeat}; {os.cpu_count()} cores")
    print_table(megabytes, [(grep, usage_lines, None), (cold, calls, COLD_TARGET_X), (fill, calls, None),
                            (second, calls, WARM_TARGET_X), (warm, calls, WARM_TARGET_X)], grep.best)
    same = len(totals) == len(runs) and all(t == totals["cold"] for t in totals.values())
    print(f"cold and every store run succeeded with identical totals: {same}")

    results: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "corpus": {"path": str(corpus.relative_to(REPO)), "files": files, "bytes": size, "api_calls": calls,
                   "usage_lines": usage_lines, "seed": args.seed},
        "repeat": args.repeat,
        "measures": {
            key: summary(m, megabytes, count, grep.best)
            for key, m, count in (("baseline_grep", grep, usage_lines), ("cold", cold, calls),
                                  ("store_fill", fill, calls), ("store_second", second, calls),
                                  ("warm", warm, calls))
        },
        "targets": {"cold_x_baseline": COLD_TARGET_X, "warm_x_baseline": WARM_TARGET_X,
                    "peak_rss_mb": RSS_TARGET_MB},
        "totals_identical": same,
        "totals": totals.get("cold"),
    }
    results["others"] = run_others(corpus, only)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {(OUT / 'results.json').relative_to(REPO)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
