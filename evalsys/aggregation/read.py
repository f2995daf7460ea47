"""Reading a term's stored results: export rows, scoped rows for the API, a unit's summary.

Rows are plain dicts (no ORM objects leave this module), ordered top down:
level (school first), unit code, kind (spot check, open class, tutor group,
all), dimension ('overall' first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, text
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, may, scope_ids
from evalsys.accounts.models import User
from evalsys.aggregation.models import (
    LEVELS_TOP_DOWN,
    OVERALL,
    RESULT_KINDS,
    Level,
)
from evalsys.aggregation.service import AggregationError, find_term
from evalsys.org.models import Course, OrgUnit, Section, Term
from evalsys.org.terms import previous_term

BANDS = ("fail", "pass", "fair", "good", "excellent")
#: The bands as shown to people (on the 0-100 scale).
BAND_LABELS = {
    "fail": "< 60",
    "pass": "60–70",
    "fair": "70–80",
    "good": "80–90",
    "excellent": "≥ 90",
}
#: The bands' names for people (the ranges above are the same in every language).
BAND_NAMES = {
    "fail": _l("Fail (below 60)"),
    "pass": _l("Pass (60 to 70)"),
    "fair": _l("Fair (70 to 80)"),
    "good": _l("Good (80 to 90)"),
    "excellent": _l("Excellent (90 and above)"),
}
COVERAGE_FIELDS = (
    "sections",
    "sections_spot",
    "sections_open",
    "teachers",
    "teachers_spot",
    "teachers_open",
    "tutor_groups",
    "tutor_groups_reported",
)

_LEVEL_ORDER = {level.value: i for i, level in enumerate(LEVELS_TOP_DOWN)}
_KIND_ORDER = {kind: i for i, kind in enumerate(RESULT_KINDS)}


class AggregateNotFound(AggregationError):
    """No such term or unit."""


class AggregateForbidden(AggregationError):
    """The user may not see the statistics of that unit."""


@dataclass(frozen=True)
class UnitRef:
    """A unit of any level, found by its code."""

    level: str
    id: int
    code: str
    #: The org unit it lies in (itself, or the department of a course or section).
    org_unit_id: int


def find_unit(session: Session, code: str) -> UnitRef:
    """An org unit, else a course, else a section with this code."""
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is not None:
        return UnitRef(unit.kind, unit.id, unit.code, unit.id)  # type: ignore[arg-type]
    course = session.exec(select(Course).where(Course.code == code)).first()
    if course is not None:
        return UnitRef(Level.COURSE.value, course.id, course.code, course.department_id)  # type: ignore[arg-type]
    row = session.exec(
        select(Section, Course.department_id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.code == code)
    ).first()
    if row is not None:
        section, department_id = row
        return UnitRef(Level.SECTION.value, section.id, section.code, department_id)  # type: ignore[arg-type]
    raise AggregateNotFound(f"no unit, course or section '{code}'")


_ROWS = """
SELECT r.level, r.unit_id, r.unit_code, r.org_unit_id,
       COALESCE(ou.name, c.title, sc.title) AS unit_name,
       r.parent_level, COALESCE(pc.code, pu.code) AS parent_code,
       r.kind, r.dimension, r.n, r.observers, r.mean, r.sd, r.median, r.minimum, r.maximum,
       r.band_fail, r.band_pass, r.band_fair, r.band_good, r.band_excellent, r.insufficient,
       r.parent_mean, r.parent_diff, r.parent_z, r.prev_mean, r.prev_change,
       cv.sections, cv.sections_spot, cv.sections_open, cv.teachers, cv.teachers_spot,
       cv.teachers_open, cv.tutor_groups, cv.tutor_groups_reported
FROM aggregate_result r
LEFT JOIN aggregate_coverage cv
       ON cv.term_id = r.term_id AND cv.level = r.level AND cv.unit_id = r.unit_id
LEFT JOIN org_unit ou ON r.level IN ('department', 'college', 'school') AND ou.id = r.unit_id
LEFT JOIN course c ON r.level = 'course' AND c.id = r.unit_id
LEFT JOIN section s ON r.level = 'section' AND s.id = r.unit_id
LEFT JOIN course sc ON sc.id = s.course_id
LEFT JOIN course pc ON r.parent_level = 'course' AND pc.id = r.parent_id
LEFT JOIN org_unit pu ON r.parent_level IN ('department', 'college', 'school')
                     AND pu.id = r.parent_id
