"""Heads', deans' and school leaders' dashboard: each top unit's term KPIs and flagged children.

For the units where the user may read reports (``top_units`` with VIEW_REPORTS:
a dean's college, a head's department, a leader's or admin's school), from the
latest aggregated term: records by kind, the overall mean with its spread and
its change on the previous term, coverage, and the children one level down
that carry flags, each with the reasons (in the reader's language) and a link to
drill down; when each unit's PDF report of the term was last rendered; and the
problems and actions still to do at and below each unit (any term). Eight queries
whatever the number of units, children or records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, text
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, top_units
from evalsys.accounts.models import User
from evalsys.aggregation.flags import flag_name, flag_text
from evalsys.aggregation.models import ALL_KINDS, OVERALL, RESULT_KINDS, AggregationRun
from evalsys.aggregation.read import BAND_LABELS, BAND_NAMES
from evalsys.aggregation.row import BANDS
from evalsys.aggregation.service import last_run
from evalsys.aggregation.summary import run_min_n, terms_with_results
from evalsys.clock import local_today
from evalsys.feedback.vocab import KIND_NAMES, name_of
from evalsys.org.models import OrgUnit, Term
from evalsys.org.terms import previous_term

#: At most this many units get a panel (the rest are named, with links).
MAX_UNITS = 5
#: Reasons shown per flagged child.
MAX_REASONS = 3

_KPIS = f"""
SELECT r.unit_id, r.kind, r.n, r.observers, r.mean, r.sd, r.median, r.insufficient,
       r.prev_mean, r.prev_change, r.parent_diff,
       r.band_fail, r.band_pass, r.band_fair, r.band_good, r.band_excellent,
       cv.sections, cv.sections_spot, cv.sections_open, cv.teachers, cv.teachers_spot,
       cv.tutor_groups, cv.tutor_groups_reported
FROM aggregate_result r
LEFT JOIN aggregate_coverage cv
       ON cv.term_id = r.term_id AND cv.level = r.level AND cv.unit_id = r.unit_id
WHERE r.term_id = :term_id AND r.level IN ('school', 'college', 'department')
  AND r.unit_id IN :unit_ids AND r.dimension = '{OVERALL}'
"""

_LOOP_COUNTS = """
SELECT cl.ancestor_id AS unit_id,
       COUNT(DISTINCT CASE WHEN p.status = 'proposed' THEN p.id END) AS proposed,
       COUNT(DISTINCT CASE WHEN p.status IN ('open', 'in_progress') THEN p.id END) AS open,
       COUNT(DISTINCT CASE WHEN a.status IN ('open', 'in_progress') THEN a.id END) AS actions,
       COUNT(DISTINCT CASE WHEN a.status IN ('open', 'in_progress') AND a.due_date < :today
                           THEN a.id END) AS overdue
FROM org_unit_closure cl
JOIN loop_problem p ON p.unit_id = cl.descendant_id
LEFT JOIN loop_action a ON a.problem_id = p.id
WHERE cl.ancestor_id IN :unit_ids
GROUP BY cl.ancestor_id
"""

_FLAGGED_CHILDREN = f"""
SELECT r.parent_id, r.level, r.unit_code, COALESCE(ou.name, c.title) AS name,
       COALESCE(ou.name_en, c.title_en) AS name_en,
       r.n, r.mean, r.insufficient, f.flag, f.kind, f.dimension, f.reason,
       f.value, f.threshold, fr.n AS flag_n, fr.mean AS flag_mean,
       fr.prev_mean AS flag_prev_mean, fr.parent_mean AS flag_parent_mean
FROM aggregate_flag f
JOIN aggregate_result r
  ON r.term_id = f.term_id AND r.level = f.level AND r.unit_id = f.unit_id
 AND r.kind = '{ALL_KINDS}' AND r.dimension = '{OVERALL}'
JOIN aggregate_result fr
  ON fr.term_id = f.term_id AND fr.level = f.level AND fr.unit_id = f.unit_id
 AND fr.kind = f.kind AND fr.dimension = f.dimension
LEFT JOIN org_unit ou ON r.level IN ('department', 'college', 'school') AND ou.id = r.unit_id
LEFT JOIN course c ON r.level = 'course' AND c.id = r.unit_id
WHERE f.term_id = :term_id AND r.parent_level IN ('school', 'college', 'department')
  AND r.parent_id IN :unit_ids
