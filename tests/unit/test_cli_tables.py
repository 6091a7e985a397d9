"""`print_table`, the one printer of every `bosun` listing, at every terminal width."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from bosun.cli.tables import FREE_TEXT_CLIP, print_table

HEADERS = ("run id", "workflow", "status", "created", "attempts", "version", "error")
OPTIONAL = ("status", "created", "attempts", "version", "error")
ROWS = [
    (
        "0123456789abcdef0123456789abcdef",
        "publish_quarterly_report_by_region",
        "completed",
        "2026-01-02 03:04:05",
        "1",
        "code-7242469408d7",
        "",
    ),
    (
        "fedcba9876543210fedcba9876543210",
        "write_section",
        "failed",
        "2026-01-02 03:04:06",
        "12",
        "blue",
        "ValueError: " + "the model answered with something that is not JSON " * 3,
    ),
]


def render(width: int, *, terminal: bool = True) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=terminal, color_system=None)
    print_table(HEADERS, ROWS, optional=OPTIONAL, free_text=("error",), console=console)
    return buffer.getvalue()


@pytest.mark.parametrize("width", range(30, 200, 7))
def test_at_any_width_ids_and_names_are_whole_in_a_table_that_fits_or_in_tsv(width: int) -> None:
    text = render(width)
    lines = text.splitlines()
    if "\t" in text:  # too narrow even for the required columns
        assert width < 1 + (32 + 3) + (34 + 3)
        assert [line.split("\t")[:2] for line in lines] == [
            ["run id", "workflow"],
            *([row[0], row[1]] for row in ROWS),
        ]
        return
    table = [line for line in lines if not line.endswith("--json shows everything")]
    assert all(cell_len(line) <= width for line in table), text
    for run_id, workflow, *_ in ROWS:
        assert any(run_id in line and workflow in line for line in table), text
    header = table[1]
    hidden = [h for h in HEADERS if f" {h} " not in header]
    assert hidden == [h for h in hidden if h in OPTIONAL]
    if hidden:
        assert lines[-1] == (
            f"{', '.join(hidden)} hidden at {width} columns; --json shows everything"
        )
    else:
        assert lines[-1].startswith("└")
    for line in table[3:-1]:  # the rows: a cut-short cell would end in an ellipsis
        cells = [c.strip() for c in line.strip("│").split("│")]
        whole = cells if "error" in hidden else cells[:-1]  # free text may be clipped
        assert not any(c.endswith("…") for c in whole), text


def test_a_wide_terminal_shows_every_column_and_clips_only_free_text() -> None:
    text = render(200)
    assert "hidden" not in text
    for value in ROWS[0][:6]:
        assert value in text
    assert ROWS[1][6][: FREE_TEXT_CLIP - 1] not in text.replace("\n", "")  # wrapped, clipped
    assert "…" in text


def test_a_narrow_terminal_drops_the_least_useful_columns_first() -> None:
    lines = render(100).splitlines()  # room for 2 of 5: status, then attempts (created is wider)
    assert lines[-1] == "created, version, error hidden at 100 columns; --json shows everything"
    assert " status " in lines[1] and " attempts " in lines[1]


def test_not_a_terminal_gets_a_header_and_a_tab_separated_line_per_row() -> None:
    lines = render(40, terminal=False).splitlines()
    assert [line.split("\t") for line in lines] == [list(HEADERS), *map(list, ROWS)]


def test_tabs_and_line_breaks_inside_a_cell_do_not_break_the_lines() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False)
    print_table(("id", "error"), [("a", "line one\nline\ttwo\r\nthree")], console=console)
    assert buffer.getvalue() == "id\terror\na\tline one line two three\n"


def test_naming_a_column_that_is_not_there_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="no such columns: state"):
        print_table(("id",), [], optional=("state",), console=Console(file=io.StringIO()))
