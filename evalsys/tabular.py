"""Writing rows for spreadsheets: CSV and Excel, with text that cannot run as a formula.

Feedback holds text that observers typed; a comment such as ``=HYPERLINK("http://…")``
must reach a dean's spreadsheet as the text it is. CSV goes through
:mod:`evalsys.security.csvsafe` (such cells get a leading ``'``); in ``.xlsx`` every
text cell is written as a string cell, which Excel never evaluates, so the text stays
exactly as typed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from evalsys.security import csvsafe

FORMATS = ("csv", "xlsx")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], out: IO[str]) -> int:
    """Header and rows as CSV (UTF-8 text; the caller adds a BOM for Excel if wanted)."""
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        count += 1
    return count


def write_xlsx(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], out: IO[bytes], *, title: str
) -> int:
    """Header and rows as one sheet of an Excel workbook, streamed (constant memory)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"

    def text(value: str) -> WriteOnlyCell:
        # Control characters cannot be stored in a workbook at all; they are dropped.
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # a string cell, never a formula, whatever it starts with
        return cell

    sheet.append([text(c) for c in columns])
    count = 0
    for row in rows:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, str):
                cells.append(text(value))
            elif isinstance(value, datetime):
                cells.append(value.replace(tzinfo=None))
            else:
                cells.append(value)
        sheet.append(cells)
        count += 1
    workbook.save(out)
    return count


def write_file(
    path: Path, fmt: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str
) -> int:
    """Write beside ``path`` and rename: a failed export leaves no half-written file.

    CSV gets a byte-order mark, so that Excel opens the UTF-8 (Chinese) text correctly.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "xlsx":
            with tmp.open("wb") as out:
                count = write_xlsx(columns, rows, out, title=title)
        else:
            with tmp.open("w", encoding="utf-8-sig", newline="") as out:
                count = write_csv(columns, rows, out)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count
