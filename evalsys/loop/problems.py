"""A problem's life once it exists: recorded by hand, edited, moved along its statuses,
merged into another.

Who may do it is :func:`evalsys.loop.scope.require_manage`; which moves are allowed is
:data:`evalsys.loop.rules.TRANSITIONS`; every change is audited (``loop.problem.*``).
Proposals come from :mod:`evalsys.loop.proposals`, actions from :mod:`evalsys.loop.actions`.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.clock import utcnow
from evalsys.feedback.vocab import name_of
from evalsys.loop.models import (
    STATUS_NAMES,
    Category,
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
    too_long,
)
from evalsys.loop.scope import require_manage
from evalsys.org.models import OrgUnit, Term

S = ProblemStatus


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
    if target.status not in (S.PROPOSED, S.OPEN, S.IN_PROGRESS):
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
