"""The help screen (``?`` / F1): every key, what the columns mean, current warnings; it fits
80x24 (the warnings, when any, scroll below)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cctop import format as fmt

# Every key, two to a line where they fit: the whole help fits an 80x24 terminal (76 columns
# inside the frame, 22 lines).
KEYS = (
    (("↑↓ j k PgUp PgDn Home End", "move"), ("Enter", "open the session (Esc: back)")),
    (("/", "filter: project, title, model or id (Esc clears)"),),
    (("s > <", "next / previous sort column"), ("r", "reverse the order")),
    (("t", "subagents as a tree"), ("h", "history too, or today only")),
    (("space", "pause the tables (header keeps ticking)"), ("w", "waiting for you first")),
    (("+ -", "refresh faster / slower"), ("f", "session: follow latest / pin")),
    (("Ctrl+P", "palette: every action"), ("g", "charts"), ("? F1", "help"), ("q", "quit")),
)

COLUMNS = (
    ("st", "live < 2 min ago · idle: today · hist: older, or files deleted"),
    ("", "busy · wait (for you) · run: a Claude Code process has it open"),
    ("out", "1.2k+ = at least (a response still streaming, or cut off)"),
    ("read write", "tokens read from / written to the prompt cache"),
    ("hit", "cache read / (input + cache read + cache write)"),
    ("cost", "? = a model without a price · ≥$x = only part of it priced"),
    ("tools ctx", "12 3! = 12 calls, 3 failed · latest prompt / context window"),
    ("cache", "time until the prompt cache expires (then it is rewritten)"),
)  # fmt: skip

CACHE = (
    ("saved lost", "today: what cache reads saved / what cache breaks cost"),
    ("bar", "█ read from cache  ▓ written  ░ uncached input (per request)"),
    ("breaks", "T ttl expired · M model changed · C compacted · × prefix changed"),
)  # fmt: skip

INTRO = "cctop: top for Claude Code (columns that do not fit drop whole)"
PAIR_WIDTH = 38  # where the second key of a line starts


def help_text(style_for=lambda role: "") -> Text:
    key_style = f"bold {style_for('accent')}"
    text = Text()
    text.append(INTRO + "\n", style="bold")
    text.append("Keys\n", style="bold")
    for line in KEYS:
        start = len(text.plain)
        for index, (key, does) in enumerate(line):
            if index:
                used = len(text.plain) - start
                text.append(" " * (max(2, PAIR_WIDTH - used) if index == 1 else 2))
            text.append(f" {key} ", style=key_style)
            text.append(does)
        text.append("\n")
    for title, entries in (("Columns", COLUMNS), ("Prompt cache", CACHE)):
        text.append(title + "\n", style="bold")
        for key, does in entries:
            text.append(f" {key:<11}", style=key_style)
            text.append(does + "\n")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", id="close_help"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen #warnings { color: $text-warning; }
    """

    def __init__(
        self, warnings: Sequence[str] = (), style_for: Callable[[str], str] = lambda role: ""
    ) -> None:
        super().__init__()
        self._warnings = tuple(warnings)
        self._style_for = style_for

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(self._style_for), id="help_text")
            if self._warnings:
                lines = Text("Warnings\n", style="bold")
                for warning in self._warnings[-20:]:
                    lines.append("• " + fmt.safe_text(warning) + "\n")
                yield Static(lines, id="warnings")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
