"""What a draw reads from the database, gathered in a few aggregate queries.

Everything is returned in a fixed order (ids ascending), so that a seeded random
generator walking through it makes the same choices every time: that is what
makes a draw reproducible from its seed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, scope_ids
from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.aggregation.models import ALL_KINDS, OVERALL, AggregateResult, Level
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus
from evalsys.org.models import Course, Section, Term
from evalsys.org.terms import previous_term
from evalsys.org.timetable import Meeting, TimetableError, parse_meetings
from evalsys.planner.models import Assignment, AssignmentStatus, PlanSetting

NEW_STAFF = "new staff"
LOW_RATED = "low-rated last term"
NEVER_VISITED = "never visited"
COVERAGE = "coverage"
#: The reader's words for the reasons above (stored in English, shown translated).
REASON_NAMES: dict[str, LazyString] = {
    NEW_STAFF: _l("new staff"),
    LOW_RATED: _l("rated low last term"),
    NEVER_VISITED: _l("never visited"),
    COVERAGE: _l("coverage target"),
}


@dataclass(frozen=True)
class Candidate:
    """A section that can be visited: when it meets, and how much it weighs."""

    section_id: int
    code: str
    teacher_id: int | None
    meetings: tuple[Meeting, ...]
    weight: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SupervisorInput:
    user_id: int
    username: str
    #: Sections of the term in the supervisor's spot-check scope that have a timetable.
    section_ids: tuple[int, ...]
    #: When the supervisor teaches their own classes (they cannot visit then).
    busy: tuple[Meeting, ...]
    #: Sections this supervisor was already sent to this term.
    assigned_before: frozenset[int]
    #: Visits already planned for them on the week's days by other draws (another term).
    booked: tuple[tuple[date, Meeting], ...] = ()


@dataclass
class DrawInputs:
    term_id: int
    week: int
    days: list[date]
    #: Weeks left to reach the coverage target, this one included (at least 1).
    weeks_left: int
    settings: PlanSetting
    candidates: dict[int, Candidate]
    supervisors: list[SupervisorInput]
    #: Visits each teacher still needs to reach the coverage target.
    need: dict[int, int]
    #: Sections visited this term, or planned for a visit in another draw.
    covered_sections: frozenset[int]
    #: Codes of the term's sections without a (readable) timetable.
    unschedulable: list[str] = field(default_factory=list)


def supervisors(session: Session) -> list[User]:
    """Active users holding the supervisor role somewhere, by id."""
    ids = select(RoleGrant.user_id).where(RoleGrant.role == Role.SUPERVISOR.value)
    stmt = select(User).where(col(User.id).in_(ids), User.active == True).order_by(col(User.id))  # noqa: E712
    return list(session.exec(stmt).all())


def term_sections(session: Session, term: Term) -> list[tuple[int, str, int | None, str | None]]:
    stmt = (
        select(Section.id, Section.code, Section.teacher_id, Section.meetings)
        .where(Section.term_id == term.id)
        .order_by(col(Section.id))
    )
    return list(session.exec(stmt).all())  # type: ignore[arg-type]  # stored ids, never None


def sections_in_scope(session: Session, user: User, term: Term) -> list[int]:
    """The term's sections in the user's spot-check scope (the same rule as the feedback form)."""
    stmt = (
        select(Section.id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.term_id == term.id)
        .where(col(Course.department_id).in_(scope_ids(user, Perm.SUBMIT_SPOT_CHECK)))
        .order_by(col(Section.id))
    )
    return list(session.exec(stmt).all())  # type: ignore[arg-type]  # ids are never None


def new_staff(session: Session, term: Term) -> set[int]:
    """Teachers of the term who taught no section in any earlier term."""
    earlier = (
        select(Section.teacher_id)
        .join(Term, col(Term.id) == Section.term_id)
        .where(Term.start_date < term.start_date, col(Section.teacher_id).is_not(None))
    )
    stmt = (
        select(Section.teacher_id)
        .where(Section.term_id == term.id, col(Section.teacher_id).is_not(None))
        .where(col(Section.teacher_id).not_in(earlier))
        .distinct()
    )
    return {t for t in session.exec(stmt).all() if t is not None}


def low_rated(session: Session, term: Term, threshold: float) -> set[int]:
    """Teachers whose section results last term average (weighted by n) below ``threshold``.

    Read from the previous term's section-level aggregation (all kinds, overall score):
    a teacher's sections are pooled, so one small section does not decide alone.
    """
    previous = previous_term(session, term)
    if previous is None:
        return set()
    pooled = func.sum(col(AggregateResult.mean) * col(AggregateResult.n)) / func.sum(
        col(AggregateResult.n)
    )
    stmt = (
        select(Section.teacher_id)
        .select_from(AggregateResult)
        .join(Section, col(Section.id) == AggregateResult.unit_id)
        .where(
            AggregateResult.term_id == previous.id,
            AggregateResult.level == Level.SECTION.value,
            AggregateResult.kind == ALL_KINDS,
            AggregateResult.dimension == OVERALL,
            AggregateResult.n > 0,
            col(AggregateResult.mean).is_not(None),
            col(Section.teacher_id).is_not(None),
        )
        .group_by(col(Section.teacher_id))
        .having(pooled < threshold)
    )
    return {t for t in session.exec(stmt).all() if t is not None}


def _spot_checks() -> tuple:
    return (
        Feedback.kind == FeedbackKind.SPOT_CHECK.value,
        Feedback.status == FeedbackStatus.SUBMITTED.value,
    )


def ever_visited(session: Session) -> set[int]:
    """Teachers some submitted spot check has observed, in any term."""
    stmt = (
        select(Section.teacher_id)
        .join(Feedback, col(Feedback.section_id) == Section.id)
        .where(*_spot_checks(), col(Section.teacher_id).is_not(None))
        .distinct()
    )
    return {t for t in session.exec(stmt).all() if t is not None}


def visits_this_term(session: Session, term: Term) -> dict[int, int]:
    """Submitted spot checks of the term per teacher of the visited section."""
    stmt = (
        select(Section.teacher_id, func.count(col(Feedback.id)))
        .join(Feedback, col(Feedback.section_id) == Section.id)
        .where(Feedback.term_id == term.id, *_spot_checks(), col(Section.teacher_id).is_not(None))
        .group_by(col(Section.teacher_id))
    )
    return {t: n for t, n in session.exec(stmt).all() if t is not None}


def gather(
    session: Session,
    *,
    term: Term,
    week: int,
    days: list[date],
    weeks_left: int,
    settings: PlanSetting,
) -> DrawInputs:
    """Read everything the draw of ``week`` needs (the draw itself is not stored yet)."""
    sections = term_sections(session, term)
    new, low = new_staff(session, term), low_rated(session, term, settings.low_rating_threshold)
    visited_ever = ever_visited(session)
    candidates: dict[int, Candidate] = {}
    unschedulable: list[str] = []
    meetings_of: dict[int, tuple[Meeting, ...]] = {}
    for section_id, code, teacher_id, text in sections:
        try:
            meetings = tuple(parse_meetings(text))
        except TimetableError:
            meetings = ()
        meetings_of[section_id] = meetings
        if not meetings:
            unschedulable.append(code)
            continue
        weight, reasons = 1.0, list[str]()
        if teacher_id is not None:
            if teacher_id in new:
                weight, reasons = weight * settings.weight_new_staff, [*reasons, NEW_STAFF]
            if teacher_id in low:
                weight, reasons = weight * settings.weight_low_rated, [*reasons, LOW_RATED]
            if teacher_id not in visited_ever:
                weight *= settings.weight_never_visited
                reasons.append(NEVER_VISITED)
        candidates[section_id] = Candidate(
            section_id, code, teacher_id, meetings, weight, tuple(reasons)
        )

    # Assignments of other draws of the term: who was sent where, what is still pending.
    earlier = session.exec(
        select(
            col(Assignment.supervisor_id),
            col(Assignment.section_id),
            col(Assignment.status),
            col(Assignment.visit_date),
        )
        .where(Assignment.term_id == term.id)
        .order_by(col(Assignment.id))
    ).all()
    sent: dict[int, set[int]] = defaultdict(set)
    covered: set[int] = set()
    pending: dict[int, int] = defaultdict(int)
    teacher_of = {sid: teacher for sid, _, teacher, _ in sections}
    # Planned visits of the week before this one still count as coming; older ones are lost.
    pending_from = days[0] - timedelta(days=7) if days else date.min
    for supervisor_id, section_id, status, visit_date in earlier:
        sent[supervisor_id].add(section_id)
        if status == AssignmentStatus.DONE:
            covered.add(section_id)
        elif status == AssignmentStatus.PLANNED and visit_date >= pending_from:
            covered.add(section_id)
            teacher = teacher_of.get(section_id)
            if teacher is not None:
                pending[teacher] += 1
    visited_sections = session.exec(
        select(Feedback.section_id).where(Feedback.term_id == term.id, *_spot_checks()).distinct()
    ).all()
    covered.update(s for s in visited_sections if s is not None)

    visits = visits_this_term(session, term)
    target = settings.visits_per_teacher
    need = {}
    for teacher in sorted({t for _, _, t, _ in sections if t is not None}):
        missing = target - visits.get(teacher, 0) - pending.get(teacher, 0)
        if missing > 0:
            need[teacher] = missing

    booked: dict[int, list[tuple[date, Meeting]]] = defaultdict(list)
    if days:
        rows = session.exec(
            select(
                col(Assignment.supervisor_id),
                col(Assignment.visit_date),
                col(Assignment.first_period),
                col(Assignment.last_period),
            )
            .where(col(Assignment.visit_date).between(days[0], days[-1]))
            .order_by(col(Assignment.id))
        ).all()
        for supervisor_id, day, first, last in rows:
            booked[supervisor_id].append((day, Meeting(day.isoweekday(), first, last)))

    inputs_supervisors = []
    for user in supervisors(session):
        own = [s for s, _, t, _ in sections if t == user.id]
        busy = tuple(sorted({m for s in own for m in meetings_of.get(s, ())}))
        in_scope = tuple(
            s
            for s in sections_in_scope(session, user, term)
            if s in candidates and teacher_of.get(s) != user.id
        )
        assert user.id is not None  # loaded from the database
        inputs_supervisors.append(
            SupervisorInput(
                user.id,
                user.username,
                in_scope,
                busy,
                frozenset(sent.get(user.id, set())),
                tuple(booked.get(user.id, ())),
            )
        )
    assert term.id is not None  # loaded from the database
    return DrawInputs(
        term_id=term.id,
        week=week,
        days=days,
        weeks_left=weeks_left,
        settings=settings,
        candidates=candidates,
        supervisors=inputs_supervisors,
        need=need,
        covered_sections=frozenset(covered),
        unschedulable=unschedulable,
    )
