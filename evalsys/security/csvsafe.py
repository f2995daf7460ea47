"""The one place CSV cells are made safe for spreadsheets (CSV or "formula" injection).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=HYPERLINK(...)`` sends data away; DDE payloads start programs), and
some strip a leading tab or carriage return first. Text cells starting with one
of those get a ``'`` in front, which spreadsheets show as text; numbers are left
as numbers (a negative mean stays ``-1.50``, whether given as a number or as the
text of one: a spreadsheet reads that as a number, never as a formula). Full-width
forms count too: Chinese input methods type them, and some spreadsheets take them
for the ASCII ones.

Every CSV the app writes goes through :func:`writer` or :func:`dict_writer`
(``tests/security/test_hostile_text.py`` checks that no module calls ``csv.writer``
itself).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

#: A cell starting with one of these is taken for a formula by some spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


#: Text that is just a number (``-1.50``, ``+3``, ``-2e-3``): left alone.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(cell: str) -> str:
    """Prefix ``'`` to text a spreadsheet would take for a formula."""
    if cell.startswith(FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def safe_cell(value: Any) -> Any:
    """Text neutralised; numbers, booleans and None as they are (the csv module writes them)."""
    return neutralise(value) if isinstance(value, str) else value


class _SafeWriter:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._inner.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class _SafeDictWriter:
    def __init__(self, inner: csv.DictWriter) -> None:
        self._inner = inner

    def writeheader(self) -> Any:
        return self._inner.writeheader()

    def writerow(self, row: Mapping[str, Any]) -> Any:
        return self._inner.writerow({k: safe_cell(v) for k, v in row.items()})

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: IO[str], **kwargs: Any) -> _SafeWriter:
    """``csv.writer`` whose text cells are neutralised."""
    return _SafeWriter(csv.writer(out, **kwargs))


def dict_writer(out: IO[str], fieldnames: Iterable[str], **kwargs: Any) -> _SafeDictWriter:
    """``csv.DictWriter`` whose text cells are neutralised (the header is the app's own)."""
    return _SafeDictWriter(csv.DictWriter(out, fieldnames=list(fieldnames), **kwargs))
