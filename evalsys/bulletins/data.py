"""What a weekly bulletin says: plain values for the template, computed set-wise.

One unit (the school or a college) and one ISO week of the site's calendar:

- **visits**: submitted spot checks on the unit's classes this week and in the term to
  the week's end; the week's planned visits (done, missed, still planned); the unit's
  own supervisors (granted at the unit or below; the school: all) against the planner's
  quota (``PlanSetting.visits_per_week`` times :func:`evalsys.planner.service.weeks_due`);
  and coverage: the term's teachers of the unit whose classes reached the planner's
  target (``visits_per_teacher``) by the week's end.
- **loop**: problems and actions raised this week, and actions overdue at its end
  (:func:`evalsys.loop.rules.overdue_condition`).
- **lowest dimensions**: per record, the mean of its items of a dimension on 0–100; per
  dimension, the mean of those over the week's records with n, lowest first. One query.
- **comments**: at most :data:`QUOTES` problems or suggestions written on the records
  scoring lowest on those dimensions, blanked as :mod:`evalsys.themes.service` blanks a
  quote above a department: no section code, no teacher's name.

A week with none of the above is :attr:`Bulletin.empty`: the template says so in a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Integer, and_, func, literal_column
from sqlmodel import Session, col, select

from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.bulletins.weeks import IsoWeek
from evalsys.feedback.models import Feedback, FeedbackScore, RubricItem
from evalsys.feedback.vocab import DIMENSIONS, FeedbackKind, FeedbackStatus
from evalsys.loop.models import Action, Problem
from evalsys.loop.rules import overdue_condition
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section, Term, TutorGroup
from evalsys.planner.models import Assignment, AssignmentStatus, PlanSetting
from evalsys.planner.service import weeks_due
from evalsys.themes.service import blank_names

#: Most comments a bulletin quotes, and most lines of each loop list.
QUOTES = 3
LOWEST = 3
LIST_LINES = 8
QUOTE_CHARS = 160
#: The units a bulletin is made for.
BULLETIN_KINDS = ("school", "college")

_LABELS: dict[str, tuple[str, str]] = {
    key: names for by_kind in DIMENSIONS.values() for key, names in by_kind.items()
}


@dataclass(frozen=True)
class Visits:
    this_week: int
    to_date: int
    planned: int
    done: int
    missed: int
    #: None: the term has no plan settings (no quota, no target).
    quota: int | None
    supervisors: int
    supervisor_visits: int
    expected: int | None
    behind: int
    teachers: int
    covered: int
    target: int

    @property
    def coverage(self) -> float | None:
        return None if not self.teachers else self.covered / self.teachers


@dataclass(frozen=True)
class Dimension:
    key: str
    zh_label: str
    en_label: str
    mean: float
    n: int

    def label(self, locale: str) -> str:
        return self.zh_label if locale.startswith("zh") else self.en_label


@dataclass(frozen=True)
class Line:
    """A problem or an action: what the bulletin lists of the loop."""

    id: int
    title: str
    unit_code: str
    status: str
    severity: str | None = None
    due: date | None = None


@dataclass(frozen=True)
class Comment:
    dimension: str
    text: str
    feedback_id: int


@dataclass
class Bulletin:
    unit_code: str
    unit_name: str
    unit_name_en: str | None
    unit_kind: str
    week: IsoWeek
    term_code: str | None = None
    term_name: str | None = None
    term_name_en: str | None = None
    #: The week of the term (planner numbering), None outside a term.
    term_week: int | None = None
    visits: Visits | None = None
    new_problems: list[Line] = field(default_factory=list)
    new_actions: list[Line] = field(default_factory=list)
    overdue_actions: list[Line] = field(default_factory=list)
    #: How many of each list there are (the lists are cut at LIST_LINES).
    counts: dict[str, int] = field(default_factory=dict)
    lowest: list[Dimension] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing happened: no visit, nothing raised, nothing overdue, no score."""
        return not (
            (self.visits is not None and self.visits.this_week)
            or any(self.counts.values())
            or self.lowest
        )


