"""Writing a term's results as JSON or CSV: one row per (level, unit, kind, dimension)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from evalsys.aggregation.row import BANDS, COVERAGE_FIELDS, ROW_FIELDS
from evalsys.security import csvsafe
from evalsys.security.csvsafe import neutralise

__all__ = ["CSV_FIELDS", "csv_row", "neutralise", "write_csv", "write_json"]


#: The CSV column(s) of a row field that holds more than one value.
_FLATTENED: dict[str, tuple[str, ...]] = {
    "bands": tuple(f"band_{band}" for band in BANDS),
    "coverage": COVERAGE_FIELDS,
    "flags": ("flags", "flag_reasons"),
}
#: CSV columns, in order: the row's fields (:data:`~evalsys.aggregation.row.ROW_FIELDS`),
#: bands, coverage and flags spread over columns. Numbers are written as numbers (rounded
#: for reading); JSON keeps full precision.
CSV_FIELDS: tuple[str, ...] = tuple(
    column for name in ROW_FIELDS for column in _FLATTENED.get(name, (name,))
)
_ROUNDED = {"mean", "sd", "median", "min", "max", "parent_mean", "parent_diff", "prev_mean"}
_ROUNDED |= {"prev_change", "parent_z"}


def _csv_value(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return f"{value:.2f}" if name != "parent_z" else f"{value:.3f}"
    return str(value)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    flat = dict(row)
    for band in BANDS:
        flat[f"band_{band}"] = row["bands"][band]
    for name in COVERAGE_FIELDS:
        flat[name] = row["coverage"][name]
    flat["flags"] = ",".join(f["flag"] for f in row["flags"])
    flat["flag_reasons"] = "; ".join(f["reason"] for f in row["flags"])
    return flat


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    flat = _flat(row)
    return {name: _csv_value(name, flat.get(name)) for name in CSV_FIELDS}


def sheet_rows(rows: Sequence[dict[str, Any]]) -> Iterator[list[Any]]:
    """The CSV columns as spreadsheet cells: numbers as numbers (rounded as in CSV)."""
    for row in rows:
        flat = _flat(row)
        cells: list[Any] = []
        for name in CSV_FIELDS:
            value = flat.get(name)
            if isinstance(value, float) and name in _ROUNDED:
                value = round(value, 3 if name == "parent_z" else 2)
            cells.append(value)
        yield cells


def write_csv(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    writer = csvsafe.dict_writer(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_row(row))


def run_meta(term_code: str, unit_code: str | None, run: Any) -> dict[str, Any]:
    """What the rows are of: the term, the unit, and the aggregation run that made them."""
    return {
        "term": term_code,
        "unit": unit_code,
        "run": {
            "id": run.id,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "final": run.final,
            "settings": run.settings,
        },
    }


def public_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without internal ids, as JSON exports and the API give them."""
    return [{k: v for k, v in row.items() if k != "unit_id"} for row in rows]


def write_json(rows: Sequence[dict[str, Any]], out: TextIO, *, meta: dict[str, Any]) -> None:
    json.dump({**meta, "rows": public_rows(rows)}, out, ensure_ascii=False, indent=1)
    out.write("\n")
