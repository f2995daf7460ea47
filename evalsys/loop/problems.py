"""The loop's service: propose, confirm, merge and dismiss problems; meetings; actions.

Plain functions taking ``session`` as a keyword, used alike by the pages, the
CLI, the scheduler job and tests. They flush but never commit: the caller owns
the unit of work. Every change of a problem's or an action's status is checked
against the allowed transitions and written to the audit log (``AuditEvent``,
action ``loop.*``) in the same transaction.

Errors: :class:`LoopValidationError` carries one message per form field (a page
shows each next to its field), :class:`LoopPermissionError` is a 403,
:class:`LoopStateError` a refused transition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, exists, or_, text
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, may, scope_ids
from evalsys.accounts.models import RoleGrant, User
from evalsys.accounts.service import audit
from evalsys.aggregation.flags import dimension_label
from evalsys.clock import utcnow
from evalsys.feedback.vocab import DIMENSIONS, name_of
from evalsys.loop.models import (
    ACTION_STATUS_NAMES,
    LIVE_ACTIONS,
    STATUS_NAMES,
    Action,
    ActionStatus,
    Category,
    Meeting,
    MeetingAttendee,
    MeetingProblem,
    Problem,
    ProblemEvidence,
    ProblemSource,
    ProblemStatus,
    Severity,
)
from evalsys.loop.notices import queue_assigned
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Term


class LoopError(Exception):
    """Base of the loop's refusals."""


class LoopPermissionError(LoopError):
    """The user may not do this on that unit (Perm.MANAGE_LOOP, or not the owner)."""


class LoopStateError(LoopError):
    """The change is not allowed from the current status."""


