"""The fixed-width table --once prints: alignment in terminal cells, and who gives way."""

from __future__ import annotations

from rich.cells import cell_len

from cctop.report.text_table import Column, fitted, render, widths

COLUMNS = (
    Column("project", 7, max_width=12),
    Column("title", 8, flexible=True),
    Column("cost", 6, numeric=True),
)
ROWS = [
    ["cctop", "make the table fast", "$0.42"],
    ["日本語のプロジェクト", "絵文字 🎉 のタイトル", "$12.00"],
    ["a-very-long-project-name", "x", "$1,234.56"],
]


def test_columns_line_up_in_terminal_cells_with_wide_characters() -> None:
    lines = render(COLUMNS, ROWS, widths(COLUMNS, ROWS, 200))
    costs = [line.rstrip() for line in lines]
    assert len({cell_len(line) for line in costs}) == 1  # every line ends where the cost column does
    assert lines[0].split() == ["project", "title", "cost"]
    assert lines[1].endswith("    $0.42") and lines[3].endswith("$1,234.56")
    assert lines[3].startswith("a-very-long…")  # capped at 12 cells, with an ellipsis
    assert cell_len(lines[2].split(" ")[0]) <= 12


def test_the_flexible_column_gives_way_first_and_numbers_never() -> None:
    wide = widths(COLUMNS, ROWS, 200)
    narrow = widths(COLUMNS, ROWS, 34)
    assert narrow[2] == wide[2] == len("$1,234.56")
    assert narrow[0] == wide[0] and narrow[1] < wide[1]  # only the title gave way
    assert sum(narrow) + 2 == 34
    narrower = widths(COLUMNS, ROWS, 30)
    assert narrower[1] == 8 and narrower[0] < wide[0]  # then the project
    tiny = widths(COLUMNS, ROWS, 10)
    assert tiny == [7, 8, 9]  # text down to its minimum; the numbers stay whole
    for line in render(COLUMNS, ROWS, tiny)[1:]:
        assert line.endswith(("$0.42", "$12.00", "$1,234.56"))


def test_a_cut_wide_character_never_leaves_half_a_cell() -> None:
    rows = [["ab", "日本語日本語日本語", "$1"]]
    sizes = [7, 9, 6]
    line = render(COLUMNS, rows, sizes)[1]
    assert cell_len(line) == 7 + 1 + 9 + 1 + 6
    assert line.split() == ["ab", "日本語日…", "$1"]  # 4 wide characters and the ellipsis: 9 cells


def test_a_table_too_wide_for_its_numbers_leaves_whole_columns_out_lesser_first() -> None:
    columns = (
        Column("name", 4, flexible=True),
        Column("req", 3, numeric=True),
        Column("input", 5, numeric=True, drop=2),
        Column("cache r", 6, numeric=True, drop=1),
        Column("cost", 6, numeric=True),
    )
    rows = [["a-session", "12", "104k", "18.2M", "$178.30"], ["b", "3", "9", "1.0k", "$0.01"]]
    every = fitted(columns, rows, 200)
    assert every[0].split() == ["name", "req", "input", "cache", "r", "cost"]
    roomy = max(cell_len(line) for line in every)
    just = fitted(columns, rows, roomy - 5)  # the name gives way; no figure goes
    assert just[0].split()[1:] == ["req", "input", "cache", "r", "cost"]
    tight = fitted(columns, rows, 24)
    assert tight[0].split() == ["name", "req", "cache", "r", "cost"]  # input went first
    assert all(cell_len(line) <= 24 for line in tight)
    assert tight[1].endswith("18.2M $178.30")  # whole numbers, in their columns
    least = fitted(columns, rows, 5)  # narrower than what must stay: the rest stays whole
    assert least[0].split() == ["name", "req", "cost"] and least[1].endswith("$178.30")
