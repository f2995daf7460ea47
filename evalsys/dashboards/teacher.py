"""The teacher's dashboard: the latest feedback on my sections, my means against my department's.

"My mean" comes from the stored section-level results of the term aggregation
(``aggregate_result``): per term, department and kind, the n-weighted mean of
the sections I teach — which is the mean over my records — next to the
department's own row. Only spot checks and open classes are shown: tutor-group
reports are about groups, not classes, and a department's "all kinds" figure
would mix them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.aggregation.models import OVERALL, AggregationRun, RunStatus
from evalsys.aggregation.summary import run_min_n
from evalsys.feedback.reads import feedback_on_teacher
from evalsys.feedback.rows import FeedbackRow
from evalsys.feedback.vocab import FeedbackKind

#: The kinds a teacher is observed in, in the order shown.
TEACHING_KINDS = (FeedbackKind.SPOT_CHECK.value, FeedbackKind.OPEN_CLASS.value)
LATEST = 5

_MINE_AGAINST_DEPARTMENT = f"""
SELECT t.code AS term_code, t.name AS term_name, t.name_en AS term_name_en, t.start_date,
       d.code AS department_code, d.name AS department_name, d.name_en AS department_name_en,
       r.kind,
       SUM(r.n) AS n, SUM(r.n * r.mean) / SUM(r.n) AS mean, COUNT(*) AS sections,
       t.id AS term_id, dr.n AS dept_n, dr.mean AS dept_mean,
       dr.insufficient AS dept_insufficient
FROM aggregate_result r
JOIN section s ON s.id = r.unit_id
JOIN term t ON t.id = r.term_id
JOIN org_unit d ON d.id = r.org_unit_id
LEFT JOIN aggregate_result dr
       ON dr.term_id = r.term_id AND dr.level = 'department' AND dr.unit_id = r.org_unit_id
      AND dr.kind = r.kind AND dr.dimension = r.dimension
WHERE r.level = 'section' AND r.dimension = '{OVERALL}' AND r.n > 0 AND r.mean IS NOT NULL
  AND r.kind IN ('{TEACHING_KINDS[0]}', '{TEACHING_KINDS[1]}')
  AND s.teacher_id = :teacher_id
GROUP BY t.id, t.code, t.name, t.name_en, t.start_date, d.code, d.name, d.name_en, r.kind,
         dr.n, dr.mean, dr.insufficient
ORDER BY t.start_date DESC, d.code, r.kind
"""


@dataclass
class TeacherDashboard:
    latest: list[FeedbackRow]
    total: int
    #: Per term (latest first): {"term", "department", "kind", "n", "mean", ...}.
    terms: list[dict[str, Any]] = field(default_factory=list)
    #: Per kind, over the latest terms together (see :func:`pooled`).
    pooled: list[dict[str, Any]] = field(default_factory=list)
    #: How many of the latest terms :attr:`pooled` covers.
    pooled_terms: int = 0


def mine_against_department(session: Session, *, user: User, min_n: int) -> list[dict[str, Any]]:
    """My n and mean per (term, department, kind) against the department's, latest term first.

    One query over the stored results. ``insufficient`` follows the minimum n:
    mine when my records are fewer than ``min_n``, the department's as stored.
    """
    rows = session.execute(text(_MINE_AGAINST_DEPARTMENT), {"teacher_id": user.id}).mappings()
    used = min_n_by_term(session, default=min_n)
    out = []
    for r in rows:
        run_min_n = used.get(r["term_id"], min_n)
        mine_ok = r["n"] >= run_min_n
        dept_ok = r["dept_n"] is not None and not r["dept_insufficient"]
        out.append(
            {
                "term": r["term_code"],
                "term_name": r["term_name"],
                "term_name_en": r["term_name_en"],
                "department": r["department_code"],
                "department_name": r["department_name"],
                "department_name_en": r["department_name_en"],
                "kind": r["kind"],
                "sections": r["sections"],
                "n": r["n"],
                "mean": r["mean"],
                "insufficient": not mine_ok,
                "dept_n": r["dept_n"],
                "dept_mean": r["dept_mean"],
                "dept_insufficient": not dept_ok,
                "diff": r["mean"] - r["dept_mean"] if mine_ok and dept_ok else None,
                "min_n": run_min_n,
            }
        )
    return out


def pooled(rows: list[dict[str, Any]], *, terms: int, min_n: int) -> list[dict[str, Any]]:
    """My figures over the ``terms`` latest terms together, per kind, against my
    departments' over the same terms: with one or two visits a term, a single term is
    nearly always too few to compare, and a teacher would never learn where they stand.

    From the per-term rows of :func:`mine_against_department` (a handful of stored
    results, not records): a pooled mean is the n-weighted mean of the terms' means,
    which is the mean over all the records; the department's is pooled over the same
    (term, department) pairs. Compared only when mine reaches ``min_n`` together.
    """
    recent: list[str] = []
    for r in rows:
        if r["term"] not in recent:
            recent.append(r["term"])
    chosen = set(recent[:terms])
    out = []
    for kind in TEACHING_KINDS:
        mine = [r for r in rows if r["kind"] == kind and r["term"] in chosen]
        if not mine:
            continue
        n = sum(r["n"] for r in mine)
        mean = sum(r["n"] * r["mean"] for r in mine) / n
        depts = {(r["term"], r["department"]): r for r in mine if r["dept_mean"] is not None}
        dept_n = sum(r["dept_n"] for r in depts.values())
        dept_mean = (
            sum(r["dept_n"] * r["dept_mean"] for r in depts.values()) / dept_n if dept_n else None
        )
        sufficient = n >= min_n and dept_n >= min_n
        out.append(
            {
                "kind": kind,
                "terms": sorted({r["term"] for r in mine}, reverse=True),
                "n": n,
                "mean": mean,
                "insufficient": n < min_n,
                "dept_n": dept_n,
                "dept_mean": dept_mean,
                "diff": mean - dept_mean if sufficient and dept_mean is not None else None,
            }
        )
    return out


def min_n_by_term(session: Session, *, default: int) -> dict[int, int]:
    """The MIN_N each term's latest successful run used: the stored flags follow it."""
    latest = (
        select(func.max(AggregationRun.id))
        .where(AggregationRun.status == RunStatus.SUCCEEDED.value)
        .group_by(col(AggregationRun.term_id))
    )
    runs = session.exec(select(AggregationRun).where(col(AggregationRun.id).in_(latest))).all()
    return {run.term_id: run_min_n(run, default) for run in runs}


#: The latest terms a teacher's pooled figures cover (two academic years).
POOLED_TERMS = 4


def teacher_dashboard(session: Session, *, user: User, min_n: int) -> TeacherDashboard:
    page = feedback_on_teacher(session, user=user, page=1, per_page=LATEST)
    terms = mine_against_department(session, user=user, min_n=min_n)
    return TeacherDashboard(
        latest=page.items,
        total=page.total,
        terms=terms,
        pooled=pooled(terms, terms=POOLED_TERMS, min_n=min_n),
        pooled_terms=POOLED_TERMS,
    )
