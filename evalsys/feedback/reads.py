"""Reading feedback records back: one record's scores, revisions and the input its edit
form starts from; the paged lists (the reviewers' with its filters, an observer's own, a
teacher's) and their teacher responses.

The rows of every list come from :mod:`evalsys.feedback.rows` (one joined query);
who may see which records is decided by the conditions of
:mod:`evalsys.accounts.access` (:func:`~evalsys.accounts.access.feedback_reviewed_by`
and friends), used here, never restated. Changing records is
:mod:`evalsys.feedback.writes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from evalsys.accounts.access import (
    feedback_authored_by,
    feedback_reviewed_by,
    feedback_taught_to,
)
from evalsys.accounts.models import User
from evalsys.feedback.inputs import INPUT_COLUMNS, FeedbackInput
from evalsys.feedback.models import (
    Feedback,
    FeedbackRevision,
    FeedbackScore,
    RubricItem,
    TeacherResponse,
)
from evalsys.feedback.rows import FeedbackRow, count_feedback, feedback_rows
from evalsys.feedback.vocab import FeedbackStatus
from evalsys.org.models import OrgUnit, OrgUnitClosure, Section, Term, TutorGroup
from evalsys.pagination import Page, clamp_page

# --- one record -------------------------------------------------------------------------


def feedback_scores(session: Session, feedback_id: int) -> dict[str, float]:
    """The record's scores by item code."""
    stmt = (
        select(RubricItem.code, FeedbackScore.value)
        .join(RubricItem, col(RubricItem.id) == FeedbackScore.item_id)
        .where(FeedbackScore.feedback_id == feedback_id)
        .order_by(col(RubricItem.position))
    )
    return {code: value for code, value in session.exec(stmt).all()}


def revisions(session: Session, feedback_id: int) -> list[FeedbackRevision]:
    stmt = (
        select(FeedbackRevision)
        .where(FeedbackRevision.feedback_id == feedback_id)
        .order_by(col(FeedbackRevision.at), col(FeedbackRevision.id))
    )
    return list(session.exec(stmt).all())


def input_from_feedback(session: Session, feedback: Feedback) -> FeedbackInput:
    """The stored record as input again: what an edit form starts from."""
    assert feedback.id is not None  # a stored record
    section = session.get(Section, feedback.section_id) if feedback.section_id else None
    group = session.get(TutorGroup, feedback.group_id) if feedback.group_id else None
    data = FeedbackInput(
        kind=feedback.kind,
        section=section.code if section else None,
        group=group.code if group else None,
        date=feedback.visit_date,
        scores=dict(feedback_scores(session, feedback.id)),
    )
    for name in INPUT_COLUMNS:
        if name != "visit_date":
            setattr(data, name, getattr(feedback, name))
    return data


# --- lists of records -------------------------------------------------------------------


@dataclass
class FeedbackFilters:
    """The filters of the reviewers' list; None means "any"."""

    term: str | None = None  # term code
    unit: str | None = None  # unit code: records of that unit and below
    kind: str | None = None
    teacher: str | None = None  # part of the section teacher's name or username
    score_min: float | None = None
    score_max: float | None = None


def _page_of_rows(
    session: Session,
    conditions: Sequence[Any],
    order: Sequence[Any],
    page: int,
    per_page: int,
) -> Page[FeedbackRow]:
    """Two queries whatever the page size: the count, then the page's rows with their joins."""
    total = count_feedback(session, conditions)
    page = clamp_page(page, total, per_page)
    rows = feedback_rows(
        session,
        conditions,
        order=[*order, col(Feedback.id).desc()],
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    return Page(rows, page, per_page, total)


def feedback_in_scope(
    session: Session,
    *,
    user: User,
    filters: FeedbackFilters | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page[FeedbackRow]:
    """Submitted records of the departments where the user has ``VIEW_FEEDBACK``, filtered.

    Every filter is a condition on the feedback row itself (subqueries for unit
    and teacher), so the count and the page run the same plain query.
    """
    conditions = scope_conditions(user, filters)
    order = [col(Feedback.visit_date).desc()]
    return _page_of_rows(session, conditions, order, page, per_page)


def scope_conditions(user: User | None, filters: FeedbackFilters | None = None) -> list[Any]:
    """The conditions on submitted feedback for a list or an export.

    ``user`` None is the whole school (the command line, run by whoever runs the server).
    """
    f = filters or FeedbackFilters()
    conditions: list[Any] = [Feedback.status == FeedbackStatus.SUBMITTED]
    if user is not None:
        conditions.append(feedback_reviewed_by(user))
    if f.term:
        conditions.append(col(Feedback.term_id).in_(select(Term.id).where(Term.code == f.term)))
    if f.unit:
        below = (
            select(OrgUnitClosure.descendant_id)
            .join(OrgUnit, col(OrgUnit.id) == OrgUnitClosure.ancestor_id)
            .where(OrgUnit.code == f.unit)
        )
        conditions.append(col(Feedback.department_id).in_(below))
    if f.kind:
        conditions.append(Feedback.kind == f.kind)
    if f.teacher:
        needle = f.teacher.strip().lower()
        taught = (
            select(Section.id)
            .join(User, col(User.id) == Section.teacher_id)
            .where(
                or_(
                    func.lower(User.name).contains(needle, autoescape=True),
                    func.lower(User.username).contains(needle, autoescape=True),
                )
            )
        )
        conditions.append(col(Feedback.section_id).in_(taught))
    if f.score_min is not None:
        conditions.append(col(Feedback.overall_score) >= f.score_min)
    if f.score_max is not None:
        conditions.append(col(Feedback.overall_score) <= f.score_max)
    return conditions


def feedback_by_observer(
    session: Session, *, user: User, page: int = 1, per_page: int = 25
) -> Page[FeedbackRow]:
    """The user's own records, drafts first (they wait to be finished), newest visit first."""
    conditions = [feedback_authored_by(user)]
    drafts_first = case((col(Feedback.status) == FeedbackStatus.DRAFT, 0), else_=1)
    order = [drafts_first, col(Feedback.visit_date).desc()]
    return _page_of_rows(session, conditions, order, page, per_page)


def feedback_on_teacher(
    session: Session, *, user: User, page: int = 1, per_page: int = 25
) -> Page[FeedbackRow]:
    """Submitted records on the sections the user teaches, newest visit first."""
    conditions = [Feedback.status == FeedbackStatus.SUBMITTED, feedback_taught_to(user)]
    return _page_of_rows(session, conditions, [col(Feedback.visit_date).desc()], page, per_page)


def responses_for(
    session: Session, feedback_ids: Sequence[int]
) -> dict[int, list[TeacherResponse]]:
    """Teacher responses of several records in one query, oldest first."""
    if not feedback_ids:
        return {}
    stmt = (
        select(TeacherResponse)
        .where(col(TeacherResponse.feedback_id).in_(list(feedback_ids)))
        .order_by(col(TeacherResponse.created_at), col(TeacherResponse.id))
    )
    out: dict[int, list[TeacherResponse]] = {}
    for response in session.exec(stmt).all():
        out.setdefault(response.feedback_id, []).append(response)
    return out