WHERE r.term_id = :term_id
"""


def _unit_filter(unit: UnitRef | None) -> tuple[str, dict[str, Any]]:
    """SQL condition on ``r`` for "this unit and everything below it"."""
    if unit is None:
        return "", {}
    if unit.level == Level.SECTION:
        return " AND r.level = 'section' AND r.unit_id = :unit_id", {"unit_id": unit.id}
    if unit.level == Level.COURSE:
        return (
            " AND ((r.level = 'course' AND r.unit_id = :unit_id)"
            " OR (r.level = 'section' AND r.parent_id = :unit_id))",
            {"unit_id": unit.id},
        )
    return (
        " AND r.org_unit_id IN (SELECT descendant_id FROM org_unit_closure"
        " WHERE ancestor_id = :unit_id)",
        {"unit_id": unit.id},
    )


def result_rows(
    session: Session,
    *,
    term: Term,
    unit: UnitRef | None = None,
    scope: Select | None = None,
) -> list[dict[str, Any]]:
    """The term's results (with coverage, comparisons and flags), optionally below a unit.

    ``scope`` is a subquery of org unit ids (``access.scope_ids``) the rows must lie in.
    """
    where, params = _unit_filter(unit)
    params["term_id"] = term.id
    if scope is not None:
        where += f" AND r.org_unit_id IN ({_inline(session, scope)})"
    raw = session.execute(text(_ROWS + where), params).mappings().all()
    flags = _flags_by_key(session, where, params)
    prev = previous_term(session, term)
    rows = [_shape(r, term.code, prev.code if prev else None, flags) for r in raw]
    rows.sort(key=_order)
    return rows


def _inline(session: Session, scope: Select) -> str:
    """The scope subquery as SQL text, to filter the rows in the database.

    Its only values are a user id and role names (no user input), so they are
    written as literals rather than merged into the text query's parameters.
    """
    compiled = scope.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


_FLAGS = """
SELECT f.level, f.unit_id, f.kind, f.dimension, f.flag, f.value, f.threshold, f.reason
FROM aggregate_flag f
JOIN aggregate_result r
  ON r.term_id = f.term_id AND r.level = f.level AND r.unit_id = f.unit_id
 AND r.kind = f.kind AND r.dimension = f.dimension
WHERE r.term_id = :term_id
"""


def _flags_by_key(
    session: Session, where: str, params: dict[str, Any]
) -> dict[tuple, list[dict[str, Any]]]:
    """The flags of the rows selected by ``where`` (the same unit and scope filter on ``r``)."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for flag in session.execute(text(_FLAGS + where + " ORDER BY f.flag"), params).mappings():
        key = (flag["level"], flag["unit_id"], flag["kind"], flag["dimension"])
        out.setdefault(key, []).append(
            {
                "flag": flag["flag"],
                "value": flag["value"],
                "threshold": flag["threshold"],
                "reason": flag["reason"],
            }
        )
    return out


def _shape(
    r: Any, term_code: str, prev_code: str | None, flags: dict[tuple, list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "term": term_code,
        "level": r["level"],
        "unit_code": r["unit_code"],
        "unit_name": r["unit_name"],
        "parent_level": r["parent_level"],
        "parent_code": r["parent_code"],
        "kind": r["kind"],
        "dimension": r["dimension"],
        "n": r["n"],
        "observers": r["observers"],
        "mean": r["mean"],
        "sd": r["sd"],
        "median": r["median"],
        "min": r["minimum"],
        "max": r["maximum"],
        "bands": {band: r[f"band_{band}"] for band in BANDS},
        "insufficient": bool(r["insufficient"]),
        "parent_mean": r["parent_mean"],
        "parent_diff": r["parent_diff"],
        "parent_z": r["parent_z"],
        "prev_term": prev_code,
        "prev_mean": r["prev_mean"],
        "prev_change": r["prev_change"],
        "coverage": {name: r[name] for name in COVERAGE_FIELDS},
        "flags": flags.get((r["level"], r["unit_id"], r["kind"], r["dimension"]), []),
        "unit_id": r["unit_id"],
    }


def _order(row: dict[str, Any]) -> tuple:
    return (
        _LEVEL_ORDER.get(row["level"], 99),
        row["unit_code"],
        _KIND_ORDER.get(row["kind"], 99),
        row["dimension"] != OVERALL,
        row["dimension"],
    )


def aggregates_for(
    session: Session, *, user: User, term_code: str, unit_code: str | None = None
) -> list[dict[str, Any]]:
    """The term's rows the user may see (Perm.VIEW_REPORTS), at and below ``unit_code``.

    Raises AggregateNotFound for an unknown term or unit, AggregateForbidden when
    the user may not see the unit's statistics. Without a unit: everything in scope.
    """
    try:
        term = find_term(session, term_code)
    except AggregationError as err:
        raise AggregateNotFound(str(err)) from err
    unit = find_unit(session, unit_code) if unit_code else None
    if unit is not None and not may(session, user, Perm.VIEW_REPORTS, unit.org_unit_id):
        raise AggregateForbidden(f"no access to the statistics of '{unit_code}'")
    return result_rows(session, term=term, unit=unit, scope=scope_ids(user, Perm.VIEW_REPORTS))
