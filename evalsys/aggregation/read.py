"""Reading a term's stored results: export rows, scoped rows for the API, a unit's summary,
a report's results and trend. The pages, exports, API and reports read the results
(``aggregate_result`` with its coverage and flags) through here, so a column is named once.

Rows are plain dicts (no ORM objects leave this module), ordered top down:
level (school first), unit code, kind (spot check, open class, tutor group,
all), dimension ('overall' first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, text
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, may, scope_ids
from evalsys.accounts.models import User
from evalsys.aggregation.models import (
    ALL_KINDS,
    LEVELS_TOP_DOWN,
    OVERALL,
    RESULT_KINDS,
    Level,
)
from evalsys.aggregation.row import BANDS, COVERAGE_FIELDS, ROW_FIELDS
from evalsys.aggregation.service import AggregationError, find_term
from evalsys.org.models import Course, OrgUnit, Section, Term
from evalsys.org.terms import previous_term

# ROW_FIELDS, BANDS and COVERAGE_FIELDS (imported above) are the fields of a row in order,
# from the one model of a row (evalsys.aggregation.row.AggregateRow): the rows read here,
# the CSV columns (evalsys.aggregation.export.CSV_FIELDS) and the API's schema follow it.

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
assert tuple(BAND_LABELS) == tuple(BAND_NAMES) == BANDS, "a band without its label or name"

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
    # Rows read from the database: their ids are set, where the types say int | None.
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


#: A result with its coverage and the names of its unit and parent. The FROM clause is the
#: caller's: the whole term (:func:`result_rows`) or the units below one (:func:`results_below`).
_COLUMNS = """
SELECT r.level, r.unit_id, r.unit_code, r.org_unit_id,
       COALESCE(ou.name, c.title, sc.title) AS unit_name,
       COALESCE(ou.name_en, c.title_en, sc.title_en) AS unit_name_en,
       r.parent_level, COALESCE(pc.code, pu.code) AS parent_code,
       r.kind, r.dimension, r.n, r.observers, r.mean, r.sd, r.median, r.minimum, r.maximum,
       r.band_fail, r.band_pass, r.band_fair, r.band_good, r.band_excellent, r.insufficient,
       r.parent_mean, r.parent_diff, r.parent_z, r.prev_mean, r.prev_change,
       cv.sections, cv.sections_spot, cv.sections_open, cv.teachers, cv.teachers_spot,
       cv.teachers_open, cv.tutor_groups, cv.tutor_groups_reported
"""
_JOINS = """
LEFT JOIN aggregate_coverage cv
       ON cv.term_id = r.term_id AND cv.level = r.level AND cv.unit_id = r.unit_id
LEFT JOIN org_unit ou ON r.level IN ('department', 'college', 'school') AND ou.id = r.unit_id
LEFT JOIN course c ON r.level = 'course' AND c.id = r.unit_id
LEFT JOIN section s ON r.level = 'section' AND s.id = r.unit_id
LEFT JOIN course sc ON sc.id = s.course_id
LEFT JOIN course pc ON r.parent_level = 'course' AND pc.id = r.parent_id
LEFT JOIN org_unit pu ON r.parent_level IN ('department', 'college', 'school')
                     AND pu.id = r.parent_id
"""
_ROWS = _COLUMNS + "FROM aggregate_result r" + _JOINS + "WHERE r.term_id = :term_id"


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
    flags = _flags_by_key(session, _FLAGS + where + " ORDER BY f.flag", params)
    prev = previous_term(session, term)
    prev_code = prev.code if prev else None
    rows = [_shape(_figures(r, flags), term=term.code, prev_term=prev_code) for r in raw]
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
    session: Session, sql: str, params: dict[str, Any]
) -> dict[tuple, list[dict[str, Any]]]:
    """The flags ``sql`` selects, by the key of their result (level, unit, kind, dimension)."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for flag in session.execute(text(sql), params).mappings():
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


def _figures(r: Any, flags: dict[tuple, list[dict[str, Any]]]) -> dict[str, Any]:
    """A stored result as a dict: every figure, its coverage and its flags, by name."""
    return {
        "level": r["level"],
        "unit_id": r["unit_id"],
        "unit_code": r["unit_code"],
        "unit_name": r["unit_name"],
        "unit_name_en": r["unit_name_en"],
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
        "prev_mean": r["prev_mean"],
        "prev_change": r["prev_change"],
        "coverage": {name: r[name] for name in COVERAGE_FIELDS},
        "flags": flags.get((r["level"], r["unit_id"], r["kind"], r["dimension"]), []),
    }


