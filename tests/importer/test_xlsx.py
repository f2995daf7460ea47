"""The import reads Excel workbooks (``units.xlsx`` …) as it reads CSV files: same rows,
same checks, and messages that name the workbook the user gave."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from sqlmodel import select

from evalsys.org.models import Course
from tests.importer.test_org_files import GOOD, GOOD_SUMMARY, changed, domain, write_files


def typed(value: str) -> object:
    """A cell as Excel would hold it once typed: numbers as numbers, dates as dates."""
    if value.isdigit():
        return int(value)
    try:
        return date.fromisoformat(value)
    except ValueError:
        return value or None


def write_xlsx(path: Path, text: str, *, extra_empty_rows: int = 0) -> None:
    workbook = Workbook()
    sheet = workbook.active
    for number, record in enumerate(csv.reader(io.StringIO(text))):
        sheet.append(record if number == 0 else [typed(v) for v in record])
    for _ in range(extra_empty_rows):  # formatted but empty rows, as Excel leaves them
        sheet.append([None])
    workbook.save(path)


def as_excel(directory: Path, files: dict[str, str], names: set[str] | None = None) -> Path:
    """Write ``files``; those in ``names`` (all by default) as .xlsx workbooks."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if names is None or name in names:
            write_xlsx(directory / name.replace(".csv", ".xlsx"), text, extra_empty_rows=3)
        else:
            (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_workbooks_import_the_same_rows_as_csv(cli, session, tmp_path):
    result = cli("import", str(as_excel(tmp_path / "xlsx", GOOD)))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [line.replace(".csv:", ".xlsx:") for line in GOOD_SUMMARY]
    # The same data as CSV changes nothing: every value was read as the CSV text reads.
    again = cli("import", str(write_files(tmp_path / "csv", GOOD)))
    assert again.exit_code == 0, again.output
    expected = [line.replace("created", "unchanged").split(": ")[1] for line in GOOD_SUMMARY]
    lines = again.output.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        f"0 created, 0 updated, {e.split()[0]} unchanged" for e in expected
    ], again.output


def test_csv_and_excel_files_mix_in_one_import(cli, session, tmp_path):
    directory = as_excel(tmp_path, GOOD, names={"sections.csv", "terms.csv"})
    result = cli("import", str(directory))
    assert result.exit_code == 0, result.output
    assert "sections.xlsx: 4 created" in result.output
    assert "units.csv: 6 created" in result.output


def test_errors_name_the_workbook_row_and_column_and_nothing_is_written(cli, session, tmp_path):
    before = domain(session)
    files = changed(
        "sections.csv",
        "SE101-02,SE101,2026-2027-1,head.se,38",
        "SE101-02,SE101,2026-2027-1,head.se,many",
    )
    result = cli("import", str(as_excel(tmp_path, files)))
    assert result.exit_code == 1
    assert "sections.xlsx, row 3, column enrolled:" in result.output
    assert "sections.csv" not in result.output
    assert domain(session) == before


def test_a_text_code_typed_as_a_number_keeps_its_digits(cli, session, tmp_path):
    files = changed("courses.csv", "MA101,数学分析", "1001,数学分析")
    files = changed("sections.csv", "MA101-01,MA101", "MA101-01,1001", base=files)
    result = cli("import", str(as_excel(tmp_path, files)))
    assert result.exit_code == 0, result.output
    session.rollback()
    assert session.exec(select(Course.code).where(Course.title == "数学分析")).one() == "1001"


def test_both_csv_and_xlsx_of_one_file_is_refused(cli, session, tmp_path):
    before = domain(session)
    write_files(tmp_path, GOOD)
    write_xlsx(tmp_path / "units.xlsx", GOOD["units.csv"])
    result = cli("import", str(tmp_path))
    assert result.exit_code == 1
    assert "both units.csv and units.xlsx are here" in result.output
    assert domain(session) == before


def test_a_file_that_is_not_a_workbook_is_named(cli, session, tmp_path):
    before = domain(session)
    write_files(tmp_path, {k: v for k, v in GOOD.items() if k != "units.csv"})
    (tmp_path / "units.xlsx").write_text(GOOD["units.csv"], encoding="utf-8")
    result = cli("import", str(tmp_path))
    assert result.exit_code == 1
    assert "units.xlsx: not readable as an Excel .xlsx workbook" in result.output
    assert domain(session) == before


def test_datetime_cells_and_booleans_read_as_text(tmp_path):
    from evalsys.importer.service import read_xlsx

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["code", "start_date", "flag", "size"])
    sheet.append(["T1", datetime(2026, 9, 1), True, 12.0])
    sheet.append(["T2", datetime(2026, 9, 1, 8, 30), False, 12.5])
    workbook.save(tmp_path / "terms.xlsx")
    errors: list = []
    rows = read_xlsx(tmp_path / "terms.xlsx", "terms.xlsx", errors)
    assert errors == []
    assert rows == [
        {"code": "T1", "start_date": "2026-09-01", "flag": "true", "size": "12"},
        {"code": "T2", "start_date": "2026-09-01 08:30:00", "flag": "false", "size": "12.5"},
    ]
