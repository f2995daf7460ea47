"""Admins' dashboard: data health of the units they manage.

* Sections never visited this term (no submitted spot check or open class), within
  the units where the user has MANAGE: how many of how many, and the first few.
* For admins of the whole school: the last run of every scheduled job, and the
  last aggregation run (and last successful one) of each open term, with when its
  PDF reports were last rendered.

A fixed number of queries whatever the size of the school.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, case, exists, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, is_school_admin, scope_ids, top_units
from evalsys.accounts.models import User
from evalsys.aggregation.models import AggregationRun, RunStatus
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus
from evalsys.org.models import Course, OrgUnit, Section, Term
from evalsys.scheduler.models import JobRun

#: Never-visited sections listed by name (the count covers them all).
LISTED = 10
VISIT_KINDS = (FeedbackKind.SPOT_CHECK.value, FeedbackKind.OPEN_CLASS.value)


@dataclass
class AdminDashboard:
    units: list[OrgUnit]
    term: Term | None
    sections: int = 0
    never_visited: int = 0
    unvisited: list[dict[str, Any]] = field(default_factory=list)
    #: Supervisors below the term's expected visits so far (the planner's rows), if planned.
    behind: list[Any] = field(default_factory=list)
    #: Only for admins of the school (None otherwise): the schedule's and aggregation's state.
    job_runs: list[JobRun] | None = None
    open_terms: list[dict[str, Any]] | None = None


def current_term(session: Session, today: date) -> Term | None:
    """The term running today, else the latest one that has begun."""
    stmt = (
        select(Term)
        .where(Term.start_date <= today)
        .order_by(case((col(Term.end_date) >= today, 0), else_=1), col(Term.start_date).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def _visited(section_id: Any) -> Any:
    return exists().where(
        col(Feedback.section_id) == section_id,
        col(Feedback.status) == FeedbackStatus.SUBMITTED.value,
        col(Feedback.kind).in_(VISIT_KINDS),
    )


def admin_dashboard(session: Session, *, user: User, today: date) -> AdminDashboard | None:
    """None for users who administer no unit."""
    units = top_units(session, user, Perm.MANAGE)
    if not units:
        return None
    term = current_term(session, today)
    board = AdminDashboard(units=units, term=term)
    if term is not None:
        in_scope = and_(
            col(Section.term_id) == term.id,
            col(Course.department_id).in_(scope_ids(user, Perm.MANAGE)),
        )
        never = ~_visited(Section.id)
        counts = session.exec(
            select(func.count(), func.count().filter(never))
            .select_from(Section)
            .join(Course, col(Course.id) == Section.course_id)
            .where(in_scope)
        ).one()
        board.sections, board.never_visited = int(counts[0]), int(counts[1])
        teacher = aliased(User, name="teacher")
        listed = session.exec(
            # SQLModel's select() is typed for at most four columns; it takes any number.
            select(Section.code, Course.title, Course.title_en, OrgUnit.code, teacher.name)  # type: ignore[call-overload]
            .select_from(Section)
            .join(Course, col(Course.id) == Section.course_id)
            .join(OrgUnit, col(OrgUnit.id) == Course.department_id)
            .outerjoin(teacher, col(teacher.id) == Section.teacher_id)
            .where(in_scope, never)
            .order_by(col(OrgUnit.code), col(Section.code))
            .limit(LISTED)
        ).all()
        board.unvisited = [
            {
                "code": code,
                "course": title,
                "course_en": title_en,
                "department": dept,
                "teacher": name,
            }
            for code, title, title_en, dept, name in listed
        ]
        from evalsys.planner.service import supervisor_rows

        rows = supervisor_rows(session, term=term, viewer=user, today=today)
        board.behind = [r for r in rows if r.behind]
    if is_school_admin(session, user):
        latest = select(func.max(JobRun.id)).group_by(col(JobRun.job_id))
        board.job_runs = list(
            session.exec(
                select(JobRun).where(col(JobRun.id).in_(latest)).order_by(col(JobRun.job_id))
            ).all()
        )
        board.open_terms = _open_terms_runs(session, today)
    return board


def _open_terms_runs(session: Session, today: date) -> list[dict[str, Any]]:
    """Each open term with its last aggregation run, its last successful one and when its
    reports were last rendered (one query)."""
    last = aliased(AggregationRun, name="last_run")
    good = aliased(AggregationRun, name="good_run")
    from evalsys.reports.models import Report

    rendered = (
        select(func.max(Report.generated_at)).where(Report.term_id == Term.id).scalar_subquery()
    )
    last_id = (
        select(func.max(AggregationRun.id))
        .where(AggregationRun.term_id == Term.id)
        .scalar_subquery()
    )
    good_id = (
        select(func.max(AggregationRun.id))
        .where(
            AggregationRun.term_id == Term.id,
            AggregationRun.status == RunStatus.SUCCEEDED.value,
        )
        .scalar_subquery()
    )
    rows = session.exec(
        select(Term, last, good, rendered)
        .select_from(Term)
        .outerjoin(last, col(last.id) == last_id)
        .outerjoin(good, col(good.id) == good_id)
        .where(Term.end_date >= today)
        .order_by(col(Term.start_date))
    ).all()
    return [
        {"term": term, "last": run, "succeeded": ok, "report_at": at} for term, run, ok, at in rows
    ]