ORDER BY r.unit_code, f.dimension <> '{OVERALL}', f.kind <> '{ALL_KINDS}', f.kind, f.dimension
"""


@dataclass
class UnitPanel:
    unit: OrgUnit
    #: The overall row of all kinds together: n, mean, sd, median, change, bands...
    overall: dict[str, Any] | None
    #: (kind label, n, mean, insufficient) per kind of feedback that has records.
    by_kind: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] | None = None
    flagged: list[dict[str, Any]] = field(default_factory=list)
    #: Problems and actions at and below the unit, any term: proposed, open, actions
    #: open and overdue (the loop's work still to do).
    loop: dict[str, int] = field(default_factory=dict)
    #: When the unit's PDF report of the term was last rendered (None: not yet).
    report_at: datetime | None = None


@dataclass
class LeaderDashboard:
    term: Term | None
    run: AggregationRun | None
    min_n: int
    panels: list[UnitPanel] = field(default_factory=list)
    #: Units beyond MAX_UNITS: named, with a link, without figures.
    more: list[OrgUnit] = field(default_factory=list)
    #: The score bands' labels, lowest first (as the overall's ``bands`` counts).
    band_labels: list[str] = field(default_factory=lambda: [BAND_LABELS[b] for b in BANDS])
    #: The bands' names in the reader's language, in the same order.
    band_names: list[str] = field(default_factory=lambda: [str(BAND_NAMES[b]) for b in BANDS])


def leader_dashboard(
    session: Session, *, user: User, min_n: int, today: date | None = None
) -> LeaderDashboard | None:
    """None when the user may read no unit's reports."""
    today = today or local_today()
    tops = top_units(session, user, Perm.VIEW_REPORTS)
    if not tops:
        return None
    terms = terms_with_results(session)
    if not terms:
        return LeaderDashboard(term=None, run=None, min_n=min_n, more=tops)
    term = terms[0]
    # Ignored below: a stored row's id, never None.
    run = last_run(session, term.id, succeeded=True)  # type: ignore[arg-type]
    shown, more = tops[:MAX_UNITS], tops[MAX_UNITS:]
    board = LeaderDashboard(term=term, run=run, min_n=run_min_n(run, min_n), more=more)
    ids = [u.id for u in shown]
    params = {"term_id": term.id, "unit_ids": ids}
    codes = {u.id: u.code for u in shown}
    prev = previous_term(session, term)
    kpis: dict[int, dict[str, dict[str, Any]]] = {}
    for row in session.execute(
        text(_KPIS).bindparams(bindparam("unit_ids", expanding=True)), params
    ).mappings():
        kpis.setdefault(row["unit_id"], {})[row["kind"]] = dict(row)
    flagged: dict[int, dict[str, dict[str, Any]]] = {}
    for row in session.execute(
        text(_FLAGGED_CHILDREN).bindparams(bindparam("unit_ids", expanding=True)), params
    ).mappings():
        children = flagged.setdefault(row["parent_id"], {})
        child = children.setdefault(
            row["unit_code"],
            {
                "level": row["level"],
                "code": row["unit_code"],
                "name": row["name"],
                "name_en": row["name_en"],
                "n": row["n"],
                "mean": row["mean"],
                "insufficient": bool(row["insufficient"]),
                "count": 0,
                "reasons": [],
            },
        )
        child["count"] += 1
        if len(child["reasons"]) < MAX_REASONS:
            reason = {
                "flag": row["flag"],
                "kind": row["kind"],
                "dimension": row["dimension"],
                "value": row["value"],
                "threshold": row["threshold"],
                "reason": row["reason"],
                "n": row["flag_n"],
                "mean": row["flag_mean"],
                "prev_term": prev.code if prev else None,
                "prev_mean": row["flag_prev_mean"],
                "parent_code": codes.get(row["parent_id"]),
                "parent_mean": row["flag_parent_mean"],
            }
            reason["name"] = flag_name(row["flag"])
            reason["text"] = flag_text(reason)
            child["reasons"].append(reason)
    loop = {
        row["unit_id"]: {k: int(row[k]) for k in ("proposed", "open", "actions", "overdue")}
        for row in session.execute(
            text(_LOOP_COUNTS).bindparams(bindparam("unit_ids", expanding=True)),
            {"unit_ids": ids, "today": today},
        ).mappings()
    }
    # Ignored below: a stored row's id, never None.
    rendered = _rendered(session, term.id, ids)  # type: ignore[arg-type]
    for unit in shown:
        rows = kpis.get(unit.id, {})  # type: ignore[arg-type]  # a stored row's id, never None
        overall = rows.get(ALL_KINDS)
        panel = UnitPanel(unit=unit, overall=_overall(overall) if overall else None)
        panel.loop = loop.get(unit.id, {})
        # Ignored below: a stored row's id, never None.
        panel.report_at = rendered.get(unit.id)  # type: ignore[arg-type]
        panel.by_kind = [
            {
                "kind": kind,
                "label": name_of(KIND_NAMES, kind),
                "n": rows[kind]["n"],
                "mean": rows[kind]["mean"],
                "insufficient": bool(rows[kind]["insufficient"]),
            }
            for kind in RESULT_KINDS
            if kind != ALL_KINDS and kind in rows
        ]
        panel.coverage = _coverage(overall) if overall else None
        # Ignored below: a stored row's id, never None.
        children = flagged.get(unit.id, {})  # type: ignore[arg-type]
        panel.flagged = sorted(children.values(), key=lambda c: (-c["count"], c["code"]))
        board.panels.append(panel)
    return board


def _rendered(session: Session, term_id: int, unit_ids: list[int]) -> dict[int, datetime]:
    """When each unit's PDF report of the term was last rendered (one query)."""
    from evalsys.reports.models import Report

    stmt = (
        select(Report.unit_id, func.max(Report.generated_at))
        .where(Report.term_id == term_id, col(Report.unit_id).in_(unit_ids))
        .group_by(col(Report.unit_id))
    )
    return {unit_id: at for unit_id, at in session.exec(stmt).all()}


def _overall(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": row["n"],
        "observers": row["observers"],
        "mean": row["mean"],
        "sd": row["sd"],
        "median": row["median"],
        "insufficient": bool(row["insufficient"]),
        "prev_mean": row["prev_mean"],
        "prev_change": row["prev_change"],
        "bands": [row[f"band_{band}"] for band in BANDS],
    }


def _share(part: int | None, total: int | None) -> dict[str, Any] | None:
    if not total:
        return None
    part = part or 0
    return {"part": part, "total": total, "percent": 100.0 * part / total}


def _coverage(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "spot": _share(row["sections_spot"], row["sections"]),
        "open": _share(row["sections_open"], row["sections"]),
        "teachers": _share(row["teachers_spot"], row["teachers"]),
        "groups": _share(row["tutor_groups_reported"], row["tutor_groups"]),
    }
