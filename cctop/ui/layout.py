"""Fitting to a width, htop style: a table column, or a header part, is shown whole or not at all.

Each column needs its widest value plus one blank gap. When the sum exceeds the width, whole
columns drop, the highest ``priority`` number first (rightmost first among equals); columns of
priority 0 always stay. One flexible column (the title) then takes whatever width is left, so
it grows on wide terminals. Pure: no Textual, so it is tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

GAP = 1  # blank columns after each cell
SEP = "  "  # between header parts on a line
MUST = 0  # a part that is always shown (source status, PAUSED, the refresh interval)


@dataclass(frozen=True, slots=True)
class Placed:
    index: int  # into the column list
    x: int  # first cell column on screen
    width: int  # content width (the gap comes after)


def fit(
    needed: Sequence[int],
    priorities: Sequence[int],
    width: int,
    flex: int | None = None,
) -> tuple[Placed, ...]:
    """Columns to show, left to right. ``needed[i]`` is column i's content width (for the flex
    column: its least width); ``width`` the room on screen."""
    shown = list(range(len(needed)))

    def total() -> int:
        return sum(needed[i] + GAP for i in shown)

    # Drop order: highest priority number first, then the rightmost.
    droppable = sorted((i for i in shown if priorities[i] > 0), key=lambda i: (-priorities[i], -i))
    for index in droppable:
        if total() <= width:
            break
        shown.remove(index)
    spare = max(0, width - total())
    placed: list[Placed] = []
    x = 0
    for index in shown:
        w = needed[index] + (spare if index == flex else 0)
        placed.append(Placed(index, x, w))
        x += w + GAP
    return tuple(placed)


@dataclass(frozen=True)
class Part:
    """One piece of the header; lower ``priority`` numbers stay longest (0: never dropped)."""

    text: Text
    priority: int
    short: Text | None = None  # the abbreviation tried before anything is dropped


def pack(parts: Sequence[Part], width: int, max_lines: int, sep: str = SEP) -> Text:
    """Lay the parts out in lines of ``width``: abbreviate, then drop, the highest priority
    numbers first until they fit in ``max_lines``; a part is never cut in the middle."""
    forms: list[Text | None] = [p.text for p in parts]
    steps: list[tuple[int, Text | None]] = []
    by_priority = sorted(range(len(parts)), key=lambda i: (-parts[i].priority, -i))
    steps += [(i, parts[i].short) for i in by_priority if parts[i].short is not None]
    steps += [(i, None) for i in by_priority if parts[i].priority != MUST]
    lines = _wrap(forms, width, sep)
    for index, form in steps:
        if len(lines) <= max_lines:
            break
        forms[index] = form
        lines = _wrap(forms, width, sep)
    return Text("\n").join(lines)


def _wrap(forms: Sequence[Text | None], width: int, sep: str) -> list[Text]:
    lines: list[Text] = []
    line: Text | None = None
    for form in forms:
        if form is None:
            continue
        if line is not None and line.cell_len + len(sep) + form.cell_len <= width:
            line.append(sep)
            line.append_text(form)
        else:
            line = form.copy()
            if line.cell_len > width:  # only free text is this long (a title): cut it visibly
                line.truncate(max(1, width), overflow="ellipsis")
            lines.append(line)
    return lines