class BulletinError(ValueError):
    """A bulletin that cannot be made (no such unit, or a unit that gets none)."""


def bulletin_units(session: Session) -> list[OrgUnit]:
    """The school and every college, school first: the units a bulletin is made for."""
    stmt = select(OrgUnit).where(col(OrgUnit.kind).in_(BULLETIN_KINDS))
    return sorted(session.exec(stmt).all(), key=lambda u: (u.kind != "school", u.code))


def term_of_week(session: Session, week: IsoWeek) -> Term | None:
    """The term the week falls in (the latest starting one, should two overlap)."""
    stmt = (
        select(Term)
        .where(Term.start_date <= week.sunday, Term.end_date >= week.monday)
        .order_by(col(Term.start_date).desc())
    )
    return session.exec(stmt).first()


def _below(unit_id: int) -> Any:
    return select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)


def bulletin_data(
    session: Session, unit_id: int, week: IsoWeek, config: Mapping[str, Any] | None = None
) -> Bulletin:
    """The bulletin of the school or a college for ``week`` (site calendar of ``config``)."""
    unit = session.get(OrgUnit, unit_id)
    if unit is None or unit.kind not in BULLETIN_KINDS:
        raise BulletinError(f"unit {unit_id} is not the school or a college")
    assert unit.id is not None  # loaded
    term = term_of_week(session, week)
    out = Bulletin(unit.code, unit.name, unit.name_en, unit.kind, week)
    if term is not None:
        from evalsys.planner import weeks as term_weeks

        out.term_code, out.term_name, out.term_name_en = term.code, term.name, term.name_en
        out.term_week = term_weeks.week_of(term, week.monday)
        out.visits = _visits(session, unit.id, term, week)
    _loop(session, out, unit.id, week, config)
    out.lowest = lowest_dimensions(session, unit.id, week)
    out.comments = _comments(session, unit.id, week, [d.key for d in out.lowest])
    return out


# --- visits -------------------------------------------------------------------------------


def _spot_checks() -> Any:
    return and_(
        col(Feedback.kind) == FeedbackKind.SPOT_CHECK.value,
        col(Feedback.status) == FeedbackStatus.SUBMITTED.value,
    )


def _visits(session: Session, unit_id: int, term: Term, week: IsoWeek) -> Visits:
    settings = session.get(PlanSetting, term.id)
    end = min(week.sunday, term.end_date)
    week_sum = func.sum(func.cast(col(Feedback.visit_date) >= week.monday, Integer))
    this_week, to_date = session.exec(
        select(week_sum, func.count(col(Feedback.id))).where(
            Feedback.term_id == term.id,
            _spot_checks(),
            col(Feedback.department_id).in_(_below(unit_id)),
            col(Feedback.visit_date) <= end,
        )
    ).one()
    sections = (
        select(Section.id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.term_id == term.id, col(Course.department_id).in_(_below(unit_id)))
    )
    status = col(Assignment.status)
    planned, done, missed = session.exec(
        select(
            func.count(col(Assignment.id)),
            func.sum(func.cast(status == AssignmentStatus.DONE.value, Integer)),
            func.sum(func.cast(status == AssignmentStatus.MISSED.value, Integer)),
        ).where(
            Assignment.term_id == term.id,
            col(Assignment.section_id).in_(sections),
            col(Assignment.visit_date).between(week.monday, week.sunday),
        )
    ).one()
    # The unit's own supervisors, and each one's visits of the term to the week's end.
    own = (
        select(RoleGrant.user_id)
        .join(User, col(User.id) == RoleGrant.user_id)
        .where(
            RoleGrant.role == Role.SUPERVISOR.value,
            User.active == True,  # noqa: E712
            col(RoleGrant.unit_id).in_(_below(unit_id)),
        )
        .distinct()
        .subquery()
    )
    per_supervisor = session.exec(
        select(own.c.user_id, func.count(col(Feedback.id)))
        .select_from(own)
        .outerjoin(
            Feedback,
            and_(
                col(Feedback.observer_id) == own.c.user_id,
                col(Feedback.term_id) == term.id,
                _spot_checks(),
                col(Feedback.visit_date) <= end,
            ),
        )
        .group_by(own.c.user_id)
    ).all()
    quota = settings.visits_per_week if settings is not None else None
    expected_each = (
        None
        if settings is None or quota is None
        else quota * weeks_due(settings, term, week.sunday + timedelta(days=1))
    )
    target = settings.visits_per_teacher if settings is not None else 1
    teachers, covered = _coverage(session, unit_id, term, end, max(target, 1))
    return Visits(
        this_week=int(this_week or 0),
        to_date=int(to_date or 0),
        planned=int(planned or 0),
        done=int(done or 0),
        missed=int(missed or 0),
        quota=quota,
        supervisors=len(per_supervisor),
        supervisor_visits=sum(int(n) for _, n in per_supervisor),
        expected=None if expected_each is None else expected_each * len(per_supervisor),
        behind=0
        if expected_each is None
        else sum(int(n) < expected_each for _, n in per_supervisor),
        teachers=teachers,
        covered=covered,
        target=max(target, 1),
    )


