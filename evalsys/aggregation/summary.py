"""A unit's term summary for its page: what needs attention, the figures, the children.

Plain values for the template, read in a fixed number of queries whatever the
size of the unit (the unit's rows, its coverage, its flags, its children's
overall rows with their coverage and flag counts, and the terms to choose from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from evalsys.aggregation.flags import dimension_name, flag_name, flag_text, kind_name
from evalsys.aggregation.models import (
    ALL_KINDS,
    OVERALL,
    RESULT_KINDS,
    AggregateCoverage,
    AggregateFlag,
    AggregateResult,
    AggregationRun,
    RunStatus,
)
from evalsys.aggregation.read import BAND_LABELS, BAND_NAMES
from evalsys.aggregation.row import BANDS
from evalsys.aggregation.service import last_run
from evalsys.feedback.vocab import DIMENSIONS
from evalsys.org.models import Course, OrgUnit, Term
from evalsys.org.terms import previous_term


@dataclass
class Summary:
    term: Term
    terms: list[Term]
    run: AggregationRun | None
    min_n: int
    #: (kind, kind label, [row dicts, 'overall' first]) for the kinds the unit has.
    kinds: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] | None = None
    children: list[dict[str, Any]] = field(default_factory=list)
    band_labels: dict[str, str] = field(default_factory=lambda: dict(BAND_LABELS))
    #: The bands' names (the header cells' titles), in the reader's language.
    band_names: dict[str, str] = field(
        default_factory=lambda: {band: str(BAND_NAMES[band]) for band in BANDS}
    )


def terms_with_results(session: Session) -> list[Term]:
    """Terms that have a successful aggregation, latest first."""
    done = select(AggregationRun.term_id).where(AggregationRun.status == RunStatus.SUCCEEDED.value)
    stmt = select(Term).where(col(Term.id).in_(done)).order_by(col(Term.start_date).desc())
    return list(session.exec(stmt).all())


def unit_summary(
    session: Session, *, level: str, unit_id: int, term_code: str | None, min_n: int
) -> Summary | None:
    """The unit's summary for ``term_code`` (default: the latest term with results).

    None when no term has results yet, or ``term_code`` names none of them.
    """
    terms = terms_with_results(session)
    if not terms:
        return None
    term = next((t for t in terms if t.code == term_code), None) if term_code else terms[0]
    if term is None:
        return None
    assert term.id is not None  # loaded from the database
    run = last_run(session, term.id, succeeded=True)
    summary = Summary(term=term, terms=terms, run=run, min_n=run_min_n(run, min_n))
    rows = session.exec(
        select(AggregateResult).where(
            AggregateResult.term_id == term.id,
            AggregateResult.level == level,
            AggregateResult.unit_id == unit_id,
        )
    ).all()
    by_kind: dict[str, list[dict[str, Any]]] = {}
    by_key = {(row.kind, row.dimension): row for row in rows}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(_figures(row))
    for kind in RESULT_KINDS:
        if kind in by_kind:
            ordered = sorted(by_kind[kind], key=lambda r: _dimension_order(kind, r["dimension"]))
            summary.kinds.append((kind, _kind_title(kind), ordered))
    flags = list(
        session.exec(
            select(AggregateFlag)
            .where(
                AggregateFlag.term_id == term.id,
                AggregateFlag.level == level,
                AggregateFlag.unit_id == unit_id,
            )
            .order_by(col(AggregateFlag.kind), col(AggregateFlag.dimension))
        ).all()
    )
    summary.flags = _flags(session, term, flags, by_key)
    summary.flags.sort(key=lambda f: (f["dimension"] != OVERALL, f["kind"] != ALL_KINDS))
    coverage = session.get(AggregateCoverage, (term.id, level, unit_id))
    summary.coverage = _coverage(coverage) if coverage else None
    summary.children = _children(session, term.id, level, unit_id)
    return summary


def run_min_n(run: AggregationRun | None, default: int) -> int:
    """The MIN_N the shown figures were computed with."""
    if run is not None and isinstance(run.settings, dict) and "min_n" in run.settings:
        return int(run.settings["min_n"])
    return default


def _flags(
    session: Session,
    term: Term,
    flags: list[AggregateFlag],
    results: dict[tuple[str, str], AggregateResult],
) -> list[dict[str, Any]]:
    """The unit's flags, each with its reason in the reader's language (two queries at most)."""
    if not flags:
        return []
    prev = previous_term(session, term)
    some = next(iter(results.values()), None)
    parent_code = None
    if some is not None and some.parent_id is not None:
        model = Course if some.parent_level == "course" else OrgUnit
        parent_code = session.exec(select(model.code).where(model.id == some.parent_id)).first()
    out = []
    for f in flags:
        row = results.get((f.kind, f.dimension))
        values: dict[str, Any] = {
            "flag": f.flag,
            "kind": f.kind,
            "dimension": f.dimension,
            "value": f.value,
            "threshold": f.threshold,
            "reason": f.reason,
            "prev_term": prev.code if prev else None,
            "parent_code": parent_code,
        }
        if row is not None:
            values |= {
                "n": row.n,
                "mean": row.mean,
                "prev_mean": row.prev_mean,
                "parent_mean": row.parent_mean,
            }
        values["name"] = flag_name(f.flag)
        values["text"] = flag_text(values)
        out.append(values)
    return out


def _kind_title(kind: str) -> str:
    return kind_name(kind)


def _dimension_order(kind: str, dimension: str) -> tuple[int, int, str]:
    if dimension == OVERALL:
        return (0, 0, dimension)
    for dims in [DIMENSIONS[kind]] if kind in DIMENSIONS else list(DIMENSIONS.values()):
        if dimension in dims:
            return (1, list(dims).index(dimension), dimension)
    return (2, 0, dimension)


def _dimension_title(dimension: str) -> str:
    return dimension_name(dimension)


def _figures(row: AggregateResult) -> dict[str, Any]:
    return {
        "dimension": row.dimension,
        "title": _dimension_title(row.dimension),
        "n": row.n,
        "observers": row.observers,
        "insufficient": row.insufficient,
        "mean": row.mean,
        "sd": row.sd,
        "median": row.median,
        "minimum": row.minimum,
        "maximum": row.maximum,
        "bands": [getattr(row, f"band_{band}") for band in BANDS],
        "parent_mean": row.parent_mean,
        "parent_diff": row.parent_diff,
        "parent_z": row.parent_z,
        "prev_change": row.prev_change,
        "prev_mean": row.prev_mean,
    }


def _share(part: int, total: int) -> dict[str, Any] | None:
    """A part of a total for the template's ``share`` macro (None: nothing to share)."""
    return {"part": part, "total": total, "percent": 100 * part / total} if total else None


