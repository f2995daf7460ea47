"""A report's reads of the stored results (read.results_below, read.overall_trend): the same
rows the export and the API read, found another way, and a unit's overall mean over terms."""

from __future__ import annotations

import pytest

from evalsys.aggregation import read, service
from evalsys.aggregation.models import ALL_KINDS, OVERALL


@pytest.fixture
def aggregated(uni, session):
    service.aggregate_term(session, term=uni.terms["T1"].code)
    service.aggregate_term(session, term=uni.terms["T2"].code)
    return uni


def _key(row):
    return (row["level"], row["unit_code"], row["kind"], row["dimension"])


@pytest.mark.parametrize(
    ("unit", "levels"),
    [("CS", ["college", "department", "course"]), ("CS-SE", ["department", "course", "section"])],
)
def test_results_below_a_unit_are_the_exported_rows(aggregated, session, unit, levels):
    """Both reads name the same results with the same figures, coverage and flags; the
    report's has no term codes (it knows its term) and carries the English name."""
    term = aggregated.terms["T2"]
    org = aggregated.units[unit]
    below = read.results_below(session, term_id=term.id, unit_id=org.id, levels=levels)
    exported = [
        r
        for r in read.result_rows(session, term=term, unit=read.find_unit(session, unit))
        if r["level"] in levels
    ]
    assert {r["level"] for r in below} == set(levels)
    assert len(below) == len(exported)
    by_key = {_key(r): r for r in exported}
    for row in below:
        same = by_key[_key(row)]
        assert {k: v for k, v in same.items() if k not in ("term", "prev_term")} == {
            k: v for k, v in row.items() if k != "unit_name_en"
        }
    assert any(r["flags"] for r in below)


def test_results_below_leave_out_other_units_and_levels(aggregated, session):
    term = aggregated.terms["T2"]
    rows = read.results_below(
        session, term_id=term.id, unit_id=aggregated.units["CS-AI"].id, levels=["course"]
    )
    assert {r["unit_code"] for r in rows} == {"AI1", "AI2"}


def test_overall_trend_of_a_unit_and_its_children(aggregated, session):
    t1, t2 = aggregated.terms["T1"], aggregated.terms["T2"]
    cs = aggregated.units["CS"]
    rows = read.overall_trend(
        session, unit_id=cs.id, level="college", child_level="department", start=t2.start_date
    )
    terms = [r["term"] for r in rows]
    assert terms == sorted(terms, key=[t1.code, t2.code].index)  # oldest term first
    assert {(r["term"], r["level"], r["unit_code"]) for r in rows} == {
        (t.code, level, code)
        for t in (t1, t2)
        for level, code in (("college", "CS"), ("department", "CS-SE"), ("department", "CS-AI"))
    }
    # The figures are the stored overall results (all kinds) of those terms.
    for term in (t1, t2):
        stored = {
            _key(r): r
            for r in read.result_rows(session, term=term, unit=read.find_unit(session, "CS"))
        }
        for r in (r for r in rows if r["term"] == term.code):
            same = stored[(r["level"], r["unit_code"], ALL_KINDS, OVERALL)]
            assert (r["n"], r["mean"], r["insufficient"]) == (
                same["n"],
                same["mean"],
                same["insufficient"],
            )
    # Terms that start later are not part of the trend.
    early = read.overall_trend(
        session, unit_id=cs.id, level="college", child_level="department", start=t1.start_date
    )
    assert {r["term"] for r in early} == {t1.code}
