"""Reading programmes: their courses and plans, the change log, and the figures around a change.

The change log of a programme is the loop's training-plan adjustments that name it, or
name one of its courses, with what they rest on (the problem, the meeting, the action)
and their state. The state is read, not stored, except the verification, which is a
person's judgement:

- *decided*: the action exists, and is not yet done or its term has not begun;
- *in effect*: the action is done and its "from" term has begun;
- *verified*: a head or dean compared the figures before and after and said it worked.

Cancelled actions changed nothing and are left out. The figures are the course-level
overall results of the aggregation (all kinds together), read for every course and term
of a page in one query; each mean is shown with its n, and a figure below the site's
minimum n is marked, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_
from sqlalchemy import select as sql_select  # more columns than sqlmodel's select types
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.aggregation.models import ALL_KINDS, OVERALL, AggregateResult, Level
from evalsys.loop.models import Action, ActionStatus, Meeting, Problem
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Term
from evalsys.programmes.models import Programme, ProgrammeCourse, TrainingPlan

#: Terms shown before a change's first term, and from it on (that term included).
TERMS_BEFORE = 2
TERMS_AFTER = 2


class ChangeState(StrEnum):
    DECIDED = "decided"
    IN_EFFECT = "in_effect"
    VERIFIED = "verified"


CHANGE_STATE_NAMES: dict[str, LazyString] = {
    ChangeState.DECIDED: _l("Decided"),
    ChangeState.IN_EFFECT: _l("In effect"),
    ChangeState.VERIFIED: _l("Verified effective"),
}


def change_state(action: Action, from_term: Term | None, today: date) -> ChangeState:
    if action.plan_verified_at is not None:
        return ChangeState.VERIFIED
    started = from_term is not None and from_term.start_date <= today
    if action.status == ActionStatus.DONE and started:
        return ChangeState.IN_EFFECT
    return ChangeState.DECIDED


@dataclass(frozen=True)
class Figure:
    mean: float | None
    n: int
    insufficient: bool


@dataclass
class ChangeEntry:
    """One adjustment of a programme's plan, with its evidence and the figures around it."""

    action: Action
    problem: Problem
    unit: OrgUnit
    meeting: Meeting | None
    course: Course | None
    from_term: Term | None
    decided_by: User | None
    programme: Programme | None
    state: ChangeState
    #: The courses the change touches: its course, or every course of the programme.
    courses: list[Course] = field(default_factory=list)
    before: list[Term] = field(default_factory=list)
    after: list[Term] = field(default_factory=list)
    #: (course id, term id) -> the course's overall figure of the term; absent: none.
    figures: dict[tuple[int | None, int | None], Figure] = field(default_factory=dict)


@dataclass
class ProgrammePage:
    programme: Programme
    department: OrgUnit
    courses: list[Course]
    plans: list[tuple[TrainingPlan, Term]]
    log: list[ChangeEntry]


def programme_by_code(session: Session, code: str) -> Programme | None:
    return session.exec(select(Programme).where(Programme.code == code)).first()