class LoopValidationError(LoopError):
    """Bad input: one message per field name."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


S = ProblemStatus
#: Where a problem may go from each status. Merging is its own function.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PROPOSED: frozenset({S.OPEN, S.DISMISSED}),
    S.OPEN: frozenset({S.IN_PROGRESS, S.RESOLVED, S.DISMISSED}),
    S.IN_PROGRESS: frozenset({S.RESOLVED, S.DISMISSED}),
    # A resolution that does not hold up when checked goes back to work.
    S.RESOLVED: frozenset({S.VERIFIED, S.IN_PROGRESS}),
    S.VERIFIED: frozenset(),
    S.DISMISSED: frozenset(),
    S.MERGED: frozenset(),
}
#: Statuses of problems that were confirmed as real (what reports count as "found").
FOUND = (S.OPEN.value, S.IN_PROGRESS.value, S.RESOLVED.value, S.VERIFIED.value)
#: Statuses in which a problem can take new actions.
ACTIONABLE = (S.OPEN.value, S.IN_PROGRESS.value)

A = ActionStatus
ACTION_TRANSITIONS: dict[str, frozenset[str]] = {
    A.OPEN: frozenset({A.IN_PROGRESS, A.DONE, A.CANCELLED}),
    A.IN_PROGRESS: frozenset({A.DONE, A.CANCELLED}),
    A.DONE: frozenset(),
    A.CANCELLED: frozenset(),
}

#: The category a flagged dimension suggests.
DIMENSION_CATEGORY: dict[str, Category] = {
    "attitude": Category.ATTITUDE,
    "content": Category.CONTENT,
    "method": Category.METHOD,
    "organisation": Category.ORGANISATION,
    "effect": Category.EFFECT,
    "plan_fit": Category.TRAINING_PLAN,
    "practice": Category.PRACTICE,
}

TITLE_LIMIT = 300
TEXT_LIMIT = 4000


# --- access ----------------------------------------------------------------------------


#: Heads, deans and leaders (VIEW_REPORTS) read a unit's problems; managers too.
READ_PERMS = (Perm.MANAGE_LOOP, Perm.VIEW_REPORTS)


def can_manage(session: Session, user: User | Any, unit_id: int) -> bool:
    return may(session, user, Perm.MANAGE_LOOP, unit_id)


def can_view(session: Session, user: User | Any, unit_id: int) -> bool:
    return may(session, user, READ_PERMS, unit_id)


def visible_problem_ids(user: User) -> Any:
    """A subquery of the ids of the problems the user may read (for lists and dashboards)."""
    units = scope_ids(user, READ_PERMS)
    return select(Problem.id).where(col(Problem.unit_id).in_(units))


def people_ids(unit_id: int) -> Select:
    """A subquery of the ids of the people an action or a meeting of the unit may name.

    Active users with a role at, above or below the unit: who the forms offer as
    owners and attendees, and all the service accepts. Anyone else — a teacher of
    another college, a head of the sister department — would be given a unit's
    problem to read (an action's owner opens its problem) or named on its
    meeting without belonging to it.
    """
    related = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)
    above = select(OrgUnitClosure.ancestor_id).where(OrgUnitClosure.descendant_id == unit_id)
    granted = select(RoleGrant.user_id).where(
        or_(col(RoleGrant.unit_id).in_(related), col(RoleGrant.unit_id).in_(above))
    )
    return select(User.id).where(col(User.id).in_(granted), User.active == True)  # noqa: E712


def people(session: Session, unit_id: int) -> list[User]:
    """The people of :func:`people_ids`, by name: the choices of the owner and attendee fields."""
    stmt = select(User).where(col(User.id).in_(people_ids(unit_id))).order_by(User.name, User.id)
    return list(session.exec(stmt).all())


def _people_among(session: Session, unit_id: int, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` the unit's forms offer (unknown ids and strangers alike are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    stmt = select(User.id).where(col(User.id).in_(wanted), col(User.id).in_(people_ids(unit_id)))
    return set(session.exec(stmt).all())  # type: ignore[arg-type]


def _require_manage(session: Session, user: User | None, unit_id: int) -> None:
    if user is not None and not can_manage(session, user, unit_id):
        raise LoopPermissionError("you may not manage the problems of this unit")


def _audit(session: Session, user: User | None, action: str, target: str, detail: str) -> None:
    audit(
        session,
        f"loop.{action}",
        user_id=user.id if user is not None else None,
        target=target,
        detail=detail,
    )


# --- proposals -------------------------------------------------------------------------


@dataclass
class Proposal:
    source: str
    source_key: str
    title: str
    category: str
    severity: str
    description: str | None
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ProposalResult:
    created: int = 0
    evidence_added: int = 0
    unchanged: int = 0


_FLAGS = """
SELECT f.level, f.unit_id, f.kind, f.dimension, f.flag, f.value, f.threshold, f.reason,
       r.unit_code, r.mean
FROM aggregate_flag f
JOIN aggregate_result r ON r.term_id = f.term_id AND r.level = f.level AND r.unit_id = f.unit_id
                       AND r.kind = f.kind AND r.dimension = f.dimension
WHERE f.term_id = :term_id
  AND ((f.level IN ('school', 'college', 'department') AND f.unit_id = :unit_id)
       OR (:is_department AND f.level = 'course' AND r.org_unit_id = :unit_id))
ORDER BY f.dimension, f.level DESC, r.unit_code, f.kind, f.flag
"""

_OBSERVER_PROBLEMS = """
SELECT f.id, f.kind, f.problems, f.overall_score, f.visit_date,
       COALESCE(s.code, g.code) AS target_code
FROM feedback f
LEFT JOIN section s ON s.id = f.section_id
LEFT JOIN tutor_group g ON g.id = f.group_id
WHERE f.term_id = :term_id AND f.department_id = :unit_id AND f.status = 'submitted'
  AND f.problems IS NOT NULL AND length(trim(f.problems)) > 0
ORDER BY f.id
"""

_WEAKEST_DIMENSION = text(
    """
SELECT fs.feedback_id, ri.dimension,
       AVG((fs.value - ri.scale_min) * 1.0 / (ri.scale_max - ri.scale_min)) AS share
FROM feedback_score fs JOIN rubric_item ri ON ri.id = fs.item_id
WHERE fs.feedback_id IN :ids
GROUP BY fs.feedback_id, ri.dimension
"""
).bindparams(bindparam("ids", expanding=True))


def _dimension_zh(dimension: str) -> str:
    for dims in DIMENSIONS.values():
        if dimension in dims:
            return dims[dimension][0]
    return "总体" if dimension == "overall" else dimension


def flag_proposals(session: Session, *, term: Term, unit: OrgUnit) -> list[Proposal]:
    """One proposal per flagged dimension of the unit (and, for a department, its courses).

    Sections are left out on purpose: a flag on one teacher's class is for the
    teacher's feedback, not a problem of the department.
    """
    rows = (
        session.execute(
            text(_FLAGS),
            {
                "term_id": term.id,
                "unit_id": unit.id,
                "is_department": unit.kind == "department",
            },
        )
        .mappings()
        .all()
    )
    by_dim: dict[str, list[Any]] = {}
    for row in rows:
        by_dim.setdefault(row["dimension"], []).append(row)
    out = []
    for dimension, flags in by_dim.items():
        where = sorted({r["unit_code"] for r in flags})
        label = f"{_dimension_zh(dimension)} {dimension_label(dimension)}"
        means = [r["mean"] for r in flags if r["mean"] is not None]
        severe = (means and min(means) < 60) or len(flags) >= 3
        out.append(
            Proposal(
                source=ProblemSource.FLAG.value,
                source_key=f"flag:{dimension}",
                title=(
                    f"{label}: {len(flags)} flagged result{'s' if len(flags) != 1 else ''} "
                    f"({', '.join(where)})"
                )[:TITLE_LIMIT],
                category=DIMENSION_CATEGORY.get(dimension, Category.OTHER).value,
                severity=(Severity.HIGH if severe else Severity.MEDIUM).value,
                description=None,
                evidence=[
                    {
                        "kind": "flag",
                        "key": (
                            f"flag:{term.id}:{r['level']}:{r['unit_id']}:{r['kind']}:"
                            f"{r['dimension']}:{r['flag']}"
                        ),
                        "flag_term_id": term.id,
                        "flag_level": r["level"],
                        "flag_unit_id": r["unit_id"],
                        "flag_kind": r["kind"],
                        "flag_dimension": r["dimension"],
                        "flag_code": r["flag"],
                        "text": f"{r['unit_code']}: {r['reason']}"[:TEXT_LIMIT],
                        "value": r["value"],
                    }
                    for r in flags
                ],
            )
        )
    return out


def feedback_proposals(session: Session, *, term: Term, unit: OrgUnit) -> list[Proposal]:
    """One proposal per submitted record of the department whose observer wrote problems.

    Its category comes from the record's weakest dimension; its severity from the
    record's overall score. Colleges and the school get none: the same words
    would otherwise be proposed twice, once per level.
    """
    if unit.kind != "department":
        return []
    rows = (
        session.execute(text(_OBSERVER_PROBLEMS), {"term_id": term.id, "unit_id": unit.id})
        .mappings()
        .all()
    )
    if not rows:
        return []
    weakest: dict[int, tuple[float, str]] = {}
    for fid, dimension, share in session.execute(
        _WEAKEST_DIMENSION, {"ids": [r["id"] for r in rows]}
    ).all():
        if share is not None and (fid not in weakest or share < weakest[fid][0]):
            weakest[fid] = (share, dimension)
    out = []
    for r in rows:
        words = " ".join(r["problems"].split())
        score = r["overall_score"]
        if score is None:
            severity = Severity.MEDIUM
        elif score < 60:
            severity = Severity.HIGH
        elif score < 75:
            severity = Severity.MEDIUM
        else:
            severity = Severity.LOW
        dim = weakest.get(r["id"], (0.0, ""))[1]
        short = words if len(words) <= 120 else words[:119] + "…"
        out.append(
            Proposal(
                source=ProblemSource.FEEDBACK.value,
                source_key=f"feedback:{r['id']}",
                title=f"{r['target_code']}: {short}"[:TITLE_LIMIT],
                category=DIMENSION_CATEGORY.get(dim, Category.OTHER).value,
                severity=severity.value,
                description=None,
                evidence=[
                    {
                        "kind": "feedback",
                        "key": f"feedback:{r['id']}",
                        "feedback_id": r["id"],
                        "text": r["problems"][:TEXT_LIMIT],
                        "value": score,
                    }
                ],
            )
        )
    return out


def propose_problems(
    session: Session, *, term: Term, unit: OrgUnit, user: User | None = None
) -> ProposalResult:
    """Propose the unit's problems of the term from its flags and observers' words.

    Idempotent: a proposal whose source already has a problem (in any status, a
    dismissed one included — a dismissal is a decision, not to be asked again)
    only gets the evidence it lacks. ``user`` None means the system (CLI, jobs).
    """
    assert term.id is not None and unit.id is not None
    _require_manage(session, user, unit.id)
    proposals = flag_proposals(session, term=term, unit=unit) + feedback_proposals(
        session, term=term, unit=unit
    )
    result = ProposalResult()
    if not proposals:
        return result
    existing = {
        p.source_key: p
        for p in session.exec(
            select(Problem).where(
                Problem.term_id == term.id,
                Problem.unit_id == unit.id,
                col(Problem.source_key).in_([p.source_key for p in proposals]),
            )
        )
    }
    have: set[tuple[int, str]] = set()
    if existing:
        have = {
            (pid, key)
            for pid, key in session.exec(
                select(ProblemEvidence.problem_id, ProblemEvidence.key).where(
                    col(ProblemEvidence.problem_id).in_([p.id for p in existing.values()])
                )
            ).all()
        }
    for prop in proposals:
        problem = existing.get(prop.source_key)
        if problem is None:
            problem = Problem(
                term_id=term.id,
                unit_id=unit.id,
                title=prop.title,
                description=prop.description,
                category=prop.category,
                severity=prop.severity,
                source=prop.source,
                source_key=prop.source_key,
                created_by_id=user.id if user is not None else None,
            )
            session.add(problem)
            session.flush()
            result.created += 1
        elif problem.status == S.MERGED:
            result.unchanged += 1
            continue
        added = 0
        for ev in prop.evidence:
            if (problem.id, ev["key"]) in have:
                continue
            session.add(ProblemEvidence(problem_id=problem.id, **ev))  # type: ignore[arg-type]
            have.add((problem.id, ev["key"]))  # type: ignore[arg-type]
            added += 1
        if prop.source_key in existing:
            if added:
                result.evidence_added += added
            else:
                result.unchanged += 1
    session.flush()
    _audit(
        session,
        user,
        "propose",
        f"{unit.code} {term.code}",
        f"{result.created} new, {result.evidence_added} evidence added, "
        f"{result.unchanged} unchanged",
    )
    return result


def propose_tree(session: Session, *, term: Term, root: OrgUnit) -> ProposalResult:
    """Proposals for every unit at and below ``root`` (the system's run, after aggregation)."""
    units = session.exec(
        select(OrgUnit)
        .join(OrgUnitClosure, col(OrgUnitClosure.descendant_id) == OrgUnit.id)
        .where(OrgUnitClosure.ancestor_id == root.id)
        .order_by(OrgUnitClosure.depth, OrgUnit.code)
    ).all()
    total = ProposalResult()
    for unit in units:
        r = propose_problems(session, term=term, unit=unit)
        total.created += r.created
        total.evidence_added += r.evidence_added
        total.unchanged += r.unchanged
    return total


# --- problems --------------------------------------------------------------------------


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _too_long(limit: int, text: str) -> str:
    return _(
        "At most %(limit)s characters (this is %(length)s); shorten it.",
        limit=limit,
        length=len(text),
    )


def _check_problem_fields(title: str, category: str, severity: str, description: str | None):
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = _("Give the problem a title.")
    elif len(title) > TITLE_LIMIT:
        errors["title"] = _too_long(TITLE_LIMIT, title)
    if category not in {c.value for c in Category}:
        errors["category"] = _("Choose a category from the list.")
    if severity not in {s.value for s in Severity}:
        errors["severity"] = _("Choose a severity from the list.")
    if description and len(description) > TEXT_LIMIT:
        errors["description"] = _too_long(TEXT_LIMIT, description)
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
    _require_manage(session, user, unit.id)  # type: ignore[arg-type]
    title, description = _clean(title), _clean(description) or None
    _check_problem_fields(title, category, severity, description)
    problem = Problem(
        term_id=term.id,  # type: ignore[arg-type]
        unit_id=unit.id,  # type: ignore[arg-type]
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
    _audit(session, user, "problem.create", f"problem {problem.id}", f"{unit.code}: {title}")
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
    _require_manage(session, user, problem.unit_id)
    if problem.status in (S.MERGED, S.DISMISSED, S.VERIFIED):
        raise LoopStateError(
            _(
                "This problem is “%(status)s”: it can no longer be edited.",
                status=name_of(STATUS_NAMES, problem.status),
            )
        )
    title, description = _clean(title), _clean(description) or None
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
        _audit(
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
    _require_manage(session, user, problem.unit_id)
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
    reason = _clean(reason) or None
    if to == S.DISMISSED:
        if not reason:
            raise LoopValidationError({"reason": _("Say why the problem is dismissed.")})
        if len(reason) > 2000:
            raise LoopValidationError({"reason": _too_long(2000, reason)})
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
    _audit(session, user, "problem.status", f"problem {problem.id}", detail)
    return problem


def merge_problems(
    session: Session, *, target: Problem, sources: Iterable[Problem], user: User
) -> int:
    """Fold proposals or open problems into ``target``: their evidence moves over.

    All must be of the same unit and term; the target must still be live.
    Returns the number merged.
    """
    _require_manage(session, user, target.unit_id)
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
                problem_id=target.id,  # type: ignore[arg-type]
            )
        )
    now = utcnow()
    for src in sources:
        old = src.status
        src.status = S.MERGED.value
        src.merged_into_id = target.id
        src.updated_at = now
        session.add(src)
        _audit(session, user, "problem.status", f"problem {src.id}", f"{old} → merged: {target.id}")
    session.flush()
    return len(sources)


# --- meetings --------------------------------------------------------------------------


def in_subtree(session: Session, unit_id: int, root_id: int) -> bool:
    return (
        session.exec(
            select(OrgUnitClosure.depth).where(
                OrgUnitClosure.ancestor_id == root_id, OrgUnitClosure.descendant_id == unit_id
            )
        ).first()
        is not None
    )


def create_meeting(
    session: Session,
    *,
    unit: OrgUnit,
    term: Term,
    user: User,
    held_on: date | None,
    title: str,
    decisions: str,
    attendee_ids: Iterable[int] = (),
    other_attendees: str | None = None,
    problem_ids: Iterable[int] = (),
) -> Meeting:
    """Record a subject discussion meeting: attendees, problems discussed, decisions.

    Attendees are people of the unit (:func:`people`), problems those of the
    unit and the units below it; any other id is refused on its field.
    """
    _require_manage(session, user, unit.id)  # type: ignore[arg-type]
    title, decisions = _clean(title), _clean(decisions)
    other_attendees = _clean(other_attendees) or None
    attendee_ids, problem_ids = sorted(set(attendee_ids)), sorted(set(problem_ids))
    errors: dict[str, str] = {}
    if held_on is None:
        errors["held_on"] = _("Give the date of the meeting.")
    if not title:
        errors["title"] = _("Give the meeting a topic.")
    elif len(title) > TITLE_LIMIT:
        errors["title"] = _too_long(TITLE_LIMIT, title)
    if not decisions:
        errors["decisions"] = _("Write down what the meeting decided.")
    elif len(decisions) > 8000:
        errors["decisions"] = _too_long(8000, decisions)
    if other_attendees and len(other_attendees) > 2000:
        errors["other_attendees"] = _too_long(2000, other_attendees)
    if not attendee_ids and not other_attendees:
        errors["attendees"] = _("Name at least one attendee.")
    offered = _people_among(session, unit.id, attendee_ids)  # type: ignore[arg-type]
    if len(offered) != len(attendee_ids):
        # An unknown id and a person from outside the unit get the same words.
        errors["attendees"] = _("Some attendees are not known users; choose them from the list.")
    if problem_ids:
        problems = session.exec(select(Problem).where(col(Problem.id).in_(problem_ids))).all()
        if len(problems) != len(problem_ids) or not all(
            in_subtree(session, p.unit_id, unit.id)
            for p in problems  # type: ignore[arg-type]
        ):
            errors["problems"] = _("Only problems of this unit and the units below it.")
    if errors:
        raise LoopValidationError(errors)
    meeting = Meeting(
        unit_id=unit.id,  # type: ignore[arg-type]
        term_id=term.id,  # type: ignore[arg-type]
        held_on=held_on,  # type: ignore[arg-type]
        title=title,
        decisions=decisions,
        other_attendees=other_attendees,
        created_by_id=user.id,
    )
    session.add(meeting)
    session.flush()
    for uid in attendee_ids:
        session.add(MeetingAttendee(meeting_id=meeting.id, user_id=uid))  # type: ignore[arg-type]
    for pid in problem_ids:
        session.add(MeetingProblem(meeting_id=meeting.id, problem_id=pid))  # type: ignore[arg-type]
    session.flush()
    _audit(
        session,
        user,
        "meeting.create",
        f"meeting {meeting.id}",
        f"{unit.code} {held_on}: {title}; problems {problem_ids}",
    )
    return meeting


# --- actions ---------------------------------------------------------------------------


@dataclass
class ActionInput:
    title: str = ""
    owner_id: int | None = None
    due_date: date | None = None
    notes: str | None = None
    meeting_id: int | None = None
    plan_course_id: int | None = None
    plan_programme: str | None = None
    plan_change: str | None = None
    plan_from_term_id: int | None = None


def _check_action(
    session: Session, problem: Problem, data: ActionInput, *, today: date, new: bool
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    title = _clean(data.title)
    notes = _clean(data.notes) or None
    programme = _clean(data.plan_programme) or None
    change = _clean(data.plan_change) or None
    if not title:
        errors["title"] = _("Say what will be done.")
    elif len(title) > 500:
        errors["title"] = _too_long(500, title)
    owner_ok = data.owner_id is not None and bool(
        _people_among(session, problem.unit_id, [data.owner_id])
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
        errors["notes"] = _too_long(TEXT_LIMIT, notes)
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
    if programme and len(programme) > 200:
        errors["plan_programme"] = _too_long(200, programme)
    if change and len(change) > 2000:
        errors["plan_change"] = _too_long(2000, change)
    has_target = data.plan_course_id is not None or programme
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
        "plan_programme": programme,
        "plan_change": change,
        "plan_from_term_id": data.plan_from_term_id,
    }


def create_action(
    session: Session, *, problem: Problem, user: User, data: ActionInput, today: date
) -> Action:
    """Decide an action on a confirmed problem; the problem moves to "in progress".

    The owner's assignment email is queued here, in the same transaction, and
    sent by the ``loop-mail`` job (:mod:`evalsys.loop.notices`).
    """
    _require_manage(session, user, problem.unit_id)
    if problem.status not in ACTIONABLE:
        raise LoopStateError(
            _(
                "Actions are decided on confirmed problems or problems being fixed;"
                " this one is “%(status)s”.",
                status=name_of(STATUS_NAMES, problem.status),
            )
        )
    values = _check_action(session, problem, data, today=today, new=True)
    action = Action(problem_id=problem.id, created_by_id=user.id, **values)  # type: ignore[arg-type]
    session.add(action)
    session.flush()
    _audit(
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
        cleaned = _clean(notes) or None
        if cleaned and len(cleaned) > TEXT_LIMIT:
            raise LoopValidationError({"notes": _too_long(TEXT_LIMIT, cleaned)})
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
    _audit(
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


def overdue_condition(today: date) -> Any:
    """SQL condition on Action: due before today and still open or in progress."""
    return (col(Action.due_date) < today) & col(Action.status).in_(LIVE_ACTIONS)


def overdue_actions(session: Session, *, today: date, unit_id: int | None = None) -> list[Action]:
    """Overdue actions, optionally of problems at and below a unit."""
    stmt = select(Action).where(overdue_condition(today))
    if unit_id is not None:
        stmt = stmt.join(Problem, col(Problem.id) == Action.problem_id).where(
            exists().where(
                OrgUnitClosure.ancestor_id == unit_id,
                OrgUnitClosure.descendant_id == Problem.unit_id,
            )
        )
    return list(session.exec(stmt.order_by(Action.due_date, Action.id)).all())


# --- counts for reports and pages --------------------------------------------------------

_SUMMARY = """
SELECT c.id AS unit_id, c.code, c.name, c.name_en,
       COALESCE(SUM(CASE WHEN p.status IN ('open', 'in_progress', 'resolved', 'verified')
                         THEN 1 ELSE 0 END), 0) AS found,
       COALESCE(SUM(CASE WHEN p.status IN ('resolved', 'verified') THEN 1 ELSE 0 END), 0)
           AS resolved,
       COALESCE(SUM(CASE WHEN p.status = 'verified' THEN 1 ELSE 0 END), 0) AS verified,
       COALESCE(SUM(CASE WHEN p.status IN ('open', 'in_progress') THEN 1 ELSE 0 END), 0)
           AS open,
       COALESCE(SUM(CASE WHEN p.status = 'proposed' THEN 1 ELSE 0 END), 0) AS proposed,
       COALESCE(SUM(CASE WHEN p.status = 'dismissed' THEN 1 ELSE 0 END), 0) AS dismissed
FROM org_unit c
JOIN org_unit_closure cl ON cl.ancestor_id = c.id
LEFT JOIN loop_problem p ON p.unit_id = cl.descendant_id AND p.term_id = :term_id
WHERE {where}
GROUP BY c.id, c.code, c.name, c.name_en
ORDER BY c.code
"""
COUNT_KEYS = ("found", "resolved", "verified", "open", "proposed", "dismissed")


def summary(session: Session, *, term_id: int, unit_id: int) -> dict[str, Any]:
    """Problem counts of a term per child unit (each with its whole subtree), and in total.

    "found" counts confirmed problems (open, in progress, resolved, verified);
    "resolved" those resolved or since verified; merged ones count in their target.
    Two queries, computed in the database.
    """
    children = [
        dict(r)
        for r in session.execute(
            text(_SUMMARY.format(where="c.parent_id = :unit_id")),
            {"term_id": term_id, "unit_id": unit_id},
        ).mappings()
    ]
    total = (
        session.execute(
            text(_SUMMARY.format(where="c.id = :unit_id")),
            {"term_id": term_id, "unit_id": unit_id},
        )
        .mappings()
        .one()
    )
    total = dict(total)
    own = {k: total[k] - sum(c[k] for c in children) for k in COUNT_KEYS}
    return {"children": children, "own": own, "total": {k: total[k] for k in COUNT_KEYS}}
