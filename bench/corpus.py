"""Build a benchmark ``projects/`` tree of a chosen size from the real transcripts in tests/samples.

    python bench/corpus.py --size 1G --out bench/corpus/1G

Every file is made of copies of the sample transcripts whose ids are rewritten (session ids to the
file's session, every other uuid, ``msg_``/``req_``/``toolu_`` ids and agent ids made unique per copy),
so a deduplicating reader finds no two copies alike. Timestamps are moved into the 30 days before
``--end`` and file mtimes set to each file's last line. Rewriting is byte-level: each template is
split once into literal runs and id slots, and a copy is a join, not a JSON round trip.
The same ``--seed``, ``--size`` and ``--end`` give the same bytes.

1 GB is about 7,000 files in 60 projects (the shape the issue asks for); other sizes scale both.
``--kind`` picks the samples: ``2.1.197`` (transcripts of Claude Code 2.1.197 and older, ~13 KB per
API call), ``2.1.332`` (today's format: ~11x the bytes per call, in fewer, bigger files, 2,000 per
GB as measured on real trees) or ``all`` (every sample transcript, the default).
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"
# The attribution tests' corpus (tests/e2e/attribution_corpus.py): not a template, so the
# benchmark's mix of sessions stays what its figures were measured on.
ATTRIBUTION_CORPUS = "attribution-2.1.332"
GB = 1 << 30
FILES_PER_GB = 7000
PROJECTS_PER_GB = 60
SPREAD_DAYS = 30
SUBAGENT_SHARE = 0.2  # share of sessions that spawned subagents


@dataclass(frozen=True)
class Kind:
    folders: tuple[str, ...]  # under tests/samples
    files_per_gb: int


KINDS = {
    "all": Kind(("",), FILES_PER_GB),
    "2.1.197": Kind(("claude-code-2.1.197", "claude-jsonl"), FILES_PER_GB),
    "2.1.332": Kind(("claude-code-2.1.332/claude",), 2000),
}

_UUID = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PREFIXED = rb"(?<![A-Za-z0-9_])(?:msg|req|srvtoolu|toolu)_[A-Za-z0-9_]+"
_TIMESTAMP = rb'(?<="timestamp":")\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z(?=")'
_CWD = rb'(?<="cwd":")[^"]*(?=")'

# Kinds of slot in a template.
SESSION, UUID, PREFIXED, AGENT, TIMESTAMP, CWD = range(6)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)B?", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 100M or 1G)")
    return int(float(match.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": GB}[match.group(2)])


def _iso_to_epoch(value: bytes) -> float:
    text = value.decode()
    whole, _, frac = text[:-1].partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)


def _epoch_to_iso(epoch: float) -> bytes:
    millis = int(round(epoch * 1000))
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000))
    return f"{whole}.{millis % 1000:03d}Z".encode()


@dataclass
class Template:
    """A sample transcript split into literal byte runs and (kind, original value, extra) slots."""

    name: str
    parts: list[bytes | tuple[int, bytes, float]]
    size: int
    span_s: float  # last timestamp minus first
    agent_id: bytes | None  # set for subagent transcripts
    meta: dict[str, object] | None  # the agent-*.meta.json beside it, if any

    @classmethod
    def load(cls, path: Path) -> Template:
        data = path.read_bytes()
        sessions: set[bytes] = set()
        agents: set[bytes] = set()
        for line in data.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            for name in ("sessionId", "requestSessionId"):  # a fork's copied lines name their maker
                if isinstance(record.get(name), str):
                    sessions.add(record[name].encode())
            for holder in (record, record.get("toolUseResult")):
                if isinstance(holder, dict) and isinstance(holder.get("agentId"), str):
                    agents.add(holder["agentId"].encode())
        own_agent = None
        if path.name.startswith("agent-"):
            own_agent = path.stem.removeprefix("agent-").encode()
            agents.add(own_agent)
        alternatives = [_TIMESTAMP, _CWD, _UUID, _PREFIXED]
        alternatives += [rb"(?<![0-9A-Za-z])" + re.escape(a) + rb"(?![0-9A-Za-z])" for a in sorted(agents)]
        pattern = re.compile(b"|".join(b"(" + a + b")" for a in alternatives))
        kinds_by_group = [TIMESTAMP, CWD, UUID, PREFIXED] + [AGENT] * len(agents)

        parts: list[bytes | tuple[int, bytes, float]] = []
        first_ts: float | None = None
        last_ts = 0.0
        position = 0
        for match in pattern.finditer(data):
            parts.append(data[position : match.start()])
            value = match.group(0)
            kind = kinds_by_group[match.lastindex - 1] if match.lastindex else UUID
            offset = 0.0
            if kind == UUID and value in sessions:
                kind = SESSION
            elif kind == TIMESTAMP:
                epoch = _iso_to_epoch(value)
                first_ts = epoch if first_ts is None else min(first_ts, epoch)
                last_ts = max(last_ts, epoch)
                offset = epoch
            parts.append((kind, value, offset))
            position = match.end()
        parts.append(data[position:])
        base = first_ts or 0.0
        parts = [(p[0], p[1], p[2] - base) if isinstance(p, tuple) and p[0] == TIMESTAMP else p
                 for p in parts]
        meta_path = path.with_name(path.stem + ".meta.json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
        return cls(path.name, parts, len(data), max(0.0, last_ts - base), own_agent, meta)

    def render(self, copy: int, session_id: bytes, start: float, cwd: bytes) -> bytes:
        """One copy: ids unique to ``copy``, session ids set to ``session_id``, times from ``start``."""
        tag = b"%08x" % copy
        cache: dict[bytes, bytes] = {}
        timestamps: dict[float, bytes] = {}
        out: list[bytes] = []
        append = out.append
        for part in self.parts:
            if isinstance(part, bytes):
                append(part)
                continue
            kind, value, offset = part
            if kind == TIMESTAMP:
                stamp = timestamps.get(offset)
                if stamp is None:
                    stamp = timestamps[offset] = _epoch_to_iso(start + offset)
                append(stamp)
            elif kind == SESSION:
                append(session_id)
            elif kind == CWD:
                append(cwd)
            else:
                new = cache.get(value)
                if new is None:
                    new = cache[value] = rewrite_id(kind, value, tag)
                append(new)
        return b"".join(out)


def rewrite_id(kind: int, value: bytes, tag: bytes) -> bytes:
    if kind == UUID:
        return tag + value[8:]
    if kind == PREFIXED:
        prefix, _, rest = value.partition(b"_")
        return prefix + b"_" + tag + rest
    return value + tag  # agent id: keep its prefix (``acompact-`` means something)


def load_templates(samples: Path = SAMPLES, kind: str = "all") -> tuple[list[Template], list[Template]]:
    """(main-session templates, subagent templates) from the sample transcripts of ``kind``."""
    mains: list[Template] = []
    subagents: list[Template] = []
    paths = {p for folder in KINDS[kind].folders for p in (samples / folder).rglob("*.jsonl")}
    for path in sorted(paths):
        if path.name.startswith("otlp") or ATTRIBUTION_CORPUS in path.parts:
            continue
        template = Template.load(path)
        (subagents if template.agent_id else mains).append(template)
    if not mains or not subagents:
        raise SystemExit(f"no sample transcripts under {samples}")
    return mains, subagents


@dataclass
class Manifest:
    size: int
    seed: int
    end: float
    files: int = 0
    bytes: int = 0
    projects: int = 0
    sessions: int = 0
    copies: int = 0
    seconds: float = 0.0


def file_sizes(rng: random.Random, count: int, total: int) -> list[int]:
    """Skewed sizes (a few huge sessions, many small ones) adding up to about ``total``."""
    raw = [rng.lognormvariate(0.0, 1.3) for _ in range(count)]
    scale = total / sum(raw)
    return [max(4096, int(r * scale)) for r in raw]


def build(out: Path, size: int, seed: int = 7, end: float | None = None,
          progress: Callable[[str], None] | None = None, kind: str = "all") -> Manifest:
    started = time.perf_counter()
    rng = random.Random(seed)
    end = end if end is not None else (time.time() // 86400) * 86400
    mains, subagents = load_templates(kind=kind)
    ratio = size / GB
    files = max(10, round(KINDS[kind].files_per_gb * ratio))
    projects = max(2, round(PROJECTS_PER_GB * ratio))
    manifest = Manifest(size=size, seed=seed, end=end, projects=projects)
    sizes = file_sizes(rng, files, size)
    # Zipf-like project weights: a few busy projects, a long tail.
    kinds = ["app", "svc", "lib", "web", "tool"]
    project_names = [f"-home-dev-{rng.choice(kinds)}{i:02d}" for i in range(projects)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(projects)]
    root = out / "projects"
    slots = _Budget(sizes, size)
    copy = 0

    def fill(target: int, pool: list[Template], session_id: bytes, cwd: bytes, start: float,
             handle) -> tuple[int, float]:
        nonlocal copy
        written = 0
        when = start
        while written < target:
            # Prefer copies that fit, so small files stay small and the total lands near --size.
            room = target - written
            fitting = [t for t in pool if t.size <= room] or [min(pool, key=lambda t: t.size)]
            template = rng.choice(fitting)
            copy += 1
            chunk = template.render(copy, session_id, when, cwd)
            handle.write(chunk)
            written += len(chunk)
            when += template.span_s + rng.uniform(20, 900)
        return written, when

    while (target := slots.take(manifest.bytes)) is not None:
        project = rng.choices(range(projects), weights)[0]
        session_id = _uuid(rng)
        cwd = project_names[project].replace("-", "/").encode()
        start = end - rng.uniform(0, SPREAD_DAYS * 86400)
        directory = root / project_names[project]
        directory.mkdir(parents=True, exist_ok=True)
        main_path = directory / f"{session_id.decode()}.jsonl"
        with open(main_path, "wb") as handle:
            written, finished = fill(target, mains, session_id, cwd, start, handle)
        _touch(main_path, min(finished, end))
        manifest.files += 1
        manifest.bytes += written
        manifest.sessions += 1
        if rng.random() < SUBAGENT_SHARE:
            for _ in range(rng.randint(1, 3)):
                sub_target = slots.take(manifest.bytes)
                if sub_target is None:
                    break
                count, written = _subagent(directory, session_id, cwd, start, sub_target, subagents,
                                           rng, fill)
                manifest.files += count
                manifest.bytes += written
        if progress and manifest.sessions % 500 == 0:
            progress(f"{manifest.files} files, {manifest.bytes / 2**20:.0f} MB")
    manifest.copies = copy
    manifest.seconds = round(time.perf_counter() - started, 2)
    (out / "manifest.json").write_text(json.dumps(manifest.__dict__, indent=2) + "\n")
    return manifest


class _Budget:
    """Hands out file sizes, scaled as files get written so the total lands near the goal
    (whole copies overshoot small targets)."""

    def __init__(self, sizes: list[int], goal: int) -> None:
        self._sizes = sizes
        self._goal = goal
        self._next = 0
        self._left = sum(sizes)

    def take(self, written: int) -> int | None:
        if self._next >= len(self._sizes):
            return None
        size = self._sizes[self._next]
        scale = max(self._goal - written, 0) / self._left if self._left else 1.0
        self._left -= size
        self._next += 1
        return max(1, int(size * scale))


def _subagent(directory: Path, session_id: bytes, cwd: bytes, start: float, target: int,
              pool: list[Template], rng: random.Random, fill) -> tuple[int, int]:
    """A subagent file (and its meta.json where the sample had one) under ``<session>/subagents``."""
    template = rng.choice(pool)
    agent_id = (template.agent_id or b"a") + b"%08x" % rng.getrandbits(32)
    subdir = directory / session_id.decode() / "subagents"
    subdir.mkdir(parents=True, exist_ok=True)
    path = subdir / f"agent-{agent_id.decode()}.jsonl"
    # All copies in one subagent file carry one agent id: a subagent is one agent.
    pinned = Template(template.name, [
        (p if not (isinstance(p, tuple) and p[0] == AGENT and p[1] == template.agent_id) else agent_id)
        for p in template.parts
    ], template.size, template.span_s, agent_id, template.meta)
    when = start + rng.uniform(5, 600)
    with open(path, "wb") as handle:
        written, finished = fill(target, [pinned], session_id, cwd, when, handle)
    _touch(path, finished)
    count = 1
    if template.meta is not None:
        meta = dict(template.meta, toolUseId=f"toolu_{rng.getrandbits(64):016x}")
        (subdir / f"agent-{agent_id.decode()}.meta.json").write_text(json.dumps(meta))
        count += 1
    return count, written


def _uuid(rng: random.Random) -> bytes:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}".encode()


def _touch(path: Path, epoch: float) -> None:
    os.utime(path, (epoch, epoch))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a benchmark ~/.claude tree from tests/samples.")
    parser.add_argument("--size", type=parse_size, default=GB,
                        help="total size, e.g. 100M or 1G (default 1G)")
    parser.add_argument("--out", type=Path, required=True, help="directory to create (gets projects/ inside)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kind", choices=sorted(KINDS), default="all", help="which samples (default all)")
    parser.add_argument("--end", type=float, default=None,
                        help="newest timestamp as POSIX seconds (default: today 00:00 UTC)")
    args = parser.parse_args(argv)
    if (args.out / "projects").exists():
        print(f"{args.out}/projects exists; remove it first", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = build(args.out, args.size, args.seed, args.end,
                     progress=lambda msg: print(msg, file=sys.stderr), kind=args.kind)
    rate = manifest.bytes / 2**20 / max(manifest.seconds, 1e-9)
    print(f"{manifest.files} files, {manifest.sessions} sessions, {manifest.projects} projects, "
          f"{manifest.bytes / 2**20:.0f} MB in {manifest.seconds:.1f} s ({rate:.0f} MB/s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
