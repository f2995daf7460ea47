"""What the API shows of feedback and rubrics, and which records a caller may see.

A caller sees what :func:`evalsys.accounts.access.feedback_visible_to` allows, the
rule of the web pages too: the records they wrote (drafts too), the submitted and
withdrawn records of every department where a role gives them
``Perm.VIEW_FEEDBACK`` (deans their college, heads their department, leaders
and admins their units), and the submitted records on the sections they teach.
Everything else does not exist for them: a record outside this answers 404,
never 403, so ids reveal nothing (:func:`evalsys.accounts.access.api_feedback_or_404`).

A page of records costs three queries whatever its size: the records with the
codes they refer to (one joined query), the total, and the scores of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, false, not_, or_
from sqlmodel import Session, col, select

from evalsys.accounts.access import (
    feedback_authored_by,
    feedback_reviewed_by,
)
from evalsys.accounts.models import User
from evalsys.api.schemas import FeedbackOut
from evalsys.feedback.models import Feedback, FeedbackScore, Rubric, RubricItem
from evalsys.feedback.rows import FeedbackRow, count_feedback, feedback_rows
from evalsys.feedback.rubrics import rubric_items
from evalsys.feedback.vocab import (
    DIMENSIONS,
    GRADE_LABELS,
    MEETING_FORMAT_LABELS,
    OBSERVER_LEVEL_LABELS,
    Grade,
)
from evalsys.org.models import OrgUnitClosure

#: The record's fields, in order: :class:`~evalsys.api.schemas.FeedbackOut` names them once
#: (the document shows it, and every answer is checked against it).
FIELDS = tuple(FeedbackOut.model_fields)


def observer_hidden_from(user: User, *, shown_to_teacher: bool) -> ColumnElement[bool]:
    """SQL condition: ``user`` reads this record only as its section's teacher, and teachers
    are not told who observed them (``FEEDBACK_SHOW_OBSERVER_TO_TEACHER`` off)."""
    if shown_to_teacher:
        return false()
    return not_(or_(feedback_authored_by(user), feedback_reviewed_by(user)))


def in_subtree(unit_id: int) -> ColumnElement[bool]:
    """SQL condition: the record's department is the unit or below it."""
    below = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)
    return col(Feedback.department_id).in_(below)


def page_of_records(
    session: Session,
    conditions: Sequence[ColumnElement[bool]],
    *,
    page: int,
    per_page: int,
    hidden: ColumnElement[bool],
) -> tuple[list[dict[str, Any]], int]:
    """One page of records matching every condition (newest visit first) and the total;
    ``observer`` is null on the rows where ``hidden`` holds."""
    total = count_feedback(session, conditions)
    rows = feedback_rows(
        session,
        conditions,
        order=[col(Feedback.visit_date).desc(), col(Feedback.id).desc()],
        limit=per_page,
        offset=(page - 1) * per_page,
        observer_hidden=hidden,
    )
    return _with_scores(session, rows), total


def one_record(
    session: Session, user: User, feedback_id: int, *, shown_to_teacher: bool = False
) -> dict[str, Any]:
    """One record as the API writes it, for a caller already let through (by
    :func:`~evalsys.accounts.access.api_feedback_or_404`, or as its author who just stored
    it); ``user`` decides only whether the observer is named."""
    hidden = observer_hidden_from(user, shown_to_teacher=shown_to_teacher)
    rows = feedback_rows(session, [col(Feedback.id) == feedback_id], observer_hidden=hidden)
    return _with_scores(session, rows)[0]


def _with_scores(session: Session, rows: list[FeedbackRow]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    scores: dict[int, dict[str, float]] = {i: {} for i in ids}
    if ids:
        stmt = (
            select(FeedbackScore.feedback_id, RubricItem.code, FeedbackScore.value)
            .join(RubricItem, col(RubricItem.id) == FeedbackScore.item_id)
            .where(col(FeedbackScore.feedback_id).in_(ids))
            .order_by(col(FeedbackScore.feedback_id), col(RubricItem.position))
        )
        for feedback_id, code, value in session.exec(stmt).all():
            scores[feedback_id][code] = value
    return [record_json(row, scores=scores[row.id]) for row in rows]


def record_json(row: FeedbackRow, *, scores: dict[str, float]) -> dict[str, Any]:
    """The record as the API writes it: each field of FeedbackOut, from the joined row or,
    by the same name, from the record's own column."""
    feedback = row.record
    joined: dict[str, Any] = {
        "url": f"/api/v1/feedback/{feedback.id}",
        "rubric_version": row.rubric_version,
        "term": row.term_code,
        "section": row.section_code,
        "group": row.group_code,
        "department": row.department_code,
        "observer": row.observer_username,
        "date": feedback.visit_date.isoformat(),
        "scores": scores,
        "created_at": _iso(feedback.created_at),
        "updated_at": _iso(feedback.updated_at),
        "submitted_at": _iso(feedback.submitted_at),
    }
    return {name: joined[name] if name in joined else getattr(feedback, name) for name in FIELDS}


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _labels(code: str, labels: dict[str, tuple[str, str]]) -> dict[str, str]:
    zh, en = labels[code]
    return {"code": code, "label": zh, "label_en": en}


def rubric_json(session: Session, rubric: Rubric) -> dict[str, Any]:
    """The current rubric of a kind with everything a client needs to build its form."""
    items = [
        {
            "code": item.code,
            "label": item.label,
            "label_en": item.label_en,
            "description": item.description,
            "description_en": item.description_en,
            "dimension": item.dimension,
            "scale_min": item.scale_min,
            "scale_max": item.scale_max,
            "weight": item.weight,
            "required": item.required,
        }
        for item in rubric_items(session, rubric.id)  # type: ignore[arg-type]
    ]
    dimensions = DIMENSIONS[rubric.kind]
    choices: dict[str, list[dict[str, str]]] = {
        "overall_grade": [_labels(g.value, GRADE_LABELS) for g in Grade]
    }
    if rubric.kind == "open_class":
        choices["observer_level"] = [
            _labels(c, OBSERVER_LEVEL_LABELS) for c in OBSERVER_LEVEL_LABELS
        ]
    if rubric.kind == "tutor_group":
        choices["meeting_format"] = [
            _labels(c, MEETING_FORMAT_LABELS) for c in MEETING_FORMAT_LABELS
        ]
    return {
        "kind": rubric.kind,
        "version": rubric.version,
        "title": rubric.title,
        "title_en": rubric.title_en,
        "description": rubric.description,
        "description_en": rubric.description_en,
        "published_at": _iso(rubric.published_at),
        "dimensions": [_labels(code, dimensions) for code in dimensions],
        "items": items,
        "choices": choices,
    }
