"""A plain fixed-width table: ``--once`` prints thousands of rows, and Rich's Table spends
about 2 ms a row measuring and padding cells (5,000 sessions took 3.6 s to print).

Cells are strings already cleaned of control codes; widths are in terminal cells, so wide
characters line up. Numeric columns never shrink; when the table is too wide the flexible
column gives way first, then the other text columns, each down to its minimum.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

ELLIPSIS = "…"


class Column(msgspec.Struct, frozen=True):
    header: str
    min_width: int
    numeric: bool = False
    max_width: int | None = None
    flexible: bool = False


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len  # here: a --json run never needs it (~1 ms of imports)

    return cell_len(text)


def _fit(text: str, width: int, right: bool) -> str:
    size = _width(text)
    if size > width:
        if text.isascii():
            return text[: width - 1] + ELLIPSIS if width > 0 else ""
        from rich.cells import set_cell_size  # as in _width

        return set_cell_size(text, width - 1) + ELLIPSIS if width > 0 else ""
    pad = " " * (width - size)
    return pad + text if right else text + pad


def widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], total: int) -> list[int]:
    """Each column's width for a table at most ``total`` cells wide (when it can be)."""
    natural = []
    for index, column in enumerate(columns):
        width = max([column.min_width, _width(column.header), *(_width(row[index]) for row in rows)])
        if column.max_width is not None:
            width = max(column.min_width, min(width, column.max_width))
        natural.append(width)
    excess = sum(natural) + len(columns) - 1 - total
    order = [i for i, c in enumerate(columns) if c.flexible]
    order += [i for i, c in enumerate(columns) if not c.flexible and not c.numeric]
    for index in order:
        if excess <= 0:
            break
        give = min(excess, natural[index] - columns[index].min_width)
        natural[index] -= give
        excess -= give
    return natural


def render(columns: Sequence[Column], rows: Sequence[Sequence[str]], sizes: Sequence[int]) -> list[str]:
    """The header line, then one line per row; columns one space apart, no trailing spaces."""
    lines = []
    for row in [[c.header for c in columns], *rows]:
        cells = [_fit(cell, size, c.numeric) for cell, size, c in zip(row, sizes, columns, strict=True)]
        lines.append(" ".join(cells).rstrip())
    return lines
