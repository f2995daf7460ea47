"""Actions decided on confirmed problems: what will be done, by whom, by when, and an
optional training-plan adjustment.

Managers (:func:`evalsys.loop.scope.can_manage`) decide and change everything; an
action's owner updates its status and notes. Deciding the first action puts an open
problem in progress, and when the last live action of an in-progress problem is done the
problem is resolved, as the system's change. The owner's assignment email is queued in the
same transaction (:mod:`evalsys.loop.notices`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from flask_babel import gettext as _
from sqlalchemy import exists
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.clock import utcnow
from evalsys.feedback.vocab import name_of
from evalsys.loop.models import (
    ACTION_STATUS_NAMES,
    LIVE_ACTIONS,
    STATUS_NAMES,
    Action,
    ActionStatus,
    Meeting,
    Problem,
    ProblemStatus,
)
from evalsys.loop.notices import queue_assigned
from evalsys.loop.problems import change_status
from evalsys.loop.rules import (
    ACTION_TRANSITIONS,
    ACTIONABLE,
    TEXT_LIMIT,
    LoopPermissionError,
    LoopStateError,
    LoopValidationError,
    audit,
    clean,
    overdue_condition,
    too_long,
)
from evalsys.loop.scope import can_manage, in_subtree, people, people_among, require_manage
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Term
from evalsys.programmes.models import Programme, ProgrammeCourse

S = ProblemStatus
A = ActionStatus


@dataclass
class ActionInput:
    title: str = ""
    owner_id: int | None = None
    due_date: date | None = None
    notes: str | None = None
    meeting_id: int | None = None
    plan_course_id: int | None = None
    plan_programme_id: int | None = None
    #: Free text of actions from before programmes were records; new ones name plan_programme_id.
    plan_programme: str | None = None
    plan_change: str | None = None
    plan_from_term_id: int | None = None


def _check_action(
    session: Session, problem: Problem, data: ActionInput, *, today: date, new: bool
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    title = clean(data.title)
    notes = clean(data.notes) or None
    # Text typed before programmes were records; naming a programme replaces it.
    programme = None if data.plan_programme_id is not None else clean(data.plan_programme) or None
    change = clean(data.plan_change) or None
    if not title:
        errors["title"] = _("Say what will be done.")
    elif len(title) > 500:
        errors["title"] = too_long(500, title)
    owner_ok = data.owner_id is not None and bool(
        people_among(session, problem.unit_id, [data.owner_id])
    )
    if not owner_ok:  # none, unknown, inactive or from outside the unit: the same words
        errors["owner_id"] = _("Choose who is responsible.")
    if data.due_date is None:
        errors["due_date"] = _("Give a due date.")
    elif new and data.due_date < today:
        errors["due_date"] = _(
            "The due date %(date)s is already past; choose today or a later day.",
            date=data.due_date.isoformat(),
        )
    if notes and len(notes) > TEXT_LIMIT:
        errors["notes"] = too_long(TEXT_LIMIT, notes)
    if data.meeting_id is not None:
        meeting = session.get(Meeting, data.meeting_id)
        if meeting is None or not in_subtree(session, problem.unit_id, meeting.unit_id):
            errors["meeting_id"] = _("Choose a meeting of this unit or a unit above it.")
    if data.plan_course_id is not None:
        course = session.get(Course, data.plan_course_id)
        if course is None or not (
            in_subtree(session, course.department_id, problem.unit_id)
            or in_subtree(session, problem.unit_id, course.department_id)
        ):
            errors["plan_course_id"] = _("Choose a course of this unit.")
    if data.plan_programme_id is not None:
        errors.update(_check_programme(session, problem, data))
    if programme and len(programme) > 200:
        errors["plan_programme"] = too_long(200, programme)
    if change and len(change) > 2000:
        errors["plan_change"] = too_long(2000, change)
    has_target = data.plan_course_id is not None or data.plan_programme_id is not None or programme
    if change and not has_target:
        errors["plan_course_id"] = _("Name the course or the programme whose plan changes.")
    if has_target and not change:
        errors["plan_change"] = _("Say what changes in the training plan.")
    if (has_target or change) and data.plan_from_term_id is None:
        errors["plan_from_term_id"] = _("Say from which term the change applies.")
    if data.plan_from_term_id is not None and session.get(Term, data.plan_from_term_id) is None:
        errors["plan_from_term_id"] = _("Choose a term from the list.")
    if errors:
        raise LoopValidationError(errors)
    return {
        "title": title,
        "owner_id": data.owner_id,
        "due_date": data.due_date,
        "notes": notes,
        "meeting_id": data.meeting_id,
        "plan_course_id": data.plan_course_id,
        "plan_programme_id": data.plan_programme_id,
        "plan_programme": programme,
        "plan_change": change,
        "plan_from_term_id": data.plan_from_term_id,
    }


def _check_programme(session: Session, problem: Problem, data: ActionInput) -> dict[str, str]:
    """The programme must lie in the problem's line of the tree, and a course named with it
    must be one of its courses."""
    programme = session.get(Programme, data.plan_programme_id)
    if programme is None or not (
        in_subtree(session, programme.department_id, problem.unit_id)
        or in_subtree(session, problem.unit_id, programme.department_id)
    ):
        return {"plan_programme_id": _("Choose a programme of this unit.")}
    if data.plan_course_id is not None:
        linked = session.get(ProgrammeCourse, (programme.id, data.plan_course_id))
        if linked is None:
            return {"plan_course_id": _("Choose a course of the programme, or no course.")}
    return {}


def create_action(
    session: Session, *, problem: Problem, user: User, data: ActionInput, today: date
) -> Action:
    """Decide an action on a confirmed problem; the problem moves to "in progress".

    The owner's assignment email is queued here, in the same transaction, and
    sent by the ``loop-mail`` job (:mod:`evalsys.loop.notices`).
    """
    require_manage(session, user, problem.unit_id)
    if problem.status not in ACTIONABLE:
        raise LoopStateError(
            _(
                "Actions are decided on confirmed problems or problems being fixed;"
                " this one is “%(status)s”.",
                status=name_of(STATUS_NAMES, problem.status),
            )
        )
    values = _check_action(session, problem, data, today=today, new=True)
    assert problem.id is not None  # a stored row
    action = Action(problem_id=problem.id, created_by_id=user.id, **values)
    session.add(action)
    session.flush()
    audit(
        session,
        user,
        "action.create",
        f"action {action.id}",
        f"problem {problem.id}; owner {action.owner_id}; due {action.due_date}",
    )
    if problem.status == S.OPEN:
        change_status(session, problem=problem, to=S.IN_PROGRESS, user=user, note="action decided")
    queue_assigned(session, action)
    return action


def update_action(
    session: Session,
    *,
    action: Action,
    user: User,
    data: ActionInput | None = None,
    status: str | None = None,
    notes: str | None = None,
    today: date,
) -> Action:
    """Change an action: managers everything (``data``), its owner the status and notes.

    When the last live action of an in-progress problem is done, the problem is
    resolved (recorded as the system's change).
    """
    problem = session.get(Problem, action.problem_id)
    assert problem is not None
    manager = can_manage(session, user, problem.unit_id)
    if not manager and action.owner_id != user.id:
        raise LoopPermissionError("only the owner or a head or dean of the unit may change it")
    if data is not None and not manager:
        raise LoopPermissionError("only a head or dean may change what, who or when")
    if action.status not in LIVE_ACTIONS:
        raise LoopStateError(
            _(
                "This action is “%(status)s”: it can no longer be changed.",
                status=name_of(ACTION_STATUS_NAMES, action.status),
            )
        )
    changes: dict[str, list[Any]] = {}
    if data is not None:
        values = _check_action(session, problem, data, today=today, new=False)
        for k, v in values.items():
            if getattr(action, k) != v:
                changes[k] = [getattr(action, k), v]
    if notes is not None:
        cleaned = clean(notes) or None
        if cleaned and len(cleaned) > TEXT_LIMIT:
            raise LoopValidationError({"notes": too_long(TEXT_LIMIT, cleaned)})
        if cleaned != action.notes:
            changes["notes"] = [action.notes, cleaned]
    if status is not None and status != action.status:
        if status not in ACTION_TRANSITIONS.get(action.status, frozenset()):
            raise LoopStateError(
                _(
                    "An action cannot go from “%(old)s” to “%(new)s”.",
                    old=name_of(ACTION_STATUS_NAMES, action.status),
                    new=name_of(ACTION_STATUS_NAMES, status),
                )
            )
        changes["status"] = [action.status, status]
    if not changes:
        return action
    for k, (_old, new) in changes.items():
        setattr(action, k, new)
    action.updated_at = utcnow()
    if action.status == A.DONE:
        action.done_at = action.updated_at
    session.add(action)
    session.flush()
    audit(
        session,
        user,
        "action.status" if "status" in changes else "action.edit",
        f"action {action.id}",
        "; ".join(f"{k}: {o} → {n}" for k, (o, n) in changes.items())[:2000],
    )
    if "owner_id" in changes or "due_date" in changes:
        queue_assigned(session, action)
    if "status" in changes and action.status not in LIVE_ACTIONS:
        _maybe_resolve(session, problem)
    return action


def _maybe_resolve(session: Session, problem: Problem) -> None:
    if problem.status != S.IN_PROGRESS:
        return
    statuses = session.exec(select(Action.status).where(Action.problem_id == problem.id)).all()
    if statuses and not any(s in LIVE_ACTIONS for s in statuses) and A.DONE in statuses:
        change_status(
            session, problem=problem, to=S.RESOLVED, user=None, note="all its actions are done"
        )


def overdue_actions(session: Session, *, today: date, unit_id: int | None = None) -> list[Action]:
    """Overdue actions, optionally of problems at and below a unit."""
    stmt = select(Action).where(overdue_condition(today))
    if unit_id is not None:
        stmt = stmt.join(Problem, col(Problem.id) == Action.problem_id).where(
            exists().where(
                col(OrgUnitClosure.ancestor_id) == unit_id,
                col(OrgUnitClosure.descendant_id) == Problem.unit_id,
            )
        )
    return list(session.exec(stmt.order_by(col(Action.due_date), col(Action.id))).all())


# --- reading ---------------------------------------------------------------------------


class ActionPlace(NamedTuple):
    """An action with its problem, the problem's unit and term, and its owner."""

    action: Action
    problem: Problem
    unit: OrgUnit
    term: Term
    owner: User


def find_action(session: Session, action_id: int) -> ActionPlace | None:
    """The action and all it belongs to (one query, and one for the owner unless the session
    has them already, as it has the logged-in user); None if there is no such id."""
    stmt = (
        select(Action, Problem, OrgUnit, Term)
        .join(Problem, col(Problem.id) == Action.problem_id)
        .join(OrgUnit, col(OrgUnit.id) == Problem.unit_id)
        .join(Term, col(Term.id) == Problem.term_id)
        .where(col(Action.id) == action_id)
    )
    row = session.exec(stmt).first()
    if row is None:
        return None
    action, problem, unit, term = row
    owner = session.get(User, action.owner_id)
    assert owner is not None  # owner_id is a NOT NULL foreign key
    return ActionPlace(action, problem, unit, term, owner)


def owns_action_on(session: Session, *, problem_id: int, user_id: int) -> bool:
    """Does the user own an action of the problem? (An owner reads the problem it is on.)"""
    stmt = select(Action.id).where(
        col(Action.problem_id) == problem_id, col(Action.owner_id) == user_id
    )
    return session.exec(stmt).first() is not None


@dataclass(frozen=True)
class ActionChoices:
    """What the action form of a unit's problem offers: five queries."""

    owners: list[User]  # the unit's people (scope.people)
    meetings: list[Meeting]  # of the unit or above it, newest first
    courses: list[Course]  # of the unit or below it
    programmes: list[Programme]  # of departments in the unit's line (above or below)
    terms: list[Term]  # from which a training-plan change applies, oldest first


#: How many meetings the action form offers.
MEETING_CHOICES = 50


def action_choices(session: Session, unit_id: int) -> ActionChoices:
    owners = people(session, unit_id)
    above = select(OrgUnitClosure.ancestor_id).where(col(OrgUnitClosure.descendant_id) == unit_id)
    meetings = session.exec(
        select(Meeting)
        .where(col(Meeting.unit_id).in_(above))
        .order_by(col(Meeting.held_on).desc())
        .limit(MEETING_CHOICES)
    ).all()
    below = select(OrgUnitClosure.descendant_id).where(col(OrgUnitClosure.ancestor_id) == unit_id)
    courses = session.exec(
        select(Course).where(col(Course.department_id).in_(below)).order_by(col(Course.code))
    ).all()
    terms = session.exec(select(Term).order_by(col(Term.start_date))).all()
    programmes = session.exec(
        select(Programme)
        .where(col(Programme.department_id).in_(below) | col(Programme.department_id).in_(above))
        .order_by(col(Programme.code))
    ).all()
    return ActionChoices(
        owners=owners,
        meetings=list(meetings),
        courses=list(courses),
        programmes=list(programmes),
        terms=list(terms),
    )


def owned_actions(session: Session, user_id: int) -> list[tuple[Action, Problem, OrgUnit]]:
    """The actions a user owns, with their problem and unit: live ones first, by due date."""
    stmt = (
        select(Action, Problem, OrgUnit)
        .join(Problem, col(Problem.id) == Action.problem_id)
        .join(OrgUnit, col(OrgUnit.id) == Problem.unit_id)
        .where(col(Action.owner_id) == user_id)
        .order_by(
            col(Action.status).in_(LIVE_ACTIONS).desc(),
            col(Action.due_date),
            col(Action.id),
        )
    )
    return [(action, problem, unit) for action, problem, unit in session.exec(stmt).all()]
