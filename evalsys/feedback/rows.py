"""Feedback records with what they refer to, read once for every list, export and API page.

A record on its own names ids; whoever shows it wants the term's code, the section and
course, the teacher, the department, the observer and the rubric's version. The lists,
the spreadsheet export and the API each wrote that join with its own tuple of columns
unpacked by position, so a column added to one drifted from the others (issue #14).
Here the join is written once, every column carries a label, and rows are read by name
into :class:`FeedbackRow`.

Which records a reader may see is not decided here: callers pass their conditions
(:func:`evalsys.accounts.access.feedback_visible_to`, a list's filters…), so the same
query serves the web, the command line and the API without knowing who asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.feedback.models import Feedback, Rubric
from evalsys.i18n import localized
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup

__all__ = ["FeedbackRow", "count_feedback", "feedback_rows", "rows_select"]


@dataclass(frozen=True)
class FeedbackRow:
    """A record and the codes and names of what it refers to, loaded in one query.

    ``record`` carries the record's own columns; the rest are the joined values, None
    where the record has no section (a tutor-group record), no group, or where the
    observer is hidden from the reader.
    """

    record: Feedback
    term_code: str
    rubric_version: int
    department_code: str
    department_name: str
    department_name_en: str | None
    observer_username: str | None
    observer_name: str | None
    section_code: str | None
    course_code: str | None
    course_title: str | None
    course_title_en: str | None
    teacher_username: str | None
    teacher_name: str | None
    group_code: str | None
    group_name: str | None

    # The names the list templates read (they were the row's own fields before).
    @property
    def id(self) -> int:
        return self.record.id  # type: ignore[return-value]  # a stored record: never None

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def visit_date(self) -> date:
        return self.record.visit_date

    @property
    def overall_score(self) -> float | None:
        return self.record.overall_score

    @property
    def overall_grade(self) -> str | None:
        return self.record.overall_grade

    @property
    def updated_at(self) -> datetime:
        return self.record.updated_at

    @property
    def observer_id(self) -> int:
        return self.record.observer_id

    @property
    def target_code(self) -> str:
        return self.section_code or self.group_code or ""

    @property
    def target_title(self) -> str:
        """The course title (in the reader's language where it has two) or the group's name."""
        if self.course_title:
            return localized(self, "course_title")
        return self.group_name or ""

    @property
    def department(self) -> str:
        """The department's name in the reader's language."""
        return localized(self, "department_name")


#: The joined values, by name: every field of FeedbackRow but the record itself.
JOINED = tuple(f.name for f in fields(FeedbackRow) if f.name != "record")


def rows_select(*, observer_hidden: ColumnElement[bool] | None = None) -> Select:
    """The joined select, unfiltered and unordered, each joined column labelled by its
    :class:`FeedbackRow` field.

    Where ``observer_hidden`` holds, the observer's username and name are null (a teacher
    is not told who observed them): the database decides per row, so a page mixing the
    reader's own records with others' stays one query.
    """
    teacher = aliased(User, name="teacher")
    observer = aliased(User, name="observer")
    observer_username: Any = col(observer.username)
    observer_name: Any = col(observer.name)
    if observer_hidden is not None:
        observer_username = case((observer_hidden, None), else_=observer_username)
        observer_name = case((observer_hidden, None), else_=observer_name)
    columns: dict[str, Any] = {
        "term_code": Term.code,
        "rubric_version": Rubric.version,
        "department_code": OrgUnit.code,
        "department_name": OrgUnit.name,
        "department_name_en": OrgUnit.name_en,
        "observer_username": observer_username,
        "observer_name": observer_name,
        "section_code": Section.code,
        "course_code": Course.code,
        "course_title": Course.title,
        "course_title_en": Course.title_en,
        "teacher_username": teacher.username,
        "teacher_name": teacher.name,
        "group_code": TutorGroup.code,
        "group_name": TutorGroup.name,
    }
    assert tuple(columns) == JOINED, "rows_select and FeedbackRow name different columns"
    return (
        select(Feedback, *(expr.label(name) for name, expr in columns.items()))
        .join(Term, col(Term.id) == Feedback.term_id)
        .join(Rubric, col(Rubric.id) == Feedback.rubric_id)
        .join(OrgUnit, col(OrgUnit.id) == Feedback.department_id)
        .join(observer, col(observer.id) == Feedback.observer_id)
        .outerjoin(Section, col(Section.id) == Feedback.section_id)
        .outerjoin(Course, col(Course.id) == Section.course_id)
        .outerjoin(teacher, col(teacher.id) == Section.teacher_id)
        .outerjoin(TutorGroup, col(TutorGroup.id) == Feedback.group_id)
    )


def feedback_rows(
    session: Session,
    conditions: Sequence[Any],
    *,
    order: Sequence[Any] = (),
    limit: int | None = None,
    offset: int = 0,
    observer_hidden: ColumnElement[bool] | None = None,
) -> list[FeedbackRow]:
    """The records matching every condition, in ``order``, ``limit`` of them from
    ``offset``: one query. End ``order`` with the id, so pages never share or skip a row."""
    stmt = rows_select(observer_hidden=observer_hidden).where(*conditions).order_by(*order)
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    # SQLModel's exec() is typed for selects of at most four entities; this one has more.
    return [_row(row._mapping) for row in session.exec(stmt).all()]  # type: ignore[call-overload]


def count_feedback(session: Session, conditions: Sequence[Any]) -> int:
    """How many records match every condition (the total beside a page of rows)."""
    stmt = select(func.count()).select_from(Feedback).where(*conditions)
    return int(session.exec(stmt).one())


def _row(mapping: Any) -> FeedbackRow:
    return FeedbackRow(record=mapping[Feedback], **{name: mapping[name] for name in JOINED})
