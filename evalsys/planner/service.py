"""The planner's reads and writes for pages, CLI and jobs: settings, progress, assignments.

Plain functions taking a session. Every list of assignments goes through
:func:`_visible_to`, which hides an unannounced visit from the teacher of the
section whoever else they are (an admin who also teaches does not learn of the
unannounced visits to their own classes).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import Integer, and_, func, or_
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, scope_ids
from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.clock import utcnow
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section, Term
from evalsys.org.timetable import TimetableError, parse_meetings
from evalsys.planner import weeks
from evalsys.planner.inputs import REASON_NAMES, supervisors
from evalsys.planner.models import Assignment, AssignmentStatus, Draw, PlanSetting

#: The settings a form edits, in form order.
SETTING_FIELDS = (
    "visits_per_week",
    "max_visits_per_week",
    "quota_from_week",
    "visits_per_teacher",
    "buffer_weeks",
    "weight_new_staff",
    "weight_low_rated",
    "low_rating_threshold",
    "weight_never_visited",
    "unannounced_share",
    "active",
)


def settings_of(session: Session, term: Term) -> PlanSetting | None:
    return session.get(PlanSetting, term.id)


def save_settings(
    session: Session, *, term: Term, values: dict[str, Any], user: User | None = None
) -> PlanSetting:
    """Create or update the term's settings from checked values; flushes."""
    assert term.id is not None  # a stored term
    settings = session.get(PlanSetting, term.id) or PlanSetting(term_id=term.id)
    for name in SETTING_FIELDS:
        if name in values:
            setattr(settings, name, values[name])
    settings.updated_at = utcnow()
    settings.updated_by_id = user.id if user is not None else None
    session.add(settings)
    session.flush()
    return settings


def current_terms(session: Session, today: date) -> list[Term]:
    """Terms running today, earliest first."""
    stmt = (
        select(Term)
        .where(Term.start_date <= today, Term.end_date >= today)
        .order_by(col(Term.start_date))
    )
    return list(session.exec(stmt).all())


def term_by_code(session: Session, code: str) -> Term | None:
    return session.exec(select(Term).where(Term.code == code)).first()


# --- assignments as rows ------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    visit_date: date
    first_period: int
    last_period: int
    announced: bool
    status: str
    section_code: str
    course_title: str
    teacher_name: str | None
    supervisor_name: str
    reasons: str | None
    feedback_id: int | None
    course_title_en: str | None = None
    meetings: str | None = None

    @property
    def room(self) -> str | None:
        """Where the class meets at the visit's slot, if the timetable names a room."""
        try:
            slots = parse_meetings(self.meetings)
        except TimetableError:  # stored canonical by the import; an old row may not be
            return None
        for slot in slots:
            if (slot.weekday, slot.first, slot.last) == (
                self.visit_date.isoweekday(),
                self.first_period,
                self.last_period,
            ):
                return slot.room
        return None

    @property
    def periods(self) -> str:
        if self.first_period == self.last_period:
            return str(self.first_period)
        return f"{self.first_period}-{self.last_period}"

    @property
    def period_text(self) -> str:
        """The periods as an observer writes them on the form, in the reader's language."""
        if self.first_period == self.last_period:
            return str(_("period %(period)s", period=self.first_period))
        return str(_("periods %(first)s-%(last)s", first=self.first_period, last=self.last_period))

    @property
    def form_args(self) -> dict[str, str]:
        """The spot-check form's link for this visit: the form starts from what was assigned.

        The record is then linked to the assignment by :mod:`evalsys.planner.link`
        (its observer, section and week), as any spot check is. The room comes from the
        timetable (``Mon 1-2 @ B-204``) when it names one.
        """
        args = {
            "section": self.section_code,
            "date": self.visit_date.isoformat(),
            "period": self.period_text,
            "announced": "true" if self.announced else "false",
        }
        if room := self.room:
            args["room"] = room
        return args

    @property
    def weekday(self) -> str:
        """The day's short name in the reader's language (Babel's locale data: "Mon", "周一")."""
        return str(format_date(self.visit_date, "EEE"))

    @property
    def reason_names(self) -> list[str]:
        """Why the section was drawn, in the reader's language (stored as English codes)."""
        codes = [r.strip() for r in (self.reasons or "").split(",") if r.strip()]
        return [str(REASON_NAMES[c]) if c in REASON_NAMES else c for c in codes]


