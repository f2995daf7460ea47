"""A problem's life once it exists: recorded by hand, edited, moved along its statuses,
merged into another; and reading it back, a unit's list of them and one with everything
that hangs on it.

Who may do it is :func:`evalsys.loop.scope.require_manage`; which moves are allowed is
:data:`evalsys.loop.rules.TRANSITIONS`; every change is audited (``loop.problem.*``).
Proposals come from :mod:`evalsys.loop.proposals`, actions from :mod:`evalsys.loop.actions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.clock import utcnow
from evalsys.feedback.vocab import name_of
from evalsys.loop.models import (
    STATUS_NAMES,
    Action,
    Category,
    Meeting,
    MeetingProblem,
    Problem,
    ProblemEvidence,
    ProblemSource,
    ProblemStatus,
    Severity,
)
from evalsys.loop.rules import (
    TEXT_LIMIT,
    TITLE_LIMIT,
    TRANSITIONS,
    LoopStateError,
    LoopValidationError,
    audit,
    clean,
    overdue_condition,
    too_long,
)
from evalsys.loop.scope import require_manage
from evalsys.org.models import OrgUnit, OrgUnitClosure, Term

S = ProblemStatus
#: Where a problem may be merged into: merge_problems takes these targets.
MERGE_TARGETS = (S.PROPOSED.value, S.OPEN.value, S.IN_PROGRESS.value)


def _check_problem_fields(
    title: str, category: str, severity: str, description: str | None
) -> None:
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = _("Give the problem a title.")
    elif len(title) > TITLE_LIMIT:
        errors["title"] = too_long(TITLE_LIMIT, title)
    if category not in {c.value for c in Category}:
        errors["category"] = _("Choose a category from the list.")
    if severity not in {s.value for s in Severity}:
        errors["severity"] = _("Choose a severity from the list.")
    if description and len(description) > TEXT_LIMIT:
        errors["description"] = too_long(TEXT_LIMIT, description)
    if errors:
        raise LoopValidationError(errors)


def create_problem(
    session: Session,
    *,
    term: Term,
    unit: OrgUnit,
    user: User,
    title: str,
    category: str,
    severity: str,
    description: str | None = None,
) -> Problem:
    """A problem typed in by a head or dean: open from the start (they found it)."""
    assert term.id is not None and unit.id is not None  # stored rows
    require_manage(session, user, unit.id)
    title, description = clean(title), clean(description) or None
    _check_problem_fields(title, category, severity, description)
    problem = Problem(
        term_id=term.id,
        unit_id=unit.id,
        title=title,
        description=description,
        category=category,
        severity=severity,
        status=S.OPEN.value,
        source=ProblemSource.MANUAL.value,
        created_by_id=user.id,
    )
    session.add(problem)
    session.flush()
    audit(session, user, "problem.create", f"problem {problem.id}", f"{unit.code}: {title}")
    return problem


def edit_problem(
    session: Session,
    *,
    problem: Problem,
    user: User,
    title: str,
    category: str,
    severity: str,
    description: str | None,
) -> Problem:
    require_manage(session, user, problem.unit_id)
    if problem.status in (S.MERGED, S.DISMISSED, S.VERIFIED):
        raise LoopStateError(
            _(
                "This problem is “%(status)s”: it can no longer be edited.",
                status=name_of(STATUS_NAMES, problem.status),
            )
        )
    title, description = clean(title), clean(description) or None
    _check_problem_fields(title, category, severity, description)
    changes = {
        k: [getattr(problem, k), v]
        for k, v in (
            ("title", title),
            ("category", category),
            ("severity", severity),
            ("description", description),
        )
        if getattr(problem, k) != v
    }
    for k, (_old, new) in changes.items():
        setattr(problem, k, new)
    if changes:
        problem.updated_at = utcnow()
        session.add(problem)
        session.flush()
        audit(
            session,
            user,
            "problem.edit",
            f"problem {problem.id}",
            "; ".join(f"{k}: {o!r} → {n!r}" for k, (o, n) in changes.items()),
        )
    return problem


def change_status(
    session: Session,
    *,
    problem: Problem,
    to: str,
    user: User | None,
    reason: str | None = None,
    note: str | None = None,
) -> Problem:
    """Move a problem along its life; refuses what :data:`TRANSITIONS` does not allow.

    ``user`` None is the system (a problem resolved because its last action was done).
    Dismissing needs a reason; it is kept on the problem and in the audit log.
    """
    require_manage(session, user, problem.unit_id)
    old = problem.status
    if to not in TRANSITIONS.get(old, frozenset()):
        raise LoopStateError(
            _(
                "A problem cannot go from “%(old)s” to “%(new)s”;"
                " reload the page to see its status now.",
                old=name_of(STATUS_NAMES, old),
                new=name_of(STATUS_NAMES, to),
            )
        )
    reason = clean(reason) or None
    if to == S.DISMISSED:
        if not reason:
            raise LoopValidationError({"reason": _("Say why the problem is dismissed.")})
        if len(reason) > 2000:
            raise LoopValidationError({"reason": too_long(2000, reason)})
        problem.dismiss_reason = reason
    now = utcnow()
    problem.status = to
    problem.updated_at = now
    if to == S.RESOLVED:
        problem.resolved_at = now
    elif to == S.VERIFIED:
        problem.verified_at = now
    elif to == S.IN_PROGRESS and old == S.RESOLVED:
        problem.resolved_at = None
    session.add(problem)
    session.flush()
    detail = f"{old} → {to}"
    if reason or note:
        detail += f": {reason or note}"
    audit(session, user, "problem.status", f"problem {problem.id}", detail)
    return problem


def merge_problems(
    session: Session, *, target: Problem, sources: Iterable[Problem], user: User
) -> int:
    """Fold proposals or open problems into ``target``: their evidence moves over.

    All must be of the same unit and term; the target must still be live.
    Returns the number merged.
    """
    assert target.id is not None  # a stored row
    require_manage(session, user, target.unit_id)
    if target.status not in MERGE_TARGETS:
        raise LoopStateError(
            _(
                "The problem to merge into is “%(status)s”; choose a proposed, confirmed or"
                " in-progress one.",
                status=name_of(STATUS_NAMES, target.status),
            )
        )
    sources = [s for s in sources if s.id != target.id]
    if not sources:
        raise LoopValidationError({"sources": _("Choose at least one other problem to merge.")})
    for src in sources:
        if (src.unit_id, src.term_id) != (target.unit_id, target.term_id):
            raise LoopValidationError(
                {"sources": _("Only problems of the same unit and term can be merged.")}
            )
        if src.status not in (S.PROPOSED, S.OPEN):
            raise LoopStateError(
                _(
                    "Problem #%(id)s is “%(status)s”: it cannot be merged.",
                    id=src.id,
                    status=name_of(STATUS_NAMES, src.status),
                )
            )
    have = set(
        session.exec(
            select(ProblemEvidence.key).where(ProblemEvidence.problem_id == target.id)
        ).all()
    )
    moved = session.exec(
        select(ProblemEvidence).where(col(ProblemEvidence.problem_id).in_([s.id for s in sources]))
    ).all()
    for ev in moved:
        if ev.key in have:
            continue
        have.add(ev.key)
        session.add(
            ProblemEvidence(
                **ev.model_dump(exclude={"id", "problem_id"}),
                problem_id=target.id,
            )
        )
    now = utcnow()
    for src in sources:
        old = src.status
        src.status = S.MERGED.value
        src.merged_into_id = target.id
        src.updated_at = now
        session.add(src)
        audit(session, user, "problem.status", f"problem {src.id}", f"{old} → merged: {target.id}")
    session.flush()
    return len(sources)


# --- reading ---------------------------------------------------------------------------


class ProblemPlace(NamedTuple):
    """A problem with the unit and the term it belongs to."""

    problem: Problem
    unit: OrgUnit
    term: Term


def find_problem(session: Session, problem_id: int) -> ProblemPlace | None:
    """The problem with its unit and term, in one query; None if there is no such id."""
    stmt = (
        select(Problem, OrgUnit, Term)
        .join(OrgUnit, col(OrgUnit.id) == Problem.unit_id)
        .join(Term, col(Term.id) == Problem.term_id)
        .where(col(Problem.id) == problem_id)
    )
    row = session.exec(stmt).first()
    return ProblemPlace(*row) if row is not None else None


def get_problem(session: Session, problem_id: int) -> Problem | None:
    return session.get(Problem, problem_id)


@dataclass(frozen=True)
class ProblemRow:
    """One line of a unit's list of problems."""

    problem: Problem
    unit_code: str
    actions: int
    overdue: int


