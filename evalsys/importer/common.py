"""Shared pieces of the CSV import: the issue record, the file layouts, cell parsing.

Every check reports through :class:`RowReader`, so that each message carries the
file, row and column the user has to fix, and one bad cell never stops the checks
of the others: an import lists every problem at once, not one per attempt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlmodel import SQLModel

from evalsys.accounts.models import User
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup
from evalsys.programmes.models import Programme
from evalsys.validation import MAX_COUNT, printable, text_problem


@dataclass(frozen=True)
class ImportIssue:
    """One problem, located as precisely as it can be: file, row (1 = header), column."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row is not None and self.column is not None:
            where = _(
                "%(file)s, row %(row)s, column %(column)s",
                file=self.file,
                row=self.row,
                column=self.column,
            )
        elif self.row is not None:
            where = _("%(file)s, row %(row)s", file=self.file, row=self.row)
        elif self.column is not None:
            where = _("%(file)s, column %(column)s", file=self.file, column=self.column)
        else:
            where = self.file
        return _("%(where)s: %(problem)s", where=where, problem=self.message)


@dataclass(frozen=True)
class FileSpec:
    """The layout of one CSV file and the table its rows become."""

    name: str
    model: type[SQLModel]
    #: The column holding the natural key rows are matched on (and the model's attribute).
    key: str
    #: Columns the header must have (a value may still be allowed to be empty).
    columns: tuple[str, ...]
    #: Columns read when the header has them; when absent the stored value is left alone.
    optional: tuple[str, ...] = ()


UNITS = FileSpec("units.csv", OrgUnit, "code", ("code", "name", "kind", "parent"), ("name_en",))
PEOPLE = FileSpec("people.csv", User, "username", ("username", "name", "email", "roles"))
TERMS = FileSpec(
    "terms.csv", Term, "code", ("code", "name", "start_date", "end_date"), ("name_en",)
)
COURSES = FileSpec("courses.csv", Course, "code", ("code", "title", "department"), ("title_en",))
SECTIONS = FileSpec(
    "sections.csv",
    Section,
    "code",
    ("code", "course", "term", "teacher", "enrolled"),
    ("meetings",),
)
GROUPS = FileSpec(
    "groups.csv", TutorGroup, "code", ("code", "name", "department", "term", "tutor", "size")
)
#: A programme (专业), its courses ("SE101;SE102") and, optionally, one version of its plan.
PROGRAMMES = FileSpec(
    "programmes.csv",
    Programme,
    "code",
    ("code", "name", "department", "courses"),
    ("name_en", "plan_version", "plan_term", "plan_summary"),
)

#: Every file, in the order they are checked and written: references point backwards only.
SPECS: tuple[FileSpec, ...] = (UNITS, PEOPLE, TERMS, COURSES, SECTIONS, GROUPS, PROGRAMMES)
SPEC_BY_NAME: dict[str, FileSpec] = {spec.name: spec for spec in SPECS}


@dataclass
class Planned:
    """A row that passed its own checks: the values it asks for, references still as codes."""

    row: int
    values: dict[str, Any]


def max_length(model: type[SQLModel], attribute: str) -> int | None:
    """The column's length limit, read from the model so the two cannot disagree.

    Checked here because SQLite ignores VARCHAR lengths while PostgreSQL refuses the
    whole transaction, which would be a confusing way to learn a name is too long.
    """
    # Ignored below: set on table models at run time.
    column = model.__table__.c[attribute]  # type: ignore[attr-defined]
    return getattr(column.type, "length", None)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")


class RowReader:
    """Reads the cells of one row, recording a located issue for each bad one.

    Each reader returns None for a cell it could not accept, so the caller carries
    on with the other cells; since nothing is written when any issue exists, a None
    never reaches the database.
    """

    def __init__(
        self,
        file: str,
        number: int,
        data: Mapping[str, str],
        columns: frozenset[str],
        issues: list[ImportIssue],
    ) -> None:
        self.file = file
        self.number = number
        self.data = data
        self.columns = columns
        self.issues = issues

    def has(self, column: str) -> bool:
        """Whether the file has this (optional) column at all."""
        return column in self.columns

    def error(self, column: str | None, message: str) -> None:
        self.issues.append(ImportIssue(self.file, self.number, column, message))

    def text(self, column: str, *, required: bool = True, limit: int | None = None) -> str | None:
        """The stripped value; None when empty (an issue if ``required``) or too long."""
        value = self.data.get(column, "")
        if not value:
            if required:
                self.error(column, _("missing value: every row needs a %(column)s", column=column))
            return None
        if (problem := text_problem(value)) is not None:
            self.error(
                column, _("'%(start)s' %(problem)s", start=printable(value[:30]), problem=problem)
            )
            return None
        if limit is not None and len(value) > limit:
            message = _(
                "'%(start)s...' has %(length)s characters; at most %(limit)s",
                start=value[:30],
                length=len(value),
                limit=limit,
            )
            self.error(column, message)
            return None
        return value

    def count(self, column: str) -> int | None:
        """A whole number >= 0 (enrolled students, group size)."""
        value = self.text(column)
        if value is None:
            return None
        if not _WHOLE_NUMBER.fullmatch(value) or len(value) > 30:
            self.error(
                column, _("'%(value)s' is not a whole number (write 0 if not known)", value=value)
            )
            return None
        number = int(value)
        if number < 0:
            self.error(
                column, _("%(number)s is negative; a count must be 0 or more", number=number)
            )
            return None
        if number > MAX_COUNT:
            self.error(
                column,
                _(
                    "%(number)s is too large; a count is at most %(limit)s",
                    number=value,
                    limit=MAX_COUNT,
                ),
            )
            return None
        return number

    def day(self, column: str) -> date | None:
        """A date written YYYY-MM-DD, the one form that no locale reads differently."""
        value = self.text(column)
        if value is None:
            return None
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.error(
                column,
                _(
                    "'%(value)s' is not a date written YYYY-MM-DD (for example 2026-09-01);"
                    " in Excel, format the column as text or as yyyy-mm-dd before saving",
                    value=value,
                ),
            )
            return None