def _visible_to(viewer: User) -> Any:
    """SQL: the assignment may be shown to ``viewer`` (never an unannounced one of theirs)."""
    return or_(
        col(Assignment.announced),
        col(Section.teacher_id).is_(None),
        col(Section.teacher_id) != viewer.id,
    )


def _rows(session: Session, *conditions: Any, viewer: User) -> list[AssignmentRow]:
    # SQLModel table classes have __table__ at run time, not in their type.
    teacher = User.__table__.alias("teacher")  # type: ignore[attr-defined]
    supervisor = User.__table__.alias("supervisor")  # type: ignore[attr-defined]
    # SQLModel's select() is typed for at most four columns; this one has fourteen.
    stmt = (
        select(  # type: ignore[call-overload,misc]
            Assignment.id,
            Assignment.visit_date,
            Assignment.first_period,
            Assignment.last_period,
            Assignment.announced,
            Assignment.status,
            Section.code,
            Course.title,
            teacher.c.name,
            supervisor.c.name,
            Assignment.reasons,
            Assignment.feedback_id,
            Course.title_en,
            Section.meetings,
        )
        .join(Section, col(Section.id) == Assignment.section_id)
        .join(Course, col(Course.id) == Section.course_id)
        .outerjoin(teacher, teacher.c.id == Section.teacher_id)
        .join(supervisor, supervisor.c.id == Assignment.supervisor_id)
        .where(_visible_to(viewer), *conditions)
        .order_by(col(Assignment.visit_date), col(Assignment.first_period), col(Assignment.id))
    )
    return [AssignmentRow(*row) for row in session.exec(stmt).all()]


def supervisor_assignments(
    session: Session, *, user: User, term: Term, start: date, end: date
) -> list[AssignmentRow]:
    """The user's own assignments of the term with a date in [start, end]."""
    return _rows(
        session,
        Assignment.term_id == term.id,
        Assignment.supervisor_id == user.id,
        col(Assignment.visit_date).between(start, end),
        viewer=user,
    )


def announced_visits(session: Session, *, teacher: User, today: date) -> list[AssignmentRow]:
    """Announced, still planned visits to the teacher's sections from today on.

    Unannounced visits are excluded in SQL, twice over (here and in ``_visible_to``).
    """
    return _rows(
        session,
        Section.teacher_id == teacher.id,
        col(Assignment.announced),
        Assignment.status == AssignmentStatus.PLANNED.value,
        Assignment.visit_date >= today,
        viewer=teacher,
    )


def _spot_checks_by(user_id: int, start: date, end: date) -> Any:
    return and_(
        col(Feedback.observer_id) == user_id,
        col(Feedback.kind) == FeedbackKind.SPOT_CHECK.value,
        col(Feedback.status) == FeedbackStatus.SUBMITTED.value,
        col(Feedback.visit_date).between(start, end),
    )


def weeks_due(settings: PlanSetting, term: Term, today: date) -> int:
    """The weeks the quota was due in so far: every ended week of the term from the
    plan's ``quota_from_week`` on (all of them once the term is over).

    Calendar weeks, drawn or not: counting only drawn weeks said "0 expected" in
    week 13 of a term whose draws had just begun, and nobody was ever behind. A
    plan started mid-term sets ``quota_from_week`` so the weeks before it are not due.
    """
    ended = min(weeks.week_of(term, today) - 1, weeks.last_week(term))
    return max(0, ended - settings.quota_from_week + 1)


