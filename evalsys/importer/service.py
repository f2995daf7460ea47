"""Import units, people, terms, courses, sections and tutor groups from CSV or Excel files.

The import is all-or-nothing: every row of every file is checked (against the
other files and the stored rows) before anything is written, so a run either
lists every problem and leaves the database as it was, or writes everything.
Rows are matched on their code (username for people) and updated in place, so
running the same files again changes nothing. Neither function commits: the
caller decides, which is what lets the CLI offer a dry run.

The modules beside this one do the work: ``common`` (file layouts, cell parsing),
``snapshot`` (stored rows, one query per table), ``check`` and ``tree`` (the
checks), ``apply`` (the writes) and ``feedback`` (historical feedback records).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlmodel import Session

from evalsys.accounts.service import audit
from evalsys.feedback.columns import COLUMNS as FEEDBACK_COLUMNS
from evalsys.i18n import in_locale
from evalsys.importer.apply import FileChanges, apply, diff
from evalsys.importer.check import check_tables
from evalsys.importer.common import SPEC_BY_NAME, SPECS, ImportIssue
from evalsys.importer.feedback import FEEDBACK_FILE, check_cells, import_with_org
from evalsys.importer.snapshot import load_snapshot

__all__ = ["FILE_NAMES", "ImportIssue", "ImportResult", "import_directory", "import_tables"]

#: The files an import reads, in the order they are written.
FILE_NAMES: tuple[str, ...] = tuple(spec.name for spec in SPECS)
#: ... and historical feedback records last (evalsys.importer.feedback).
READ_NAMES: tuple[str, ...] = (*FILE_NAMES, FEEDBACK_FILE)

Table = list[dict[str, str]]
#: ``progress(stage, file, done, total)``: stage "read", "check" or "write"; rows so far.
Progress = Callable[[str, str, int, int], None]
#: A long file reports its progress every this many rows (a short one stays quiet).
PROGRESS_EVERY = 1000


@dataclass
class RowChanges:
    """What an import would do to one file's rows: keys created, and new values by key."""

    created: list[str] = field(default_factory=list)
    updated: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@dataclass
class ImportResult:
    """The outcome: every problem found, or what was (or, in a dry run, would be) changed."""

    #: Empty when the import is good; nothing was written otherwise.
    errors: list[ImportIssue] = field(default_factory=list)
    #: Per file: {"created": n, "updated": n, "unchanged": n}; empty when there are errors.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    dry_run: bool = False
    #: Per file, the keys of the rows created and, for each updated row, its new values
    #: (for a preview of what an import would change; historical feedback is only counted).
    changes: dict[str, RowChanges] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def report_lines(self) -> list[str]:
        """Lines for a person: each error located, or a summary per file."""
        if self.errors:
            lines = [str(issue) for issue in self.errors]
            lines.append(
                ngettext(
                    "Nothing was written: %(num)d error. Fix it and run the import again"
                    " (--dry-run checks without writing).",
                    "Nothing was written: %(num)d errors. Fix them and run the import again"
                    " (--dry-run checks without writing).",
                    len(self.errors),
                )
            )
            return lines
        lines = [
            _(
                "%(file)s: %(created)s created, %(updated)s updated, %(unchanged)s unchanged",
                file=name,
                created=c["created"],
                updated=c["updated"],
                unchanged=c["unchanged"],
            )
            for name, c in self.counts.items()
        ]
        if self.dry_run:
            lines.append(_("Dry run: nothing was written."))
        return lines


