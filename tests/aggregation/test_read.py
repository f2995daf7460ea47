"""Reading results back within a user's scope (what the API endpoint serves)."""

from __future__ import annotations

import pytest

from evalsys.aggregation import read, service


@pytest.fixture
def aggregated(uni, session):
    service.aggregate_term(session, term=uni.terms["T1"].code)
    service.aggregate_term(session, term=uni.terms["T2"].code)
    return uni


def _org_codes(rows, *levels):
    return {r["unit_code"] for r in rows if r["level"] in levels}


def test_a_dean_gets_their_college_and_below_only(aggregated, session):
    dean = aggregated.factory.user("dean", "dean@CS")
    code = aggregated.terms["T2"].code
    rows = read.aggregates_for(session, user=dean, term_code=code)
    assert _org_codes(rows, "school", "college", "department") == {"CS", "CS-SE", "CS-AI"}
    assert {r["level"] for r in rows} == {"college", "department", "course", "section"}
    cs_courses = {c for c in ("SE1", "SE2", "SE3", "AI1", "AI2")}
    assert _org_codes(rows, "course") == cs_courses
    below = read.aggregates_for(session, user=dean, term_code=code, unit_code="CS-AI")
    assert _org_codes(below, "college", "department") == {"CS-AI"}
    assert _org_codes(below, "course") == {"AI1", "AI2"}
    # The dean's rows are the same rows an export of CS holds.
    exported = read.result_rows(
        session, term=aggregated.terms["T2"], unit=read.find_unit(session, "CS")
    )
    assert rows == exported


@pytest.mark.parametrize("unit", ["MATH", "MATH-PURE", "MP1", "U"])
def test_a_dean_may_not_read_other_units(aggregated, session, unit):
    dean = aggregated.factory.user("dean", "dean@CS")
    with pytest.raises(read.AggregateForbidden):
        read.aggregates_for(
            session, user=dean, term_code=aggregated.terms["T2"].code, unit_code=unit
        )


def test_roles_without_reports_see_nothing(aggregated, session):
    teacher = aggregated.factory.user("teach", "teacher@CS-SE")
    code = aggregated.terms["T2"].code
    assert read.aggregates_for(session, user=teacher, term_code=code) == []
    with pytest.raises(read.AggregateForbidden):
        read.aggregates_for(session, user=teacher, term_code=code, unit_code="CS-SE")


def test_unknown_term_or_unit(aggregated, session):
    admin = aggregated.factory.user("boss", "admin@U")
    with pytest.raises(read.AggregateNotFound):
        read.aggregates_for(session, user=admin, term_code="NOPE")
    with pytest.raises(read.AggregateNotFound):
        read.aggregates_for(
            session, user=admin, term_code=aggregated.terms["T2"].code, unit_code="NOPE"
        )


def test_rows_carry_flags_coverage_and_the_previous_term(aggregated, session):
    admin = aggregated.factory.user("boss", "admin@U")
    rows = read.aggregates_for(session, user=admin, term_code=aggregated.terms["T2"].code)
    school = next(
        r
        for r in rows
        if r["level"] == "school" and r["kind"] == "all" and r["dimension"] == "overall"
    )
    assert school["prev_term"] == aggregated.terms["T1"].code
    assert school["coverage"]["sections"] > 0
    assert sum(school["bands"].values()) == school["n"]
    assert any(r["flags"] for r in rows)
    assert rows[0]["level"] == "school"


@pytest.mark.parametrize(
    ("username", "role", "unit"), [("boss", "admin@U", None), ("dean", "dean@CS", "CS-AI")]
)
def test_rows_carry_exactly_their_stored_flags(aggregated, session, username, role, unit):
    from sqlmodel import select

    from evalsys.aggregation.models import AggregateFlag, AggregateResult

    user = aggregated.factory.user(username, role)
    term = aggregated.terms["T2"]
    rows = read.aggregates_for(session, user=user, term_code=term.code, unit_code=unit)
    shown = {
        (r["level"], r["unit_code"], r["kind"], r["dimension"], f["flag"], f["reason"])
        for r in rows
        for f in r["flags"]
    }
    codes = {
        (r.level, r.unit_id): r.unit_code
        for r in session.exec(select(AggregateResult).where(AggregateResult.term_id == term.id))
    }
    in_rows = {(r["level"], r["unit_code"]) for r in rows}
    stored = {
        (f.level, codes[(f.level, f.unit_id)], f.kind, f.dimension, f.flag, f.reason)
        for f in session.exec(select(AggregateFlag).where(AggregateFlag.term_id == term.id))
        if (f.level, codes[(f.level, f.unit_id)]) in in_rows
    }
    assert shown == stored and shown
    if unit is not None:  # nothing of the rest of the school
        assert all(code.startswith(("CS-AI", "AI", "T2-AI")) for _l, code, *_ in shown)
