"""``cctop statusline --install / --uninstall``: edit Claude Code's settings.json safely.

Safe means: a settings file that is not a JSON object is left alone (and said so); a backup
is written beside it before any change; the new file replaces the old atomically; running it
twice changes nothing the second time; a statusLine command that was there already is kept,
run by cctop with ``--chain``, and put back by ``--uninstall``. Every change is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any


class SettingsError(Exception):
    pass


def settings_path(explicit: Path | None = None) -> Path:
    """settings.json of the Claude config dir Claude Code itself uses."""
    if explicit is not None:
        return Path(explicit).expanduser()
    config = os.environ.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
    base = Path(config).expanduser() if config else Path.home() / ".claude"
    return base / "settings.json"


def cctop_command() -> list[str]:
    """How Claude Code should start this cctop: its own script when run as one, else python -m."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "cctop" and script.exists():
        return [str(script.resolve())]
    found = shutil.which("cctop")
    if found:
        return [found]
    return [sys.executable, "-m", "cctop"]


def is_ours(command: str) -> bool:
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return "statusline" in words and any(w.endswith("cctop") for w in words[: words.index("statusline")])


def chained_of(command: str) -> str | None:
    """The --chain command inside one of our command lines, if any."""
    words = shlex.split(command)
    for i, word in enumerate(words):
        if word == "--chain" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--chain="):
            return word.split("=", 1)[1]
    return None


def our_command(args: argparse.Namespace | SimpleNamespace, chain: str | None) -> str:
    # The store path is written out (the default one too): the same store as the TUI's, and
    # no path lookup on every call.
    if getattr(args, "store", None):
        store = Path(args.store).expanduser().resolve()
    else:
        from cctop.store.database import default_path

        store = default_path()
    words = [*cctop_command(), "statusline", "--store", str(store)]
    if chain:
        words += ["--chain", chain]
    return shlex.join(words)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text; nothing was changed") from None
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc}); fix it first, nothing was changed") from exc
    if not isinstance(settings, dict):
        raise SettingsError(f"{path} is not a JSON object; nothing was changed")
    return settings


def _write(path: Path, settings: dict[str, Any]) -> Path | None:
    """Back up the current file (if any), then replace it atomically. Returns the backup."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if path.exists():
        backup = path.with_name(f"{path.name}.cctop-backup-{time.strftime('%Y%m%d-%H%M%S')}")
        n = 1
        while backup.exists():
            backup = path.with_name(f"{path.name}.cctop-backup-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
            n += 1
        shutil.copy2(path, backup)
    tmp = path.with_name(f".{path.name}.cctop-{os.getpid()}")
    tmp.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if path.exists():
        shutil.copymode(path, tmp)
    os.replace(tmp, path)
    return backup


def install(path: Path, args: argparse.Namespace | SimpleNamespace) -> list[str]:
    """Returns what was done, one line each."""
    settings = _read(path)
    current = settings.get("statusLine")
    old = current.get("command") if isinstance(current, dict) else None
    if isinstance(old, str) and is_ours(old):
        return [f"already installed in {path}: {old}"]
    if current is not None and not (isinstance(current, dict) and isinstance(old, str)):
        raise SettingsError(
            f"{path} has a statusLine cctop does not understand ({current!r}); nothing was changed"
        )
    new = our_command(args, old)
    entry = dict(current) if isinstance(current, dict) else {}
    entry.update({"type": "command", "command": new})
    settings["statusLine"] = entry
    backup = _write(path, settings)
    said = [f"statusLine in {path}:", f"  was: {old if old else '(none)'}", f"  now: {new}"]
    if old:
        said.append("  your previous command still runs: cctop shows its output (--chain)")
    if backup:
        said.append(f"backup: {backup}")
    return said


def is_installed(path: Path) -> bool:
    """Whether the settings at ``path`` run cctop's status line; False for a file that is
    missing, unreadable or not settings (this only picks a hint, it never fails)."""
    try:
        settings = _read(path)
    except SettingsError:
        return False
    current = settings.get("statusLine")
    command = current.get("command") if isinstance(current, dict) else None
    return isinstance(command, str) and is_ours(command)


def uninstall(path: Path) -> list[str]:
    settings = _read(path)
    current = settings.get("statusLine")
    command = current.get("command") if isinstance(current, dict) else None
    if not (isinstance(current, dict) and isinstance(command, str) and is_ours(command)):
        return [f"not installed in {path}: nothing changed"]
    chained = chained_of(command)
    if chained:
        settings["statusLine"] = {**current, "type": "command", "command": chained}
    else:
        del settings["statusLine"]
    backup = _write(path, settings)
    said = [f"statusLine in {path}:", f"  was: {command}", f"  now: {chained if chained else '(none)'}"]
    if backup:
        said.append(f"backup: {backup}")
    return said


def run(args: argparse.Namespace | SimpleNamespace) -> int:
    path = settings_path(args.settings)
    try:
        said = install(path, args) if args.install else uninstall(path)
    except (SettingsError, OSError) as exc:
        print(f"cctop statusline: {exc}", file=sys.stderr)
        return 1
    print("\n".join(said))
    return 0