@dataclass(frozen=True)
class QuotaProgress:
    term: Term
    week: int
    week_start: date
    quota: int | None
    visits_this_week: int
    assigned_this_week: int
    done_this_week: int
    visits_this_term: int
    #: Quota times the weeks that have ended since the quota started (None without settings).
    expected_so_far: int | None
    #: The week of the term the quota starts (None without settings).
    quota_from_week: int | None = None

    @property
    def behind(self) -> bool:
        return self.expected_so_far is not None and self.visits_this_term < self.expected_so_far


def quota_progress(session: Session, *, user: User, term: Term, today: date) -> QuotaProgress:
    """How the supervisor stands against the quota this week and this term (3 queries)."""
    settings = session.get(PlanSetting, term.id)
    assert user.id is not None  # a stored user
    week = max(1, min(weeks.week_of(term, today), weeks.last_week(term)))
    start = weeks.week_start(term, week)
    end = start + timedelta(days=6)
    visits_week = session.exec(
        select(func.count(col(Feedback.id))).where(
            Feedback.term_id == term.id,
            _spot_checks_by(user.id, start, end),
        )
    ).one()
    visits_term = session.exec(
        select(func.count(col(Feedback.id))).where(
            Feedback.term_id == term.id,
            _spot_checks_by(user.id, term.start_date, term.end_date),
        )
    ).one()
    assigned, done = session.exec(
        select(
            func.count(col(Assignment.id)),
            func.count(col(Assignment.feedback_id)),
        ).where(
            Assignment.term_id == term.id,
            Assignment.supervisor_id == user.id,
            col(Assignment.visit_date).between(start, end),
        )
    ).one()
    quota = settings.visits_per_week if settings is not None else None
    due = None if settings is None else weeks_due(settings, term, today)
    return QuotaProgress(
        term=term,
        week=week,
        week_start=start,
        quota=quota,
        visits_this_week=int(visits_week),
        assigned_this_week=int(assigned),
        done_this_week=int(done),
        visits_this_term=int(visits_term),
        expected_so_far=None if quota is None or due is None else quota * due,
        quota_from_week=None if settings is None else settings.quota_from_week,
    )


# --- the admins' view of a term -----------------------------------------------------


@dataclass(frozen=True)
class CoverageRow:
    unit_code: str
    unit_name: str
    teachers: int
    covered: int

    @property
    def share(self) -> float | None:
        return None if not self.teachers else self.covered / self.teachers


@dataclass(frozen=True)
class SupervisorRow:
    username: str
    name: str
    assignments: int
    done: int
    missed: int
    planned: int
    visits: int
    expected: int | None

    @property
    def behind(self) -> bool:
        return self.expected is not None and self.visits < self.expected


def _departments_in(viewer: User) -> Any:
    return scope_ids(viewer, Perm.MANAGE)


def coverage_by_department(
    session: Session, *, term: Term, viewer: User, target: int
) -> list[CoverageRow]:
    """Per department in the viewer's scope: teachers of the term, and those at the target.

    A teacher is counted in each department where they teach a section of the term,
    covered when submitted spot checks of the term on their sections (anywhere)
    reach ``target``. Two grouped queries.
    """
    visits = (
        select(col(Section.teacher_id).label("teacher_id"), func.count(col(Feedback.id)).label("n"))
        .join(Feedback, col(Feedback.section_id) == Section.id)
        .where(
            Feedback.term_id == term.id,
            Feedback.kind == FeedbackKind.SPOT_CHECK.value,
            Feedback.status == FeedbackStatus.SUBMITTED.value,
        )
        .group_by(col(Section.teacher_id))
        .subquery()
    )
    teaching = (
        select(col(Course.department_id).label("dept"), col(Section.teacher_id).label("teacher_id"))
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.term_id == term.id, col(Section.teacher_id).is_not(None))
        .where(col(Course.department_id).in_(_departments_in(viewer)))
        .distinct()
        .subquery()
    )
    covered = func.coalesce(visits.c.n, 0) >= target
    stmt = (
        select(
            OrgUnit.code,
            OrgUnit.name,
            func.count(teaching.c.teacher_id),
            func.sum(func.cast(covered, Integer)),
        )
        .join(teaching, teaching.c.dept == OrgUnit.id)
        .outerjoin(visits, visits.c.teacher_id == teaching.c.teacher_id)
        .group_by(OrgUnit.code, OrgUnit.name)
        .order_by(OrgUnit.code)
    )
    return [
        CoverageRow(code, name, int(n), int(c or 0))
        for code, name, n, c in session.exec(stmt).all()
    ]


