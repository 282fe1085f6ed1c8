"""The help screen (``?`` / F1): keys, what the columns mean, current warnings."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cctop import format as fmt

KEYS = (
    ("↑ ↓  j k  PgUp PgDn", "move"),
    ("Enter", "open the session (Esc goes back)"),
    ("/", "filter by project, title, model or id (Esc clears)"),
    ("s  > <", "next / previous sort column"),
    ("r", "reverse the order"),
    ("t", "subagents as a tree under their session"),
    ("h", "history too, or only today's sessions"),
    ("space", "pause the tables (header and summary keep ticking)"),
    ("+ -", "refresh faster / slower"),
    ("Ctrl+P", "command palette: every action, and jump to a session by name"),
    ("? F1", "this help; q quits"),
)

COLUMNS = (
    ("st", "live: wrote in the last 2 min; idle: today; hist: older or files deleted"),
    ("out", "1.2k+ = at least: a response still streaming (or cut off) reported part of it"),
    ("read write", "tokens read from / written to the prompt cache"),
    ("hit", "cache read / (input + cache read + cache write)"),
    ("cost", "? = a model without a price; ≥$x = only part of it could be priced"),
    ("tools", "12 3! = 12 tool calls, 3 of them failed"),
    ("ctx", "latest prompt as a share of the model's context window"),
    ("cache", "time until the prompt cache expires (then the next request rewrites it)"),
)  # fmt: skip

CACHE = (
    ("saved", "today: cache reads priced at the input rate minus their cache-read price"),
    ("lost", "today: what cache breaks cost (lost tokens re-sent instead of read)"),
    ("bar", "session screen, per request: █ read from cache  ▓ written  ░ uncached input"),
    ("breaks", "ttl (T) expired · model (M) changed · compact (C) · prefix (×) changed"),
)  # fmt: skip


def help_text(style_for=lambda role: "") -> Text:
    text = Text()
    text.append("cctop: top for Claude Code\n\n", style="bold")
    for key, does in KEYS:
        text.append(f"  {key:<20}", style=f"bold {style_for('accent')}")
        text.append(does + "\n")
    text.append("\nColumns\n", style="bold")
    for key, does in COLUMNS:
        text.append(f"  {key:<11}", style=f"bold {style_for('accent')}")
        text.append(does + "\n")
    text.append("\nPrompt cache\n", style="bold")
    for key, does in CACHE:
        text.append(f"  {key:<11}", style=f"bold {style_for('accent')}")
        text.append(does + "\n")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", id="close_help"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
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
