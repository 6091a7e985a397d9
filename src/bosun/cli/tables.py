"""How every `bosun` listing prints its rows: the one place that decides between a table and
tab-separated lines.

- stdout is not a terminal (a pipe, a file): a header line, then one line per row, the cells
  whole and separated by tabs, so `bosun runs list | grep failed | cut -f1` works.
- a terminal: a table whose cells are never cut short. Where the terminal is too narrow for
  every column, the optional ones (least useful first) are left out and one dim line under the
  table says which; where even the required columns do not fit, the tab-separated form.

Ids and names are never truncated, in either form; `--json` shows every field of every row."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

FREE_TEXT_WIDTH = 20
"""The narrowest a free-text column (an error, an output) is squeezed to in a table."""
FREE_TEXT_CLIP = 60
"""Free text longer than this is cut (with `…`) in a table; tab-separated lines keep it all."""


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    optional: Sequence[str] = (),
    free_text: Sequence[str] = (),
    console: Console | None = None,
) -> None:
    """Print `rows` under `headers` on `console` (default: bosun's stdout console).

    `optional` names the columns a narrow terminal may leave out, the most useful first;
    every other column is always shown. `free_text` names the columns that may wrap (and are
    clipped at FREE_TEXT_CLIP characters) in a table; every other cell is shown on one line,
    whole."""
    # rich here, not at the top: a command module imports this one whether it prints a
    # table or `--json` (rich costs ~20 ms to import).
    from rich.table import Table
    from rich.text import Text

    if console is None:
        from bosun.cli.common import out

        console = out
    unknown = [h for h in (*optional, *free_text) if h not in headers]
    if unknown:
        raise ValueError(f"no such columns: {', '.join(unknown)}")
    cells = [[str(value) for value in row] for row in rows]
    if not console.is_terminal:
        _print_tsv(console, headers, cells)
        return
    shown = _fit(console.width, headers, cells, optional, free_text)
    if shown is None:
        _print_tsv(console, headers, cells)
        return
    table = Table(*(headers[i] for i in shown))
    for column, index in zip(table.columns, shown, strict=True):
        if headers[index] in free_text:
            column.overflow = "fold"  # wraps, and folds a word longer than the column
        else:
            column.no_wrap = True  # whole on one line: _fit made room for it
    for row in cells:
        table.add_row(*(Text(_clip(row[i]) if headers[i] in free_text else row[i]) for i in shown))
    console.print(table)
    hidden = [h for i, h in enumerate(headers) if i not in shown]
    if hidden:
        console.print(
            f"{', '.join(hidden)} hidden at {console.width} columns; --json shows everything",
            style="dim",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _fit(
    width: int,
    headers: Sequence[str],
    cells: Sequence[Sequence[str]],
    optional: Sequence[str],
    free_text: Sequence[str],
) -> list[int] | None:
    """The indexes of the columns to show in `width` cells: every required column, then each
    optional one, most useful first, that still fits. None when the required ones do not."""
    from rich.cells import cell_len

    def needs(index: int) -> int:  # the column's width with its padding and one border
        text = max([cell_len(headers[index]), *(cell_len(row[index]) for row in cells)])
        if headers[index] in free_text:
            text = min(text, max(cell_len(headers[index]), FREE_TEXT_WIDTH), FREE_TEXT_CLIP)
        return text + 3

    shown = [i for i, h in enumerate(headers) if h not in optional]
    used = 1 + sum(needs(i) for i in shown)  # 1: the table's left border
    if used > width:
        return None
    for header in optional:
        index = headers.index(header)
        if used + needs(index) <= width:
            shown.append(index)
            used += needs(index)
    return sorted(shown)


def _clip(text: str) -> str:
    return text if len(text) <= FREE_TEXT_CLIP else text[: FREE_TEXT_CLIP - 1] + "…"


_BREAKS = re.compile(r"\r\n|[\t\n\r]")


def _print_tsv(console: Console, headers: Sequence[str], cells: Sequence[Sequence[str]]) -> None:
    """Tab-separated lines, written straight to the console's file: rich would expand the
    tabs and wrap long lines. A tab or line break inside a cell becomes a space."""
    file = console.file
    for line in (headers, *cells):
        file.write("\t".join(_BREAKS.sub(" ", cell) for cell in line) + "\n")
    file.flush()
