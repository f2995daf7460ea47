"""Assignments become done when the spot check is submitted, and undone when it is withdrawn.

The rule: a submitted spot check fulfils an open assignment of **its observer** for
**its section** whose date lies in the **same Monday-to-Sunday week** as the visit
(the exact date first). A class moved by a day still counts; a visit in another
week does not. A late record (its visit date in an ended week) still fulfils the
assignment of that week, even one already marked missed.

:func:`feedback_changed` runs on every change of a record (create, edit, submit,
withdraw): the feedback service sends :data:`evalsys.signals.feedback_changed`
inside its transaction and this module listens, so the link is never out of step
with the records and feedback does not depend on the planner. :func:`link_draw` links records made
before a draw of the current week was stored.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import case, update
from sqlmodel import Session, col, select

from evalsys import signals
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus
from evalsys.planner.models import Assignment, AssignmentStatus, Draw
from evalsys.planner.weeks import monday


def _fulfils(feedback: Feedback) -> bool:
    return (
        feedback.kind == FeedbackKind.SPOT_CHECK
        and feedback.status == FeedbackStatus.SUBMITTED
        and feedback.section_id is not None
    )


def _same_week(a: date, b: date) -> bool:
    return monday(a) == monday(b)


def feedback_changed(session: Session, feedback: Feedback) -> None:
    """Bring the assignment linked to ``feedback`` in line with it (no flush, no commit)."""
    if feedback.id is None:
        return
    with session.no_autoflush:
        linked = session.exec(
            select(Assignment).where(Assignment.feedback_id == feedback.id)
        ).first()
    if linked is not None:
        still = (
            _fulfils(feedback)
            and linked.section_id == feedback.section_id
            and linked.supervisor_id == feedback.observer_id
            and _same_week(linked.visit_date, feedback.visit_date)
        )
        if still:
            return
        linked.feedback_id = None
        linked.status = AssignmentStatus.PLANNED.value
        session.add(linked)
        # Written now: the record may fulfil another assignment next, and a record
        # links to one assignment only (a unique key PostgreSQL checks per statement).
        session.flush()
    if not _fulfils(feedback):
        return
    start = monday(feedback.visit_date)
    stmt = (
        select(Assignment)
        .where(
            Assignment.supervisor_id == feedback.observer_id,
            Assignment.section_id == feedback.section_id,
            col(Assignment.feedback_id).is_(None),
            col(Assignment.visit_date).between(start, start + timedelta(days=6)),
        )
        .order_by(
            case((col(Assignment.visit_date) == feedback.visit_date, 0), else_=1),
            col(Assignment.visit_date),
            col(Assignment.id),
        )
        .limit(1)
    )
    with session.no_autoflush:
        assignment = session.exec(stmt).first()
    if assignment is not None and (linked is None or assignment.id != linked.id):
        assignment.feedback_id = feedback.id
        assignment.status = AssignmentStatus.DONE.value
        session.add(assignment)


@signals.feedback_changed.connect
def on_feedback_changed(feedback: Feedback, *, session: Session, **_: object) -> None:
    feedback_changed(session, feedback)


def link_draw(session: Session, draw: Draw) -> int:
    """Link the draw's assignments to spot checks already submitted for them; how many."""
    assignments = session.exec(
        select(Assignment)
        .where(Assignment.draw_id == draw.id, col(Assignment.feedback_id).is_(None))
        .order_by(col(Assignment.id))
    ).all()
    if not assignments:
        return 0
    start = draw.week_start
    used = select(Assignment.feedback_id).where(col(Assignment.feedback_id).is_not(None))
    records = session.exec(
        select(Feedback)
        .where(
            Feedback.kind == FeedbackKind.SPOT_CHECK.value,
            Feedback.status == FeedbackStatus.SUBMITTED.value,
            col(Feedback.visit_date).between(start, start + timedelta(days=6)),
            col(Feedback.observer_id).in_({a.supervisor_id for a in assignments}),
            col(Feedback.id).not_in(used),
        )
        .order_by(col(Feedback.id))
    ).all()
    linked = 0
    for record in records:
        for a in assignments:
            if (
                a.feedback_id is None
                and a.supervisor_id == record.observer_id
                and a.section_id == record.section_id
            ):
                a.feedback_id = record.id
                a.status = AssignmentStatus.DONE.value
                session.add(a)
                linked += 1
                break
    session.flush()
    return linked


def mark_missed(session: Session, *, today: date) -> int:
    """Planned assignments of weeks that ended before today's week began: missed. How many."""
    stmt = (
        update(Assignment)
        .where(
            col(Assignment.status) == AssignmentStatus.PLANNED.value,
            col(Assignment.visit_date) < monday(today),
        )
        .values(status=AssignmentStatus.MISSED.value)
    )
    result = session.exec(stmt)
    return int(result.rowcount or 0)