def import_tables(
    session: Session,
    tables: Mapping[str, Table],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import rows already read: file name -> rows (row 2 is the first data row).

    On errors (and in a dry run) nothing is added to the session.
    """
    return _import(session, tables, dry_run=dry_run, read_errors=[], progress=progress)


def import_directory(
    session: Session,
    directory: Path,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Read whichever of the known files the directory holds, then import them together.

    ``progress`` hears of each long file (at least :data:`PROGRESS_EVERY` rows) as it is
    read, every :data:`PROGRESS_EVERY` rows as they are checked, and as it is written.
    """
    tables, read_errors, origins = read_directory(directory, progress=progress)
    if not tables and not read_errors:
        message = _(
            "none of %(names)s (or the same names ending .xlsx) is here; nothing to import",
            names=", ".join(READ_NAMES),
        )
        return ImportResult([ImportIssue(str(directory), None, None, message)], {}, dry_run)
    result = _import(session, tables, dry_run=dry_run, read_errors=read_errors, progress=progress)
    return _named_as_read(result, origins)


def read_directory(
    directory: Path, *, progress: Progress | None = None
) -> tuple[dict[str, Table], list[ImportIssue], dict[str, str]]:
    """The known files in ``directory`` (names matched ignoring case, as Windows does).

    Each may be CSV (``units.csv``) or an Excel workbook (``units.xlsx``, its first
    sheet), not both. Returns the tables keyed by their CSV name, the reading errors,
    and for each Excel table the name it was read from, so messages name that file.
    """
    found = {path.name.lower(): path for path in sorted(directory.iterdir()) if path.is_file()}
    tables: dict[str, Table] = {}
    errors: list[ImportIssue] = []
    origins: dict[str, str] = {}
    for name in READ_NAMES:
        excel = name.removesuffix(".csv") + ".xlsx"
        if name in found and excel in found:
            message = _(
                "both %(csv)s and %(excel)s are here; keep the one to import", csv=name, excel=excel
            )
            errors.append(ImportIssue(excel, None, None, message))
            continue
        if name in found:
            shown, rows = name, read_csv(found[name], name, errors)
        elif excel in found:
            origins[name] = excel
            shown, rows = excel, read_xlsx(found[excel], excel, errors)
        else:
            continue
        if rows is not None:
            tables[name] = rows
            if progress is not None and len(rows) >= PROGRESS_EVERY:
                progress("read", shown, len(rows), len(rows))
    return tables, errors, origins


def _named_as_read(result: ImportResult, origins: Mapping[str, str]) -> ImportResult:
    """Messages and counts name ``units.xlsx`` where that is the file the user gave."""
    if not origins:
        return result
    result.errors = [replace(e, file=origins.get(e.file, e.file)) for e in result.errors]
    result.counts = {origins.get(name, name): c for name, c in result.counts.items()}
    result.changes = {origins.get(name, name): c for name, c in result.changes.items()}
    return result


def read_xlsx(path: Path, name: str, errors: list[ImportIssue]) -> Table | None:
    """The first sheet of a workbook as rows of text, read as the CSV reader reads.

    Cells become the text a person sees: whole numbers without ".0" (a course code
    typed as 1001 stays "1001"), dates as YYYY-MM-DD, formulas as their cached value.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as err:
        message = _(
            "not readable as an Excel .xlsx workbook (%(reason)s); save it again",
            reason=type(err).__name__,
        )
        errors.append(ImportIssue(name, None, None, message))
        return None
    try:
        sheet = workbook.worksheets[0]
        records = [[_xlsx_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    while records and not any(records[-1]):
        records.pop()  # Excel often reports formatted but empty rows at the end
    return _table(records, name, errors)


def _xlsx_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_csv(path: Path, name: str, errors: list[ImportIssue]) -> Table | None:
    """One dict per record after the header, blank records kept so row numbers stay true.

    Returns None (with an error recorded) when the file cannot be read as CSV text.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        errors.append(ImportIssue(name, line, None, _not_utf8(data[err.start])))
        return None
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        errors.append(
            ImportIssue(name, None, None, _("not readable as CSV: %(reason)s", reason=err))
        )
        return None
    return _table(records, name, errors)


def _table(records: list[list[str]], name: str, errors: list[ImportIssue]) -> Table | None:
    """Records after the header as dicts; None (with an error) when there is no header."""
    if not records or not any(cell.strip() for cell in records[0]):
        spec = SPEC_BY_NAME.get(name.removesuffix(".xlsx") + ".csv")
        columns = ",".join(spec.columns if spec else FEEDBACK_COLUMNS)
        message = _("no header row; row 1 must be %(columns)s", columns=columns)
        errors.append(ImportIssue(name, 1, None, message))
        return None
    header = [cell.strip().lower() for cell in records[0]]
    return [_record(header, record) for record in records[1:]]


def _record(header: list[str], record: list[str]) -> dict[str, str]:
    """A record as a dict; short records (Excel trims trailing empties) padded with ''."""
    padded = record + [""] * (len(header) - len(record))
    return {column: value for column, value in zip(header, padded, strict=False) if column}


def _not_utf8(byte: int) -> str:
    message: str = _(  # flask_babel is untyped: gettext returns Any to mypy
        "the file is not UTF-8 text (byte 0x%(byte)s); in Excel use Save As,"
        " 'CSV UTF-8 (Comma delimited)', or convert it (iconv -f GBK -t UTF-8)",
        byte=format(byte, "02x"),
    )
    return message


def _normalise(rows: Table) -> Table:
    """Column names lower-case, every value a stripped string (None becomes empty).

    Callers passing rows they read themselves get the same leniency as files read
    here: a stray BOM on the first column, spaces, numbers instead of strings.
    """
    return [
        {_column(name): _cell(value) for name, value in row.items() if name and _column(name)}
        for row in rows
    ]


def _column(name: object) -> str:
    return str(name).strip().lstrip("\ufeff").strip().lower()


def _cell(value: object) -> str:
    return "" if value is None else str(value).strip()


def _import(
    session: Session,
    tables: Mapping[str, Table],
    *,
    dry_run: bool,
    read_errors: list[ImportIssue],
    progress: Progress | None = None,
) -> ImportResult:
    issues = list(read_errors)
    known = {name: _normalise(rows) for name, rows in tables.items() if name in SPEC_BY_NAME}
    feedback_rows = _normalise(tables[FEEDBACK_FILE]) if FEEDBACK_FILE in tables else None
    for name in tables.keys() - known.keys() - {FEEDBACK_FILE}:
        message = _("unknown file; expected %(names)s", names=", ".join(FILE_NAMES))
        issues.append(ImportIssue(name, None, None, message))
    keys = {
        name: {row.get(SPEC_BY_NAME[name].key, "") for row in rows} for name, rows in known.items()
    }
    snapshot = load_snapshot(session, keys)
    unverified = {issue.file for issue in read_errors}
    plans = check_tables(
        session, known, snapshot, issues, unverified, progress=_long_files(progress)
    )
    if issues:
        if feedback_rows is not None:
            pending = {row.get("username", "") for row in known.get("people.csv", [])}
            issues += check_cells(session, feedback_rows, pending_users=pending)
        return ImportResult(sorted(issues, key=_issue_order), {}, dry_run)
    changes = diff(plans, snapshot)
    counts = {name: changes[name].counts() for name in FILE_NAMES if name in changes}
    result = ImportResult([], counts, dry_run, _row_changes(changes))
    if feedback_rows is not None:
        # Feedback rows may name sections and people of this import: the org rows are
        # applied first, in a savepoint that is undone on errors and in a dry run.
        feedback_issues, counts[FEEDBACK_FILE] = import_with_org(
            session,
            feedback_rows,
            apply_org=lambda: apply(session, snapshot, changes, progress=_long_files(progress)),
            dry_run=dry_run,
        )
        if feedback_issues:
            return ImportResult(feedback_issues, {}, dry_run)
    if not dry_run:
        if feedback_rows is None:
            apply(session, snapshot, changes, progress=_long_files(progress))
        with in_locale("en"):  # the audit log is in English
            summary = "; ".join(result.report_lines())
        audit(session, "import", user_id=None, target=", ".join(counts), detail=summary)
        session.flush()
    return result


def _long_files(progress: Progress | None) -> Progress | None:
    """``progress`` for files of at least PROGRESS_EVERY rows: a short import stays quiet."""
    if progress is None:
        return None

    def report(stage: str, file: str, done: int, total: int) -> None:
        if total >= PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == total):
            progress(stage, file, done, total)

    return report


def _row_changes(changes: Mapping[str, FileChanges]) -> dict[str, RowChanges]:
    out = {}
    for name in FILE_NAMES:
        if name in changes:
            found, key = changes[name], SPEC_BY_NAME[name].key
            updated = [
                (str(getattr(row, key)), {k: _shown(v) for k, v in new.items()})
                for row, new in found.update
            ]
            out[name] = RowChanges(created=sorted(found.create), updated=sorted(updated))
    return out


def _shown(value: object) -> str:
    if value is None or value == "":
        empty: str = _("(empty)")
        return empty
    if isinstance(value, tuple):  # a programme's plan: version, term, summary
        return " / ".join(str(v) for v in value if v)
    if isinstance(value, frozenset | set):
        return "; ".join(sorted("@".join(v) if isinstance(v, tuple) else str(v) for v in value))
    return str(value)


def _issue_order(issue: ImportIssue) -> tuple[int, int]:
    """File order first, then row; within a row, the order the checks found them."""
    rank = FILE_NAMES.index(issue.file) if issue.file in FILE_NAMES else len(FILE_NAMES)
    return rank, issue.row or 0
