"""screenshots/split_pane.svg: cctop's first use, captured from a real terminal.

A 160x40 tmux window split in two: the real Claude Code CLI (interactive) on the left, talking
to the fake Messages API of the e2e tests, and ``cctop --session latest`` in an 80-column pane
on the right. Both panes are read with ``tmux capture-pane -e`` and drawn side by side as an SVG
(and a PNG when cairosvg is installed).

    python scripts/split_pane.py [--out screenshots]

Needs tmux and the Claude Code CLI the e2e tests pin (installed into .e2e-cache/ by npm when
missing, or ``CCTOP_E2E_CLAUDE=/path/to/claude``); says why and exits 0 without them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT, PANE = 160, 40, 80
PROMPT = "<<e2e:demo>> why is the build slow? check the Makefile"
API_KEY = "sk-ant-e2e-screenshot-key-0000"


# Two tool rounds, then an answer: enough for a cache bar, tools and a cost on cctop's side.
def _scripts():
    from tests.e2e.fake_api import Script, Text, ToolCall, Turn, Usage

    return {
        "demo": Script([
            Turn([Text("Let me look at the Makefile."),
                  ToolCall("Bash", {"command": "cat Makefile", "description": "Show the Makefile"})],
                 Usage(input_tokens=18, output_tokens=61, cache_5m=2400, cache_1h=17800)),
            Turn([Text("And the test target's timing."),
                  ToolCall("Bash", {"command": "ls -la", "description": "List the project"})],
                 Usage(input_tokens=6, output_tokens=48, cache_read=20200, cache_5m=900)),
            Turn([Text("The build reinstalls every dependency on each run: `pip install` has no "
                       "cache key. Pin the requirements and reuse the virtualenv.")],
                 Usage(input_tokens=4, output_tokens=212, cache_read=21100, cache_5m=450)),
        ]),
    }  # fmt: skip


def capture(out: Path) -> list[Path]:
    import pytest

    from tests.e2e.fake_api import FakeAnthropicApi
    from tests.e2e.harness import ClaudeHome, find_or_install_claude
    from tests.e2e.tmux import Tmux

    try:
        claude = find_or_install_claude()
        tmp = Path(tempfile.mkdtemp(prefix="cctop-split-"))
        tmux = Tmux(tmp, WIDTH, HEIGHT)
    except pytest.skip.Exception as exc:
        print(f"no split-pane screenshot: {exc}", file=sys.stderr)
        return []
    try:
        with FakeAnthropicApi(_scripts()) as api:
            home = ClaudeHome(claude, tmp / "home", api.base_url)
            workdir = tmp / "webapp"
            workdir.mkdir()
            (workdir / "Makefile").write_text("build:\n\tpip install -r requirements.txt\n")
            home.config_dir.mkdir(parents=True)
            # Interactive claude checks the network at onboarding unless this says it is done.
            (home.config_dir / ".claude.json").write_text(json.dumps({
                "hasCompletedOnboarding": True, "theme": "dark",
                "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
                "projects": {str(workdir): {"hasTrustDialogAccepted": True}},
            }))  # fmt: skip
            env = home.env({"ANTHROPIC_API_KEY": API_KEY, "TERM": "xterm-256color"})
            left = tmux.left
            command = [claude, "--model", "claude-opus-4-8", "--allowedTools", "Bash"]
            tmux.type_in(left, tmux.script(command, env, workdir))
            if not tmux.wait_for(left, lambda s: "❯" in s, 30):
                raise RuntimeError(f"claude did not start:\n{tmux.capture(left)}")
            cctop_home = tmp / "cctop-home"
            cctop_env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "CCTOP", "TMUX"))}
            cctop_env.update(HOME=str(cctop_home), XDG_CONFIG_HOME=str(cctop_home / ".config"),
                             XDG_DATA_HOME=str(cctop_home / ".local"), TERM="xterm-256color")  # fmt: skip
            cctop = [sys.executable, "-m", "cctop", "--session", "latest", "--no-store",
                     "--claude-dir", str(home.config_dir)]  # fmt: skip
            right = tmux.split_right(PANE, tmux.script(cctop, cctop_env, ROOT))
            tmux.wait_for(right, lambda s: "files" in s, 20)
            tmux.run("send-keys", "-t", left, "-l", PROMPT)
            tmux.run("send-keys", "-t", left, "Enter")
            if not tmux.wait_for(left, lambda s: "reuse the virtualenv" in s, 60):
                raise RuntimeError(f"claude did not answer:\n{tmux.capture(left)}")
            if not tmux.wait_for(right, lambda s: "3 req" in s or "3 requests" in s, 20):
                raise RuntimeError(f"cctop did not show the session:\n{tmux.capture(right)}")
            time.sleep(2.5)  # cctop's notice fades, claude's spinner settles
            panes = [tmux.capture(left, escapes=True), tmux.capture(right, escapes=True)]
            widths = [tmux.pane_width(left), tmux.pane_width(right)]
    finally:
        tmux.close()
    return render(panes, widths, out)


def render(panes: list[str], widths: list[int], out: Path) -> list[Path]:
    """The panes side by side, a tmux-style border between them, as SVG (Rich) and PNG."""
    from rich.console import Console
    from rich.text import Text

    columns = [Text.from_ansi(p).split("\n", allow_blank=True) for p in panes]
    screen = Text()
    for row in range(HEIGHT):
        for index, (lines, width) in enumerate(zip(columns, widths, strict=True)):
            line = lines[row].copy() if row < len(lines) else Text()
            fill = _trailing_background(line)
            line.truncate(width)
            line.append(" " * (width - line.cell_len), style=fill)
            if index:
                screen.append("│", style="bright_black")
            screen.append_text(line)
        screen.append("\n")
    console = Console(record=True, width=sum(widths) + 1, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor")  # fmt: skip
    console.print(screen, end="", soft_wrap=True)
    svg = out / "split_pane.svg"
    svg.write_text(console.export_svg(title="claude  │  cctop --session latest (80 columns)"))
    written = [svg]
    try:
        import cairosvg
    except (ImportError, OSError) as exc:
        print(f"no PNG: cairosvg unavailable ({exc})", file=sys.stderr)
        return written
    png = svg.with_suffix(".png")
    cairosvg.svg2png(url=str(svg), write_to=str(png))
    return [*written, png]


def _trailing_background(line) -> str:
    """tmux leaves a line's trailing blanks out of ``capture-pane -e``; a bar coloured to the
    pane's edge (a header, the cursor row) keeps its colour when padded with this."""
    from rich.style import Style

    end = len(line.plain)
    for span in reversed(line.spans):
        if span.end >= end and span.start < end:
            style = span.style if isinstance(span.style, Style) else Style.parse(str(span.style))
            return str(Style(bgcolor=style.bgcolor)) if style.bgcolor else ""
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in capture(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