def _coverage(c: AggregateCoverage) -> dict[str, Any]:
    return {
        "sections": c.sections,
        "spot": _share(c.sections_spot, c.sections),
        "open": _share(c.sections_open, c.sections),
        "teachers": c.teachers,
        "teachers_spot": _share(c.teachers_spot, c.teachers),
        "teachers_open": _share(c.teachers_open, c.teachers),
        "tutor_groups": c.tutor_groups,
        "groups": _share(c.tutor_groups_reported, c.tutor_groups),
    }


_CHILDREN = f"""
SELECT r.level, r.unit_id, r.unit_code,
       COALESCE(ou.name, c.title) AS name,
       COALESCE(ou.name_en, c.title_en) AS name_en,
       r.n, r.mean, r.insufficient, r.prev_change,
       cv.sections, cv.sections_spot, cv.tutor_groups, cv.tutor_groups_reported,
       (SELECT COUNT(*) FROM aggregate_flag f
         WHERE f.term_id = r.term_id AND f.level = r.level AND f.unit_id = r.unit_id) AS flags
FROM aggregate_result r
LEFT JOIN aggregate_coverage cv
       ON cv.term_id = r.term_id AND cv.level = r.level AND cv.unit_id = r.unit_id
LEFT JOIN org_unit ou ON r.level IN ('department', 'college', 'school') AND ou.id = r.unit_id
LEFT JOIN course c ON r.level = 'course' AND c.id = r.unit_id
WHERE r.term_id = :term_id AND r.parent_level = :level AND r.parent_id = :unit_id
  AND r.kind = '{ALL_KINDS}' AND r.dimension = '{OVERALL}'
ORDER BY r.unit_code
"""


def _children(session: Session, term_id: int, level: str, unit_id: int) -> list[dict[str, Any]]:
    """The units one level down with their overall figure (all kinds), coverage and flags."""
    rows = session.execute(
        text(_CHILDREN), {"term_id": term_id, "level": level, "unit_id": unit_id}
    ).mappings()
    return [
        {
            "level": r["level"],
            "code": r["unit_code"],
            "name": r["name"],
            "name_en": r["name_en"],
            "n": r["n"],
            "mean": r["mean"],
            "insufficient": bool(r["insufficient"]),
            "prev_change": r["prev_change"],
            "spot": _share(r["sections_spot"] or 0, r["sections"] or 0),
            "groups": _share(r["tutor_groups_reported"] or 0, r["tutor_groups"] or 0),
            "flags": r["flags"],
            "links": r["level"] in ("department", "college", "school"),
        }
        for r in rows
    ]