def _coverage(
    session: Session, unit_id: int, term: Term, end: date, target: int
) -> tuple[int, int]:
    """(teachers of the term in the unit, those whose classes had ``target`` visits by ``end``)

    As :func:`evalsys.planner.service.coverage_by_department` counts it (a teacher's spot
    checks anywhere count), for the unit's subtree as one set and up to a day. One query.
    """
    visits = (
        select(col(Section.teacher_id).label("teacher_id"), func.count(col(Feedback.id)).label("n"))
        .join(Feedback, col(Feedback.section_id) == Section.id)
        .where(Feedback.term_id == term.id, _spot_checks(), col(Feedback.visit_date) <= end)
        .group_by(col(Section.teacher_id))
        .subquery()
    )
    teaching = (
        select(col(Section.teacher_id).label("teacher_id"))
        .join(Course, col(Course.id) == Section.course_id)
        .where(
            Section.term_id == term.id,
            col(Section.teacher_id).is_not(None),
            col(Course.department_id).in_(_below(unit_id)),
        )
        .distinct()
        .subquery()
    )
    covered = func.coalesce(visits.c.n, 0) >= target
    n, c = session.exec(
        select(func.count(teaching.c.teacher_id), func.sum(func.cast(covered, Integer)))
        .select_from(teaching)
        .outerjoin(visits, visits.c.teacher_id == teaching.c.teacher_id)
    ).one()
    return int(n or 0), int(c or 0)


# --- the loop -----------------------------------------------------------------------------


def _loop(
    session: Session, out: Bulletin, unit_id: int, week: IsoWeek, config: Mapping[str, Any] | None
) -> None:
    start, end = week.bounds(config)
    in_unit = col(Problem.unit_id).in_(_below(unit_id))
    problems = session.exec(
        select(Problem, OrgUnit.code)
        .join(OrgUnit, col(OrgUnit.id) == Problem.unit_id)
        .where(in_unit, col(Problem.created_at) >= start, col(Problem.created_at) < end)
        .order_by(col(Problem.id))
    ).all()
    out.new_problems = [
        Line(p.id or 0, p.title, code, p.status, severity=p.severity)
        for p, code in problems[:LIST_LINES]
    ]
    actions = select(Action, OrgUnit.code).join(Problem, col(Problem.id) == Action.problem_id)
    actions = actions.join(OrgUnit, col(OrgUnit.id) == Problem.unit_id).where(in_unit)
    new = session.exec(
        actions.where(col(Action.created_at) >= start, col(Action.created_at) < end).order_by(
            col(Action.id)
        )
    ).all()
    overdue = session.exec(
        actions.where(overdue_condition(week.sunday + timedelta(days=1))).order_by(
            col(Action.due_date), col(Action.id)
        )
    ).all()
    out.new_actions = [
        Line(a.id or 0, a.title, code, a.status, due=a.due_date) for a, code in new[:LIST_LINES]
    ]
    out.overdue_actions = [
        Line(a.id or 0, a.title, code, a.status, due=a.due_date) for a, code in overdue[:LIST_LINES]
    ]
    out.counts = {
        "new_problems": len(problems),
        "new_actions": len(new),
        "overdue_actions": len(overdue),
    }


