"""Where transcripts live, and which files under a ``projects/`` root are transcripts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from cctop.sources.transcripts.jsonl import FileRole, classify

Warn = Callable[[str], None]


def projects_dir(entry: Path) -> Path:
    """A config dir (``~/.claude``) or its ``projects/`` dir -> the ``projects/`` dir."""
    return entry if entry.name == "projects" else entry / "projects"


def default_roots(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[Path]:
    """Every ``CLAUDE_CONFIG_DIR`` entry, then ``~/.config/claude`` and ``~/.claude``."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    entries = [Path(p).expanduser() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    xdg = env.get("XDG_CONFIG_HOME")
    entries.append((Path(xdg) if xdg else home / ".config") / "claude")
    entries.append(home / ".claude")
    return unique_roots(entries)


def unique_roots(entries: Sequence[Path]) -> list[Path]:
    """``projects/`` dirs for the entries, without duplicates (a symlinked root counts once)."""
    seen: set[str] = set()
    roots: list[Path] = []
    for entry in entries:
        root = projects_dir(Path(entry).expanduser())
        try:
            identity = str(root.resolve())
        except OSError:
            identity = str(root.absolute())
        if identity not in seen:
            seen.add(identity)
            roots.append(root)
    return roots


@dataclass(frozen=True, slots=True)
class TranscriptFile:
    path: Path
    root: Path
    role: FileRole
    size: int
    mtime: float
    device: int
    inode: int


def find_transcripts(root: Path, warn: Warn) -> Iterator[TranscriptFile]:
    """Every transcript under one ``projects/`` root. Unreadable dirs warn once and are skipped.

    Start-up waits on this walk (live sessions are read right after it), so paths stay
    strings here: no pathlib per entry."""
    if not root.is_dir():
        return
    prefix = len(str(root)) + 1
    stack = [str(root)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            warn(f"cannot read {directory}: {exc.strerror or exc}")
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if not entry.name.endswith(".jsonl"):
                    continue
                role = classify(PurePath(*entry.path[prefix:].split(os.sep)))
                if role is None:
                    continue
                st = entry.stat()
            except OSError as exc:
                warn(f"cannot read {entry.path}: {exc.strerror or exc}")
                continue
            yield TranscriptFile(Path(entry.path), root, role, st.st_size, st.st_mtime, st.st_dev, st.st_ino)


def subagent_meta_path(transcript: Path) -> Path:
    """``agent-X.jsonl`` -> ``agent-X.meta.json`` beside it."""
    return transcript.with_name(transcript.name[: -len(".jsonl")] + ".meta.json")