def problem_rows(
    session: Session,
    *,
    unit_id: int,
    term_id: int,
    today: date,
    status: str | None = None,
    category: str | None = None,
    severity: str | None = None,
) -> list[ProblemRow]:
    """The term's problems at and below the unit, with their action counts: one query.

    Merged problems are left out unless ``status`` asks for them; those with overdue
    actions come first, then by status, unit and age.
    """
    actions = (
        select(Action.problem_id, func.count(col(Action.id)).label("actions"))
        .group_by(col(Action.problem_id))
        .subquery()
    )
    overdue = (
        select(Action.problem_id, func.count(col(Action.id)).label("overdue"))
        .where(overdue_condition(today))
        .group_by(col(Action.problem_id))
        .subquery()
    )
    stmt = (
        select(Problem, OrgUnit.code, actions.c.actions, overdue.c.overdue)
        .join(OrgUnit, col(OrgUnit.id) == Problem.unit_id)
        .join(OrgUnitClosure, col(OrgUnitClosure.descendant_id) == Problem.unit_id)
        .outerjoin(actions, actions.c.problem_id == Problem.id)
        .outerjoin(overdue, overdue.c.problem_id == Problem.id)
        .where(col(OrgUnitClosure.ancestor_id) == unit_id, col(Problem.term_id) == term_id)
    )
    if status:
        stmt = stmt.where(col(Problem.status) == status)
    else:
        stmt = stmt.where(col(Problem.status) != S.MERGED.value)
    if category:
        stmt = stmt.where(col(Problem.category) == category)
    if severity:
        stmt = stmt.where(col(Problem.severity) == severity)
    order = func.coalesce(overdue.c.overdue, 0).desc()
    stmt = stmt.order_by(order, col(Problem.status), col(OrgUnit.code), col(Problem.id))
    return [
        ProblemRow(problem=p, unit_code=code, actions=n or 0, overdue=late or 0)
        for p, code, n, late in session.exec(stmt).all()
    ]


