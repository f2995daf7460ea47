"""GET /api/v1/aggregates: the export's rows, within the caller's scope only."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from evalsys.accounts.models import AuditEvent, User
from evalsys.aggregation import service

URL = "/api/v1/aggregates"


@pytest.fixture
def aggregated(uni, session):
    service.aggregate_term(session, term=uni.terms["T1"].code)
    service.aggregate_term(session, term=uni.terms["T2"].code)
    f = uni.factory
    f.user("dean", "dean@CS")
    f.user("mdean", "dean@MATH")
    f.user("head", "head@CS-AI")
    f.user("boss", "admin@U")
    f.user("teach", "teacher@CS-SE")
    session.commit()
    return uni


def exported(cli, term: str, unit: str | None = None) -> dict:
    args = ["export", "aggregates", "--term", term, "--format", "json"]
    result = cli(*args, *(["--unit", unit] if unit else []))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("user", "unit"),
    [("boss", None), ("boss", "MATH"), ("dean", "CS"), ("dean", "SE1"), ("head", "CS-AI")],
)
def test_rows_are_the_exports_rows(api, cli, aggregated, user, unit):
    term = aggregated.terms["T2"].code
    query = {"term": term} | ({"unit": unit} if unit else {})
    response = api.as_(user).get(URL, query_string=query)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    expected = exported(cli, term, unit)
    assert body == expected  # the same rows, term, unit and run, value for value
    assert body["rows"], "the generated university has rows in every unit used here"


def test_a_dean_sees_their_college_only(api, cli, aggregated):
    term = aggregated.terms["T2"].code
    rows = api.as_("dean").get(URL, query_string={"term": term}).get_json()["rows"]
    # Without a unit: the whole college, no school row, nothing of MATH or ART.
    assert rows == exported(cli, term, "CS")["rows"]
    org = {r["unit_code"] for r in rows if r["level"] in ("school", "college", "department")}
    assert org == {"CS", "CS-SE", "CS-AI"}
    math_courses = {"MP1", "MP2", "AD1"}
    assert not {r["unit_code"] for r in rows} & math_courses
    assert not any(r["unit_code"].startswith(("T2-MP", "T2-AD")) for r in rows)


@pytest.mark.parametrize("unit", ["MATH", "MATH-PURE", "MP1", "U", "ART-DES"])
def test_a_dean_of_cs_gets_403_on_other_units(api, aggregated, unit):
    term = aggregated.terms["T2"].code
    response = api.as_("dean").get(URL, query_string={"term": term, "unit": unit})
    assert response.status_code == 403
    assert response.get_json() == {
        "error": f"the statistics of '{unit}' are outside your scope",
        "status": 403,
    }


def test_a_math_section_is_outside_a_cs_dean_scope(api, aggregated):
    term = aggregated.terms["T2"]
    code = next(c for c, s in aggregated.sections.items() if c.startswith("T2-MP"))
    response = api.as_("dean").get(URL, query_string={"term": term.code, "unit": code})
    assert response.status_code == 403
    # ...while the dean of MATH reads exactly that section's rows.
    rows = api.as_("mdean").get(URL, query_string={"term": term.code, "unit": code})
    assert rows.status_code == 200
    assert {(r["level"], r["unit_code"]) for r in rows.get_json()["rows"]} == {("section", code)}


def test_teachers_have_no_statistics(api, aggregated):
    term = aggregated.terms["T2"].code
    mine = api.as_("teach").get(URL, query_string={"term": term})
    assert mine.status_code == 200 and mine.get_json()["rows"] == []
    assert api.get(URL, query_string={"term": term, "unit": "CS-SE"}).status_code == 403


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({}, "term", "required: a term code"),
        ({"term": ""}, "term", "required: a term code"),
        ({"term": "1999-2000-1"}, "term", "there is no term '1999-2000-1'"),
        ({"term": "T2", "unit": "NOPE"}, "unit", "there is no unit, course or section 'NOPE'"),
    ],
)
def test_bad_term_or_unit_is_422_naming_the_field(api, aggregated, query, field, message):
    if query.get("term") == "T2":
        query = query | {"term": aggregated.terms["T2"].code}
    response = api.as_("boss").get(URL, query_string=query)
    assert response.status_code == 422
    assert response.get_json() == {
        "error": "invalid request",
        "status": 422,
        "errors": [{"field": field, "message": message}],
    }


def test_a_term_never_aggregated_is_404(api, aggregated):
    term = aggregated.factory.term("2027-2028-1", date(2027, 9, 1), date(2028, 1, 20))
    response = api.as_("boss").get(URL, query_string={"term": term.code})
    assert response.status_code == 404
    assert "has not been aggregated yet" in response.get_json()["error"]


def test_needs_a_token(client, aggregated):
    response = client.get(URL, query_string={"term": aggregated.terms["T2"].code})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_each_read_is_audited(api, aggregated, session):
    term = aggregated.terms["T2"].code
    api.as_("dean").get(URL, query_string={"term": term, "unit": "CS-AI"})
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "aggregates.read")).one()
    assert event.target == f"{term} CS-AI"
    dean = session.exec(select(User).where(User.username == "dean")).one()
    assert event.user_id == dean.id
