"""Tables for the command line: rich on a terminal, plain aligned text when piped (so `grep`,
`awk` and `column` see one row a line and no box drawing). Amounts are aligned on their decimal
point, digits never rounded or put in exponent form."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich import box
from rich.console import Console
from rich.table import Table

MISSING = "-"


def align_decimals(values: Sequence[str | None]) -> list[str]:
    """The values padded so that their decimal points line up: integer parts right-aligned,
    fractions left-aligned. A missing value is a dash where the integer part ends."""
    split = [value.partition(".") if value is not None else None for value in values]
    whole = max((len(s[0]) for s in split if s is not None), default=1)
    fraction = max((len(s[2]) for s in split if s is not None and s[1]), default=0)
    tail = fraction + 1 if fraction else 0
    return [
        f"{MISSING:>{whole}}{'':<{tail}}"
        if s is None
        else f"{s[0]:>{whole}}{(s[1] + s[2]):<{tail}}"
        for s in split
    ]


@dataclass
class Column:
    title: str
    numeric: bool = False  # aligned on the decimal point, right-justified


@dataclass
class Grid:
    """One table: its columns, then rows of cells (a numeric cell is a decimal string)."""

    title: str
    columns: list[Column]
    rows: list[list[str | None]] = field(default_factory=list)

    def cells(self) -> list[list[str]]:
        """The rows with numeric columns aligned and missing cells dashed."""
        by_column = [
            align_decimals([row[i] for row in self.rows])
            if column.numeric
            else [row[i] or MISSING for row in self.rows]
            for i, column in enumerate(self.columns)
        ]
        return [list(row) for row in zip(*by_column, strict=True)] if self.rows else []


def show(grids: Sequence[Grid], *, lines: Sequence[str] = ()) -> None:
    """Lines of text, then the tables: rich when stdout is a terminal, plain when it is not."""
    if sys.stdout.isatty():
        console = Console()
        for line in lines:
            console.print(line, highlight=False)
        for grid in grids:
            table = Table(title=grid.title, box=box.SIMPLE_HEAVY, title_justify="left")
            for column in grid.columns:
                table.add_column(column.title, justify="right" if column.numeric else "left")
            for row in grid.cells():
                table.add_row(*row)
            console.print(table)
        return
    out = sys.stdout
    for line in lines:
        out.write(f"{line}\n")
    for grid in grids:
        out.write(f"\n{grid.title}\n")
        rows = [[c.title for c in grid.columns], *grid.cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(grid.columns))]
        for row in rows:
            padded = [
                cell.rjust(width) if column.numeric else cell.ljust(width)
                for cell, width, column in zip(row, widths, grid.columns, strict=True)
            ]
            out.write("  ".join(padded).rstrip() + "\n")
