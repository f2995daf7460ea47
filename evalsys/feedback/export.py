"""Feedback records as rows for a spreadsheet: one row per record, one column per item.

The first columns are those of the historical import (``feedback.csv``: kind, section,
group, observer, date, overall, comment, the other fields, and ``score:ITEM_CODE``),
so an export can be edited and read back by ``evalsys import``; the columns after
them (term, course, teacher, the computed overall score…) are for reading and are
ignored by the import. Rows are read in batches with their joins; scores per batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.feedback.columns import COLUMNS, OPTIONAL_COLUMNS, SCORE_PREFIX
from evalsys.feedback.models import Feedback, FeedbackScore, Rubric, RubricItem
from evalsys.feedback.reads import FeedbackFilters, scope_conditions
from evalsys.feedback.rows import feedback_rows

#: Columns after the importable ones, for reading.
EXTRA_COLUMNS = (
    "id",
    "term",
    "course",
    "course_title",
    "department",
    "teacher",
    "teacher_name",
    "observer_name",
    "overall_score",
    "rubric_version",
    "submitted_at",
)
BATCH = 1000

_FIELD_OF = {"overall": "overall_grade", "date": "visit_date"}


@dataclass
class FeedbackExport:
    columns: list[str]
    rows: Iterator[list[Any]]


def export_feedback(
    session: Session, *, user: User | None, filters: FeedbackFilters | None = None
) -> FeedbackExport:
    """Submitted records matching ``filters`` in the user's scope (None: the whole school)."""
    conditions = scope_conditions(user, filters)
    item_codes = _item_codes(session, conditions)
    columns = [
        *COLUMNS,
        *OPTIONAL_COLUMNS,
        *(SCORE_PREFIX + code for code in item_codes),
        *EXTRA_COLUMNS,
    ]
    return FeedbackExport(columns, _rows(session, conditions, item_codes))


def _item_codes(session: Session, conditions: Sequence[Any]) -> list[str]:
    """Every item code used by the exported records, in rubric order (kind, version, position)."""
    used = select(Feedback.rubric_id).where(*conditions).distinct()
    stmt = (
        select(RubricItem.code, func.min(Rubric.kind), func.min(RubricItem.position))
        .join(Rubric, col(Rubric.id) == RubricItem.rubric_id)
        .where(col(RubricItem.rubric_id).in_(used))
        .group_by(RubricItem.code)
        .order_by(func.min(Rubric.kind), func.min(RubricItem.position), RubricItem.code)
    )
    return [code for code, _, _ in session.exec(stmt).all()]


def _rows(session: Session, conditions: Sequence[Any], item_codes: list[str]) -> Iterator[list]:
    order = [col(Feedback.visit_date), col(Feedback.id)]
    after: list[Any] = []
    while True:
        batch = feedback_rows(session, [*conditions, *after], order=order, limit=BATCH)
        if not batch:
            return
        scores = _scores(session, [row.id for row in batch])
        for row in batch:
            fb = row.record
            values = {
                "section": row.section_code,
                "group": row.group_code,
                "observer": row.observer_username,
            }
            own = scores.get(row.id, {})
            yield [
                *(values.get(c, getattr(fb, _FIELD_OF.get(c, c), None)) for c in COLUMNS),
                *(getattr(fb, c) for c in OPTIONAL_COLUMNS),
                *(own.get(code) for code in item_codes),
                row.id,
                row.term_code,
                row.course_code,
                row.course_title,
                row.department_code,
                row.teacher_username,
                row.teacher_name,
                row.observer_name,
                round(fb.overall_score, 2) if fb.overall_score is not None else None,
                row.rubric_version,
                fb.submitted_at,
            ]
        after = [_after(batch[-1].visit_date, batch[-1].id)]


def _after(visit_date: Any, feedback_id: int) -> Any:
    """Keyset pagination: rows after (date, id), stable however many rows there are."""
    return (col(Feedback.visit_date) > visit_date) | (
        (col(Feedback.visit_date) == visit_date) & (col(Feedback.id) > feedback_id)
    )


def _scores(session: Session, ids: list[int]) -> dict[int, dict[str, float]]:
    stmt = (
        select(FeedbackScore.feedback_id, RubricItem.code, FeedbackScore.value)
        .join(RubricItem, col(RubricItem.id) == FeedbackScore.item_id)
        .where(col(FeedbackScore.feedback_id).in_(ids))
    )
    out: dict[int, dict[str, float]] = {}
    for feedback_id, code, value in session.exec(stmt).all():
        out.setdefault(feedback_id, {})[code] = int(value) if float(value).is_integer() else value
    return out
