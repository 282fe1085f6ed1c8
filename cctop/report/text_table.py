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
    drop: int = 0  # 0: always shown; else left out whole when the table cannot fit, highest first


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


def _natural(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[int]:
    natural = []
    for index, column in enumerate(columns):
        width = max([column.min_width, _width(column.header), *(_width(row[index]) for row in rows)])
        if column.max_width is not None:
            width = max(column.min_width, min(width, column.max_width))
        natural.append(width)
    return natural


def widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], total: int) -> list[int]:
    """Each column's width for a table at most ``total`` cells wide (when it can be)."""
    return _give_way(columns, _natural(columns, rows), total)


def _give_way(columns: Sequence[Column], natural: list[int], total: int) -> list[int]:
    """``natural`` widths narrowed to ``total``: the flexible column first, then the other text."""
    natural = list(natural)  # the caller's measure stays as it was
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


def fitted(columns: Sequence[Column], rows: Sequence[Sequence[str]], total: int) -> list[str]:
    """``render`` at most ``total`` cells wide where it can be: when even the text columns at
    their least would not fit, the columns with a ``drop`` go whole, highest first (a number
    is never cut)."""
    natural = _natural(columns, rows)
    least = [n if c.numeric else min(n, c.min_width) for c, n in zip(columns, natural, strict=True)]
    shown = list(range(len(columns)))
    for index in sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop):
        if sum(least[i] + 1 for i in shown) - 1 <= total:
            break
        shown.remove(index)
    if len(shown) == len(columns):  # the common case: nothing to leave out, nothing to copy
        return render(columns, rows, _give_way(columns, natural, total))
    kept = [columns[i] for i in shown]
    cells = [[row[i] for i in shown] for row in rows]
    return render(kept, cells, _give_way(kept, [natural[i] for i in shown], total))  # measured once


def render(columns: Sequence[Column], rows: Sequence[Sequence[str]], sizes: Sequence[int]) -> list[str]:
    """The header line, then one line per row; columns one space apart, no trailing spaces."""
    lines = []
    for row in [[c.header for c in columns], *rows]:
        cells = [_fit(cell, size, c.numeric) for cell, size, c in zip(row, sizes, columns, strict=True)]
        lines.append(" ".join(cells).rstrip())
    return lines