def programme_courses(session: Session, programme_ids: Iterable[int]) -> dict[int, list[Course]]:
    """The courses of each programme, by code (one query)."""
    ids = sorted(set(programme_ids))
    out: dict[int, list[Course]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = (
        select(ProgrammeCourse.programme_id, Course)
        .join(Course, col(Course.id) == ProgrammeCourse.course_id)
        .where(col(ProgrammeCourse.programme_id).in_(ids))
        .order_by(col(Course.code))
    )
    for programme_id, course in session.exec(stmt).all():
        out[programme_id].append(course)
    return out


def programmes_below(session: Session, unit_id: int) -> list[Programme]:
    """The programmes of the unit's departments (the unit itself included), by code."""
    below = select(OrgUnitClosure.descendant_id).where(col(OrgUnitClosure.ancestor_id) == unit_id)
    stmt = select(Programme).where(col(Programme.department_id).in_(below))
    return list(session.exec(stmt.order_by(col(Programme.code))).all())


def _entries(session: Session, condition: ColumnElement[bool], today: date) -> list[ChangeEntry]:
    """Plan-changing actions matching ``condition``, with all they rest on: one query."""
    decider = aliased(User)
    from_term = aliased(Term)
    stmt = (
        sql_select(Action, Problem, OrgUnit, Meeting, Course, from_term, decider, Programme)
        .join(Problem, col(Problem.id) == Action.problem_id)
        .join(OrgUnit, col(OrgUnit.id) == Problem.unit_id)
        .outerjoin(Meeting, col(Meeting.id) == Action.meeting_id)
        .outerjoin(Course, col(Course.id) == Action.plan_course_id)
        .outerjoin(from_term, col(from_term.id) == Action.plan_from_term_id)
        .outerjoin(decider, col(decider.id) == Action.created_by_id)
        .outerjoin(Programme, col(Programme.id) == Action.plan_programme_id)
        .where(col(Action.plan_change).is_not(None))
        .where(col(Action.status) != ActionStatus.CANCELLED.value)
        .where(condition)
        .order_by(col(Action.created_at).desc(), col(Action.id).desc())
    )
    return [
        ChangeEntry(
            action=a,
            problem=p,
            unit=u,
            meeting=m,
            course=c,
            from_term=t,
            decided_by=d,
            programme=g,
            state=change_state(a, t, today),
        )
        for a, p, u, m, c, t, d, g in session.execute(stmt).all()
    ]


def change_log(
    session: Session, programme: Programme, courses: list[Course], *, today: date
) -> list[ChangeEntry]:
    """The programme's changes, newest first, each with the figures of its courses around it."""
    course_ids = [c.id for c in courses]
    condition = or_(
        col(Action.plan_programme_id) == programme.id,
        col(Action.plan_course_id).in_(course_ids),
    )
    log = _entries(session, condition, today)
    for entry in log:
        entry.courses = [entry.course] if entry.course is not None else list(courses)
    add_figures(session, log)
    return log


def add_figures(session: Session, entries: list[ChangeEntry]) -> None:
    """Fill each entry's terms before and after its first term, and the courses' figures
    in them: two queries for any number of entries."""
    terms = list(session.exec(select(Term).order_by(col(Term.start_date), col(Term.id))).all())
    position = {t.id: i for i, t in enumerate(terms)}
    for entry in entries:
        if entry.from_term is None:
            continue
        i = position[entry.from_term.id]
        entry.before = terms[max(0, i - TERMS_BEFORE) : i]
        entry.after = terms[i : i + TERMS_AFTER]
    course_ids = sorted({c.id for e in entries for c in e.courses if c.id is not None})
    term_ids = sorted({t.id for e in entries for t in (*e.before, *e.after) if t.id is not None})
    if not course_ids or not term_ids:
        return
    stmt = sql_select(
        col(AggregateResult.unit_id),
        col(AggregateResult.term_id),
        col(AggregateResult.mean),
        col(AggregateResult.n),
        col(AggregateResult.insufficient),
    ).where(
        col(AggregateResult.level) == Level.COURSE.value,
        col(AggregateResult.kind) == ALL_KINDS,
        col(AggregateResult.dimension) == OVERALL,
        col(AggregateResult.unit_id).in_(course_ids),
        col(AggregateResult.term_id).in_(term_ids),
    )
    found: dict[tuple[int | None, int | None], Figure] = {
        (unit_id, term_id): Figure(mean, n, insufficient)
        for unit_id, term_id, mean, n, insufficient in session.execute(stmt).all()
    }
    for entry in entries:
        entry.figures = {
            (c.id, t.id): found[(c.id, t.id)]
            for c in entry.courses
            for t in (*entry.before, *entry.after)
            if (c.id, t.id) in found
        }


def programme_page(session: Session, programme: Programme, *, today: date) -> ProgrammePage:
    assert programme.id is not None  # a stored row
    department = session.get(OrgUnit, programme.department_id)
    assert department is not None  # a NOT NULL foreign key
    courses = programme_courses(session, [programme.id])[programme.id]
    plans = session.exec(
        select(TrainingPlan, Term)
        .join(Term, col(Term.id) == TrainingPlan.effective_term_id)
        .where(col(TrainingPlan.programme_id) == programme.id)
        .order_by(col(Term.start_date).desc(), col(TrainingPlan.version).desc())
    ).all()
    return ProgrammePage(
        programme=programme,
        department=department,
        courses=courses,
        plans=[(plan, term) for plan, term in plans],
        log=change_log(session, programme, courses, today=today),
    )


@dataclass
class UnitChanges:
    """A unit's training-plan changes for a term's report."""

    #: Decided on the term's problems (at the unit or below).
    decided: list[ChangeEntry]
    #: Decided in an earlier term, applying from this one: what should show in its figures.
    taking_effect: list[ChangeEntry]


def changes_for_unit(session: Session, unit_id: int, term_id: int, *, today: date) -> UnitChanges:
    """The data of a report's section "training-plan changes this term, and last term's in
    effect": changes whose programme or course lies at or below the unit, or that were
    decided on a problem of the unit; figures before and after filled in. Five queries,
    however many changes.
    """
    below = select(OrgUnitClosure.descendant_id).where(col(OrgUnitClosure.ancestor_id) == unit_id)
    in_unit = or_(
        col(Problem.unit_id).in_(below),
        col(Action.plan_programme_id).in_(
            select(Programme.id).where(col(Programme.department_id).in_(below))
        ),
        col(Action.plan_course_id).in_(
            select(Course.id).where(col(Course.department_id).in_(below))
        ),
    )
    decided = _entries(session, in_unit & (col(Problem.term_id) == term_id), today)
    taking_effect = _entries(
        session,
        in_unit & (col(Action.plan_from_term_id) == term_id) & (col(Problem.term_id) != term_id),
        today,
    )
    all_entries = decided + taking_effect
    _fill_courses(session, all_entries)
    add_figures(session, all_entries)
    return UnitChanges(decided=decided, taking_effect=taking_effect)


def _fill_courses(session: Session, entries: list[ChangeEntry]) -> None:
    whole = [e.programme.id for e in entries if e.course is None and e.programme is not None]
    by_programme = programme_courses(session, [i for i in whole if i is not None])
    for entry in entries:
        if entry.course is not None:
            entry.courses = [entry.course]
        elif entry.programme is not None and entry.programme.id is not None:
            entry.courses = by_programme[entry.programme.id]


def verify_change(session: Session, *, action: Action, user: User, now: datetime) -> None:
    """Record that ``user`` found an in-effect change worked (the caller checked access and
    state)."""
    action.plan_verified_at = now
    action.plan_verified_by_id = user.id
    session.add(action)
    session.flush()
