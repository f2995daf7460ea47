"""Problems evalsys proposes: from the term's flags, the problems observers wrote, and the
themes that recur in what several observers wrote (:mod:`evalsys.themes`).

A head or dean then confirms, merges or dismisses each (:mod:`evalsys.loop.problems`).
Proposing is idempotent: every proposal has a ``source_key`` unique per (term, unit), so
proposing again creates nothing and only adds the evidence a problem lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.aggregation.flags import dimension_label
from evalsys.feedback.vocab import DIMENSIONS
from evalsys.loop.models import (
    Category,
    Problem,
    ProblemEvidence,
    ProblemSource,
    ProblemStatus,
    Severity,
)
from evalsys.loop.rules import TEXT_LIMIT, TITLE_LIMIT, audit
from evalsys.loop.scope import require_manage
from evalsys.org.models import OrgUnit, OrgUnitClosure, Term
from evalsys.themes.service import themes_for_unit

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

#: The category a recurring theme (evalsys/themes/themes.toml) suggests; others: method.
THEME_CATEGORY: dict[str, Category] = {
    "discipline": Category.ORGANISATION,
    "lateness": Category.ORGANISATION,
    "phones": Category.ORGANISATION,
    "attendance": Category.ORGANISATION,
    "attention": Category.EFFECT,
    "preparation": Category.ATTITUDE,
    "practice": Category.PRACTICE,
    "key_points": Category.CONTENT,
}


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
    # One proposal per distinct text: observers who typed the same words on several
    # records (one visit written up twice, or a phrase kept from visit to visit) raise one
    # problem with every record as its evidence, not one problem each.
    groups: dict[str, list[Any]] = {}
    for r in rows:
        words = " ".join(r["problems"].split())
        groups.setdefault(words.casefold(), []).append(r)
    out = []
    for same in groups.values():
        first = min(same, key=lambda r: r["id"])
        words = " ".join(first["problems"].split())
        scores = [r["overall_score"] for r in same if r["overall_score"] is not None]
        score = min(scores) if scores else None
        if score is None:
            severity = Severity.MEDIUM
        elif score < 60:
            severity = Severity.HIGH
        elif score < 75:
            severity = Severity.MEDIUM
        else:
            severity = Severity.LOW
        dim = weakest.get(first["id"], (0.0, ""))[1]
        short = words if len(words) <= 120 else words[:119] + "…"
        out.append(
            Proposal(
                source=ProblemSource.FEEDBACK.value,
                # The first record's key: what earlier runs stored for it, so a re-run
                # finds the problem again.
                source_key=f"feedback:{first['id']}",
                # The observer's words alone: the section is in the evidence, and a title
                # that starts with a code reads as a code.
                title=short[:TITLE_LIMIT],
                category=DIMENSION_CATEGORY.get(dim, Category.OTHER).value,
                severity=severity.value,
                description=None,
                evidence=[
                    {
                        "kind": "feedback",
                        "key": f"feedback:{r['id']}",
                        "feedback_id": r["id"],
                        "text": f"{r['target_code']}: {r['problems']}"[:TEXT_LIMIT],
                        "value": r["overall_score"],
                    }
                    for r in sorted(same, key=lambda r: r["id"])
                ],
            )
        )
    return out


def theme_proposals(session: Session, *, term: Term, unit: OrgUnit) -> list[Proposal]:
    """One proposal per theme observers wrote of as a problem on several records.

    At every level: a theme of a college is a pattern across its departments. The
    quoted records are the evidence, their quotes (never naming a teacher above a
    department: :func:`evalsys.themes.service.themes_for_unit`) its text. Keyed on the
    theme, so a re-run finds the problem again and adds only new quotes.
    """
    assert unit.id is not None and term.id is not None
    out = []
    for t in themes_for_unit(session, unit.id, term.id):
        quotes = [q for q in t.quotes if q.side == "problem"]
        if t.problem_records < 2 or not quotes:
            continue
        out.append(
            Proposal(
                source=ProblemSource.FEEDBACK.value,
                source_key=f"theme:{t.key}",
                title=(
                    f"{t.zh_label} {t.en_label}: {t.problem_records} records, "
                    f"{t.observers} observers"
                )[:TITLE_LIMIT],
                category=THEME_CATEGORY.get(t.key, Category.METHOD).value,
                severity=(Severity.HIGH if t.problem_records >= 5 else Severity.MEDIUM).value,
                description=None,
                evidence=[
                    {
                        "kind": "feedback",
                        "key": f"feedback:{q.feedback_id}",
                        "feedback_id": q.feedback_id,
                        "text": q.text[:TEXT_LIMIT],
                        "value": None,
                    }
                    for q in quotes
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
    require_manage(session, user, unit.id)
    proposals = (
        flag_proposals(session, term=term, unit=unit)
        + feedback_proposals(session, term=term, unit=unit)
        + theme_proposals(session, term=term, unit=unit)
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
        elif problem.status == ProblemStatus.MERGED:
            result.unchanged += 1
            continue
        assert problem.id is not None  # stored, or flushed above
        added = 0
        for ev in prop.evidence:
            if (problem.id, ev["key"]) in have:
                continue
            session.add(ProblemEvidence(problem_id=problem.id, **ev))
            have.add((problem.id, ev["key"]))
            added += 1
        if prop.source_key in existing:
            if added:
                result.evidence_added += added
            else:
                result.unchanged += 1
    session.flush()
    audit(
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
        .order_by(col(OrgUnitClosure.depth), col(OrgUnit.code))
    ).all()
    total = ProposalResult()
    for unit in units:
        r = propose_problems(session, term=term, unit=unit)
        total.created += r.created
        total.evidence_added += r.evidence_added
        total.unchanged += r.unchanged
    return total