def unvisited_teachers(
    session: Session, *, term: Term, viewer: User, target: int, limit: int = 200
) -> list[tuple[str, str]]:
    """(name, department code) of teachers in scope still below the target, by department."""
    visits = (
        select(func.count(col(Feedback.id)))
        .join(Section, col(Section.id) == Feedback.section_id)
        .where(
            Feedback.term_id == term.id,
            Feedback.kind == FeedbackKind.SPOT_CHECK.value,
            Feedback.status == FeedbackStatus.SUBMITTED.value,
            Section.teacher_id == User.id,
        )
        .scalar_subquery()
    )
    stmt = (
        select(User.name, OrgUnit.code)
        .join(Section, col(Section.teacher_id) == User.id)
        .join(Course, col(Course.id) == Section.course_id)
        .join(OrgUnit, col(OrgUnit.id) == Course.department_id)
        .where(Section.term_id == term.id)
        .where(col(Course.department_id).in_(_departments_in(viewer)))
        .where(visits < target)
        .distinct()
        .order_by(OrgUnit.code, User.name)
        .limit(limit)
    )
    return [(name, code) for name, code in session.exec(stmt).all()]


def supervisor_rows(
    session: Session, *, term: Term, viewer: User, today: date
) -> list[SupervisorRow]:
    """Each supervisor's assignments and visits on sections in the viewer's scope (2 queries)."""
    settings = session.get(PlanSetting, term.id)
    in_scope = (
        select(Section.id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.term_id == term.id)
        .where(col(Course.department_id).in_(_departments_in(viewer)))
    )
    status = Assignment.status
    counts = {
        supervisor_id: (int(n), int(d or 0), int(m or 0), int(p or 0))
        for supervisor_id, n, d, m, p in session.exec(
            select(  # type: ignore[call-overload]
                Assignment.supervisor_id,
                func.count(col(Assignment.id)),
                func.sum(func.cast(col(status) == AssignmentStatus.DONE.value, Integer)),
                func.sum(func.cast(col(status) == AssignmentStatus.MISSED.value, Integer)),
                func.sum(func.cast(col(status) == AssignmentStatus.PLANNED.value, Integer)),
            )
            .where(Assignment.term_id == term.id, col(Assignment.section_id).in_(in_scope))
            .group_by(Assignment.supervisor_id)
        ).all()
    }
    visits = dict(
        session.exec(
            select(Feedback.observer_id, func.count(col(Feedback.id)))
            .where(
                Feedback.term_id == term.id,
                Feedback.kind == FeedbackKind.SPOT_CHECK.value,
                Feedback.status == FeedbackStatus.SUBMITTED.value,
                col(Feedback.section_id).in_(in_scope),
            )
            .group_by(col(Feedback.observer_id))
        ).all()
    )
    expected = (
        None if settings is None else settings.visits_per_week * weeks_due(settings, term, today)
    )
    # Supervisors whose spot-check scope meets the viewer's units, with or without visits.
    working_here = set(
        session.exec(
            select(RoleGrant.user_id)
            .join(OrgUnitClosure, col(OrgUnitClosure.ancestor_id) == RoleGrant.unit_id)
            .where(
                RoleGrant.role == Role.SUPERVISOR.value,
                col(OrgUnitClosure.descendant_id).in_(_departments_in(viewer)),
            )
            .distinct()
        ).all()
    )
    rows = []
    for user in supervisors(session):
        n, d, m, p = counts.get(user.id, (0, 0, 0, 0))
        # A stored user: its id is set (get() with None would find nothing anyway).
        v = int(visits.get(user.id, 0))  # type: ignore[arg-type]
        if n or v or user.id in working_here:
            rows.append(SupervisorRow(user.username, user.name, n, d, m, p, v, expected))
    return rows


