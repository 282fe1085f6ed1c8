"""Where transcripts live, and which files under a ``projects/`` root are transcripts: the one
walk of a root (start-up, ``--once``'s quick check, a directory that appeared), the one
classifier and the one notion of a project."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath

import msgspec

from cctop.sources.transcripts.jsonl import FileRole

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


def classify(relative: PurePath | Sequence[str]) -> FileRole | None:
    """Role of a file given its path relative to a ``projects/`` root (or that path's parts);
    None = not a transcript."""
    parts = relative.parts if isinstance(relative, PurePath) else relative
    name = parts[-1] if parts else ""
    if not name.endswith(".jsonl") or name == "journal.jsonl" or len(parts) < 2:
        return None
    stem = name[: -len(".jsonl")]
    if len(parts) == 2:  # projects/<enc>/<file>.jsonl
        if stem.startswith("agent-"):
            return FileRole(session_id=None, agent_id=stem[len("agent-") :])
        return FileRole(session_id=stem, agent_id=None)
    # projects/<enc>/<session>/subagents/agent-*.jsonl, .../workflows/**/agent-*.jsonl
    if stem.startswith("agent-") and parts[2] in ("subagents", "workflows"):
        return FileRole(session_id=parts[1], agent_id=stem[len("agent-") :])
    return None


def project_of(path: str, roots: Sequence[Path | str]) -> tuple[str, str] | None:
    """(root, project directory name) of a path under one of ``roots``; None if under none.
    A project is the unit replayed history (resumes, forks) never leaves."""
    for root in roots:
        top = os.path.join(root, "")
        if path.startswith(top):
            return str(root), path[len(top) :].split(os.sep, 1)[0]
    return None


def walk(
    top: str, parts: tuple[str, ...], on_error: Callable[[str, OSError], bool]
) -> Iterator[tuple[os.DirEntry[str], tuple[str, ...], FileRole]]:
    """Every transcript under directory ``top`` (whose path relative to its root has
    ``parts``), links not followed: (entry, its parts, its role). ``on_error(path, error)``
    hears what could not be read and says whether to go on (False ends the walk).

    Start-up and the warm ``--once`` wait on this walk, so paths stay strings: no pathlib
    per entry."""
    stack = [(top, parts)]
    while stack:
        directory, here = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            if not on_error(directory, exc):
                return
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, (*here, entry.name)))
                    continue
            except OSError as exc:
                if not on_error(entry.path, exc):
                    return
                continue
            if not entry.name.endswith(".jsonl"):
                continue
            found = (*here, entry.name)
            role = classify(found)
            if role is not None:
                yield entry, found, role


class TranscriptFile(msgspec.Struct, frozen=True):
    # A string, not a Path: a walk makes one per transcript, and a Path costs ~1.8 us to make
    # (12 ms of the 7,000-file bench tree's start, which every cold read waits on).
    path: str
    root: Path
    role: FileRole
    size: int
    mtime: float
    device: int
    inode: int
    project_dir: str  # the first directory under ``root``: see ``project``

    @property
    def project(self) -> tuple[str, str]:
        """(root, project directory name), as ``project_of`` says."""
        return str(self.root), self.project_dir


def find_transcripts(root: Path, warn: Warn) -> Iterator[TranscriptFile]:
    """Every transcript under one ``projects/`` root. Unreadable dirs warn once and are skipped."""
    if not root.is_dir():
        return

    def say(path: str, exc: OSError) -> bool:
        warn(f"cannot read {path}: {exc.strerror or exc}")
        return True

    for entry, parts, role in walk(str(root), (), say):
        try:
            st = entry.stat()
        except OSError as exc:
            say(entry.path, exc)
            continue
        if not stat.S_ISREG(st.st_mode):  # a FIFO would hang a read, /dev/zero never end
            warn(f"{entry.path}: not a regular file, skipped")
            continue
        yield TranscriptFile(
            entry.path, root, role, st.st_size, st.st_mtime, st.st_dev, st.st_ino, parts[0]
        )


def quick_scan(roots: Sequence[Path]) -> dict[str, tuple[int, int, int]] | None:
    """path -> (device, inode, size) of every transcript; None if something could not be read
    (then the careful path runs, with its warnings)."""
    found: dict[str, tuple[int, int, int]] = {}
    failed = False

    def stop(_path: str, _exc: OSError) -> bool:
        nonlocal failed
        failed = True
        return False

    for root in roots:
        top = str(root)
        if not os.path.isdir(top):
            continue
        for entry, _parts, _role in walk(top, (), stop):
            try:
                st = entry.stat()  # as find_transcripts: links followed
            except OSError:  # a dangling link: skipped (and said) there too
                continue
            if stat.S_ISREG(st.st_mode):  # the others are skipped everywhere
                found[entry.path] = (st.st_dev, st.st_ino, st.st_size)
        if failed:
            return None
    return found


def subagent_meta_path(transcript: Path) -> Path:
    """``agent-X.jsonl`` -> ``agent-X.meta.json`` beside it."""
    return transcript.with_name(transcript.name[: -len(".jsonl")] + ".meta.json")
