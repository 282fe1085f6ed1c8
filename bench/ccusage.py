"""ccusage, the tool cctop's cold scan is compared with, installed by the benchmark from npm.

Pinned: 20.0.24 is the newest version whose native binary (``@ccusage/ccusage-linux-x64``, an
optional dependency) is published; with 20.0.26 npm installs only a launcher that exits with
"native binary is not available". Installed once into bench/.cache/ccusage-<version>.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

VERSION = "20.0.24"
CACHE = Path(__file__).resolve().parent / ".cache"


def install(version: str = VERSION) -> tuple[list[str] | None, str]:
    """(the command to run ccusage, or None; a note saying what was installed or why not)."""
    prefix = CACHE / f"ccusage-{version}"
    binary = prefix / "node_modules" / ".bin" / "ccusage"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None, "ccusage skipped: no npm on PATH"
        prefix.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(prefix),
                 f"ccusage@{version}"],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"ccusage skipped: npm install failed ({exc})"
        if done.returncode != 0 or not binary.exists():
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"ccusage skipped: npm install ccusage@{version} failed ({why})"
    command = [str(binary), "session", "--json", "--offline"]
    # The launcher installs without its native binary on some platforms: try it once.
    empty = CACHE / "empty-claude-dir"
    (empty / "projects").mkdir(parents=True, exist_ok=True)
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(empty), "CLAUDE_CONFIG_DIR": str(empty)}
        probe = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
        json.loads(probe.stdout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"ccusage skipped: ccusage@{version} does not run here ({exc})"
    except ValueError:
        why = (probe.stderr.strip() or probe.stdout.strip())[:200]
        return None, f"ccusage skipped: ccusage@{version} does not run here ({why})"
    return command, f"ccusage {version} (npm, native binary)"


def binary_alone(command: list[str]) -> list[str] | None:
    """The same command run on the native binary itself, without npm's Node launcher in front
    (``node_modules/.bin/ccusage`` starts Node, which starts the binary): what ccusage costs
    with no start-up of its own packaging. None when the package has no such binary here."""
    launcher = Path(command[0])
    for binary in sorted(launcher.parent.parent.glob("@ccusage/ccusage-*/bin/ccusage")):
        if binary.is_file():
            return [str(binary), *command[1:]]
    return None


def tokens(output: str) -> dict[str, int]:
    """Token totals of ``ccusage session --json``, named as cctop's JSON names them."""
    totals = json.loads(output)["totals"]
    return {
        "input_tokens": totals["inputTokens"],
        "output_tokens": totals["outputTokens"],
        "cache_read_tokens": totals["cacheReadTokens"],
        "cache_creation_tokens": totals["cacheCreationTokens"],
    }