def term_assignments(
    session: Session, *, term: Term, viewer: User, start: date, end: date
) -> list[AssignmentRow]:
    """Assignments of the term in [start, end] on sections in the viewer's scope."""
    in_scope = (
        select(Section.id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(col(Course.department_id).in_(_departments_in(viewer)))
    )
    return _rows(
        session,
        Assignment.term_id == term.id,
        col(Assignment.section_id).in_(in_scope),
        col(Assignment.visit_date).between(start, end),
        viewer=viewer,
    )


def draws_of(session: Session, term: Term) -> list[Draw]:
    stmt = select(Draw).where(Draw.term_id == term.id).order_by(col(Draw.week).desc())
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class DrawRow:
    """A draw as the term page lists it: what it made, as far as the reader may see."""

    week: int
    week_start: date
    seed: int
    trigger: str
    created_at: datetime
    assignments: int
    #: username -> why they got fewer visits than their quota (English, as stored).
    shortfalls: dict[str, str]


def draw_rows(
    session: Session, *, term: Term, viewer: User | None, supervisors: Collection[str] = ()
) -> list[DrawRow]:
    """The term's draws, newest week first, cut to the viewer's units (two queries).

    A draw is the whole school's, but the term page is open to every unit admin:
    for ``viewer`` the count is of the assignments on sections in their units, and
    the shortfalls are those of ``supervisors`` (the usernames the page lists in
    its supervisors' table), so another college's supervisors are never named.
    ``viewer`` None is a school admin: the draw as it was stored.
    """
    draws = draws_of(session, term)
    counts: dict[int, int] = {}
    if viewer is not None and draws:
        in_scope = (
            select(Section.id)
            .join(Course, col(Course.id) == Section.course_id)
            .where(Section.term_id == term.id)
            .where(col(Course.department_id).in_(_departments_in(viewer)))
        )
        counts = dict(
            session.exec(
                select(Assignment.draw_id, func.count(col(Assignment.id)))
                .where(Assignment.term_id == term.id, col(Assignment.section_id).in_(in_scope))
                .group_by(col(Assignment.draw_id))
            ).all()
        )
    shown = set(supervisors)
    rows = []
    for d in draws:
        shortfalls = dict(d.parameters.get("shortfalls") or {})
        if viewer is None:
            made = int(d.parameters.get("assignments") or 0)
        else:
            # A stored draw: its id is set (get() with None would find nothing anyway).
            made = counts.get(d.id, 0)  # type: ignore[arg-type]
            shortfalls = {u: why for u, why in shortfalls.items() if u in shown}
        rows.append(
            DrawRow(d.week, d.week_start, d.seed, d.trigger, d.created_at, made, shortfalls)
        )
    return rows


__all__ = [
    "AssignmentRow",
    "CoverageRow",
    "DrawRow",
    "QuotaProgress",
    "SETTING_FIELDS",
    "SupervisorRow",
    "announced_visits",
    "coverage_by_department",
    "current_terms",
    "draw_rows",
    "draws_of",
    "quota_progress",
    "save_settings",
    "settings_of",
    "supervisor_assignments",
    "supervisor_rows",
    "term_assignments",
    "term_by_code",
    "unvisited_teachers",
    "weeks_due",
]