# --- scores and comments ------------------------------------------------------------------


def _week_records(unit_id: int, week: IsoWeek) -> Any:
    return and_(
        col(Feedback.status) == FeedbackStatus.SUBMITTED.value,
        col(Feedback.department_id).in_(_below(unit_id)),
        col(Feedback.visit_date).between(week.monday, week.sunday),
    )


def _per_record(unit_id: int, week: IsoWeek) -> Any:
    """(feedback id, dimension, the record's mean of its items of it on 0-100)."""
    normalised = (
        (col(FeedbackScore.value) - col(RubricItem.scale_min))
        * literal_column("100.0")
        / (col(RubricItem.scale_max) - col(RubricItem.scale_min))
    )
    return (
        select(
            col(Feedback.id).label("feedback_id"),
            col(RubricItem.dimension).label("dimension"),
            func.avg(normalised).label("score"),
        )
        .join(FeedbackScore, col(FeedbackScore.feedback_id) == Feedback.id)
        .join(RubricItem, col(RubricItem.id) == FeedbackScore.item_id)
        .where(_week_records(unit_id, week), col(RubricItem.scale_max) > col(RubricItem.scale_min))
        .group_by(col(Feedback.id), col(RubricItem.dimension))
        .subquery()
    )


def lowest_dimensions(
    session: Session, unit_id: int, week: IsoWeek, limit: int = LOWEST
) -> list[Dimension]:
    """The week's dimensions by mean of the records' scores, lowest first, with n. One query."""
    per = _per_record(unit_id, week)
    rows = session.exec(
        select(per.c.dimension, func.avg(per.c.score), func.count(per.c.feedback_id))
        .group_by(per.c.dimension)
        .order_by(func.avg(per.c.score), per.c.dimension)
        .limit(limit)
    ).all()
    out = []
    for key, mean, n in rows:
        zh, en = _LABELS.get(key, (key, key))
        out.append(Dimension(key, zh, en, float(mean), int(n)))
    return out


def _comments(session: Session, unit_id: int, week: IsoWeek, dims: list[str]) -> list[Comment]:
    """Up to QUOTES problems or suggestions of the records lowest on ``dims``, one per record,
    taking the dimensions in turn; names and section codes blanked out."""
    if not dims:
        return []
    per = _per_record(unit_id, week)
    text = func.coalesce(func.nullif(Feedback.problems, ""), Feedback.suggestions)
    rows = session.exec(
        select(  # type: ignore[call-overload]
            per.c.dimension,
            per.c.feedback_id,
            text,
            func.coalesce(Section.code, TutorGroup.code),
            User.name,
        )
        .join(Feedback, col(Feedback.id) == per.c.feedback_id)
        .outerjoin(Section, col(Section.id) == Feedback.section_id)
        .outerjoin(TutorGroup, col(TutorGroup.id) == Feedback.group_id)
        .outerjoin(User, col(User.id) == func.coalesce(Section.teacher_id, TutorGroup.tutor_id))
        .where(col(per.c.dimension).in_(dims), text.is_not(None), func.length(text) > 0)
        .order_by(per.c.score, per.c.feedback_id)
    ).all()
    by_dim: dict[str, list[tuple[int, str]]] = {d: [] for d in dims}
    for dim, fid, words, target, teacher in rows:
        words = " ".join(words.split())
        if len(words) > QUOTE_CHARS:
            words = words[: QUOTE_CHARS - 1] + "…"
        by_dim[dim].append((fid, blank_names(words, [teacher, target])))
    out: list[Comment] = []
    used: set[int] = set()
    while len(out) < QUOTES and any(by_dim.values()):
        for dim in dims:
            while by_dim[dim] and by_dim[dim][0][0] in used:
                by_dim[dim].pop(0)
            if by_dim[dim] and len(out) < QUOTES:
                fid, words = by_dim[dim].pop(0)
                used.add(fid)
                out.append(Comment(dim, words, fid))
    return out