@dataclass(frozen=True)
class ProblemDetails:
    """What a problem's page shows beside the problem itself."""

    evidence: list[ProblemEvidence]
    actions: list[tuple[Action, User]]  # with each one's owner, by due date
    meetings: list[Meeting]  # where it was discussed
    merged: list[Problem]  # merged into this one
    target: Problem | None  # the one this was merged into
    merge_targets: list[Problem]  # what this one may be merged into


def problem_details(session: Session, problem: Problem) -> ProblemDetails:
    """Evidence, actions, meetings and merges of a problem: five queries (six if merged)."""
    evidence = session.exec(
        select(ProblemEvidence)
        .where(col(ProblemEvidence.problem_id) == problem.id)
        .order_by(col(ProblemEvidence.kind), col(ProblemEvidence.id))
    ).all()
    actions = session.exec(
        select(Action, User)
        .join(User, col(User.id) == Action.owner_id)
        .where(col(Action.problem_id) == problem.id)
        .order_by(col(Action.due_date), col(Action.id))
    ).all()
    meetings = session.exec(
        select(Meeting)
        .join(MeetingProblem, col(MeetingProblem.meeting_id) == Meeting.id)
        .where(col(MeetingProblem.problem_id) == problem.id)
        .order_by(col(Meeting.held_on))
    ).all()
    merged = session.exec(select(Problem).where(col(Problem.merged_into_id) == problem.id)).all()
    target = session.get(Problem, problem.merged_into_id) if problem.merged_into_id else None
    merge_targets = session.exec(
        select(Problem)
        .where(
            col(Problem.unit_id) == problem.unit_id,
            col(Problem.term_id) == problem.term_id,
            col(Problem.id) != problem.id,
            col(Problem.status).in_(MERGE_TARGETS),
        )
        .order_by(col(Problem.id))
    ).all()
    return ProblemDetails(
        evidence=list(evidence),
        actions=[(action, owner) for action, owner in actions],
        meetings=list(meetings),
        merged=list(merged),
        target=target,
        merge_targets=list(merge_targets),
    )