def _shape(figures: dict[str, Any], *, term: str, prev_term: str | None) -> dict[str, Any]:
    """The row as exports and the API give it: :data:`ROW_FIELDS` in order, then the
    internal ``unit_id`` (:func:`evalsys.aggregation.export.public_rows` drops it)."""
    values = {**figures, "term": term, "prev_term": prev_term}
    return {**{name: values[name] for name in ROW_FIELDS}, "unit_id": figures["unit_id"]}


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


# --- a report's reads ----------------------------------------------------------------------

#: The (level, unit id) of every result at or below the org unit :unit_id: the units, their
#: courses and the term's sections. Results are then looked up through their primary key
#: (term, level, unit id), not by scanning every course and section result of the term.
_WANTED = """
WITH wanted(level, unit_id) AS (
    SELECT ou2.kind, cl.descendant_id FROM org_unit_closure cl
    JOIN org_unit ou2 ON ou2.id = cl.descendant_id WHERE cl.ancestor_id = :unit_id
  UNION ALL
    SELECT 'course', c2.id FROM org_unit_closure cl
    JOIN course c2 ON c2.department_id = cl.descendant_id WHERE cl.ancestor_id = :unit_id
  UNION ALL
    SELECT 'section', s2.id FROM org_unit_closure cl
    JOIN course c3 ON c3.department_id = cl.descendant_id
    JOIN section s2 ON s2.course_id = c3.id AND s2.term_id = :term_id
    WHERE cl.ancestor_id = :unit_id
)
"""
_BELOW = (
    _WANTED
    + _COLUMNS
    + "FROM wanted w CROSS JOIN aggregate_result r"
    + _JOINS
    + """WHERE w.level IN ({levels})
  AND r.term_id = :term_id AND r.level = w.level AND r.unit_id = w.unit_id
"""
)
_FLAGS_BELOW = (
    _WANTED
    + """
SELECT f.level, f.unit_id, f.kind, f.dimension, f.flag, f.value, f.threshold, f.reason
FROM wanted w
CROSS JOIN aggregate_flag f
WHERE w.level IN ({levels})
  AND f.term_id = :term_id AND f.level = w.level AND f.unit_id = w.unit_id
ORDER BY f.flag
"""
)


def results_below(
    session: Session, *, term_id: int, unit_id: int, levels: Sequence[str]
) -> list[dict[str, Any]]:
    """The term's results of the given levels at and below an org unit, with their coverage,
    names (``unit_name_en`` too) and flags, in no particular order: two queries.

    A report's read: the rows of :func:`result_rows` without the term codes (the report
    knows its term), found through the results' primary key.
    """
    marks = ", ".join(f":l{i}" for i in range(len(levels)))
    params: dict[str, Any] = {"term_id": term_id, "unit_id": unit_id}
    params |= {f"l{i}": level for i, level in enumerate(levels)}
    raw = session.execute(text(_BELOW.format(levels=marks)), params).mappings().all()
    flags = _flags_by_key(session, _FLAGS_BELOW.format(levels=marks), params)
    return [_figures(r, flags) for r in raw]


#: The overall mean (all kinds) of a unit and of its children, in every term up to :start:
#: the unit through the primary key, the children through the partial index on their parent.
_TREND = f"""
SELECT t.code AS term, t.start_date, r.level, r.unit_code, r.n, r.mean, r.insufficient
FROM term t JOIN aggregate_result r ON r.term_id = t.id
WHERE t.start_date <= :start AND r.level = :l1 AND r.unit_id = :unit_id
  AND r.kind = '{ALL_KINDS}' AND r.dimension = '{OVERALL}'
UNION ALL
SELECT t.code AS term, t.start_date, r.level, r.unit_code, r.n, r.mean, r.insufficient
FROM term t JOIN aggregate_result r ON r.term_id = t.id
WHERE t.start_date <= :start AND r.parent_level = :l1 AND r.parent_id = :unit_id
  AND r.level = :l2 AND r.kind = '{ALL_KINDS}' AND r.dimension = '{OVERALL}'
ORDER BY start_date
"""


def overall_trend(
    session: Session, *, unit_id: int, level: str, child_level: str | None, start: date
) -> list[dict[str, Any]]:
    """The overall result (all kinds) of a unit and of its children of ``child_level`` in
    every term that starts by ``start``, oldest term first: one query.

    Each row: term (code), start_date, level, unit_code, n, mean, insufficient.
    """
    params = {"unit_id": unit_id, "l1": level, "l2": child_level, "start": start}
    rows = session.execute(text(_TREND), params).mappings().all()
    return [{**r, "insufficient": bool(r["insufficient"])} for r in rows]
