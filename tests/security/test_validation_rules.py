"""One rule per kind of value (evalsys/validation.py), and the probes of issue 13 that broke it.

Each probe here gave a 500 on PostgreSQL (NUL in text, integers beyond 32 bits) or
on both databases (a 400-digit score) before the shared rules; the same value is
now refused with the same words by the web form, the API and the import.
"""

from __future__ import annotations

import math

import pytest
from flask import Flask
from sqlmodel import Session, func, select

from evalsys.feedback.models import Feedback
from evalsys.validation import (
    MAX_COUNT,
    MAX_INT,
    storable,
    text_problem,
    to_int,
    to_number,
)
from tests.conftest import Cli
from tests.factories import Factory
from tests.fixtures.security_world import VISIT, SecurityWorld, spot_check

# --- the rules themselves -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("讲解清楚，互动偏少", True),
        ("tab\there\nnew line\r\n", True),
        ("\u202etxt.exe", True),  # shown escaped wherever it appears
        ("a\x00b", False),
        ("bell\x07", False),
        ("esc\x1b[2J", False),
        ("del\x7f", False),
        ("\ud800", False),
    ],
)
def test_text(text, ok):
    assert storable(text) is ok
    assert (text_problem(text) is None) is ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        (" 7 ", 7),
        (42, 42),
        (3.0, 3),
        ("", None),
        (None, None),
        ("0", 0),
        ("-0", 0),
        (str(MAX_INT), MAX_INT),
    ],
)
def test_whole_numbers(value, expected):
    assert to_int(value) == expected


@pytest.mark.parametrize(
    "value",
    ["1" + "0" * 400, str(MAX_INT + 1), "-1", "1e3", "NaN", "4.5", True, 4.5, [], "四十"],
)
def test_whole_numbers_refused(value):
    with pytest.raises(ValueError):
        to_int(value)


@pytest.mark.parametrize(
    "value", ["1" + "0" * 400, 10**400, "1e999", "NaN", "inf", "-inf", float("nan"), True, "x"]
)
def test_numbers_refused(value):
    with pytest.raises(ValueError):
        to_number(value)


def test_numbers():
    assert to_number("8.5") == 8.5
    assert to_number(7) == 7.0
    assert to_number("-0") == 0 and math.copysign(1, to_number("-0")) == -1  # a number, kept
    assert to_number("") is None


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/units/%00",
        "/loop/units/%00",
        "/planner/terms/%00",
        "/reports/%00/CS-SE.html",
        "/reports/2026-2027-1/%01.html",
        "/feedback/99999999999999999999",
        "/loop/problems/4294967296",
    ],
)
def test_unwritable_path_values_are_not_found(app: Flask, sworld: SecurityWorld, path: str):
    client = app.test_client()
    client.post("/login", data={"username": "root", "password": Factory.PASSWORD})
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/feedback/?teacher=%00", "teacher"),
        ("/feedback/sections?kind=spot_check&q=%00", "q"),
        ("/admin/audit/?q=a%00b", "q"),
        ("/units/CS-SE/statistics.csv?term=%00", "term"),
        ("/feedback/mine?page=" + "9" * 400, None),  # a page beyond any list: the first one
    ],
)
def test_unwritable_query_values_are_refused_by_name(
    app: Flask, sworld: SecurityWorld, path: str, name: str | None
):
    client = app.test_client()
    client.post("/login", data={"username": "root", "password": Factory.PASSWORD})
    response = client.get(path)
    if name is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"({name})" in page and "Bad address" in page


def test_api_query_values_are_refused_with_json(app: Flask, sworld: SecurityWorld):
    token = sworld.tokens["root"]
    response = app.test_client().get(
        "/api/v1/feedback?kind=a%00b", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "kind"


def test_login_with_nul_username_is_a_form_error(app: Flask, sworld: SecurityWorld):
    response = app.test_client().post("/login", data={"username": "a\x00b", "password": "x"})
    assert response.status_code == 400
    assert "contains a control character" in response.get_data(as_text=True)


# --- one field, three paths, one answer -----------------------------------------------------


def _count(session: Session) -> int:
    session.rollback()
    return session.exec(select(func.count()).select_from(Feedback)).one()


def _form(session: Session, world: SecurityWorld, **changes: str) -> dict[str, str]:
    data = spot_check(session, world.inside_section.code)
    form = {
        "section": data.section or "",
        "date": VISIT.isoformat(),
        "announced": "false",
        "enrolled": "40",
        "present": "36",
        "late": "2",
        "strengths": "讲解清楚",
        "problems": "互动偏少",
        "send": "1",
        "idempotency_key": "k-" + "-".join(sorted(changes)),
    }
    form.update({f"scores-{code}": str(int(v)) for code, v in data.scores.items()})
    form.update(changes)
    return form


@pytest.fixture
def supervisor(app: Flask, sworld: SecurityWorld):
    client = app.test_client()
    client.post("/login", data={"username": "supervisor", "password": Factory.PASSWORD})
    return client


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("enrolled", "1" + "0" * 49, "must be at most 100000"),
        ("strengths", "a\x00b", "contains a control character"),
        ("location", "\x1b[2J", "contains a control character"),
    ],
)
def test_web_form_refuses_and_keeps_what_was_typed(
    app: Flask, session: Session, sworld: SecurityWorld, supervisor, field, value, message
):
    before = _count(session)
    response = supervisor.post(
        "/feedback/new/spot_check", data=_form(session, sworld, **{field: value})
    )
    page = response.get_data(as_text=True)
    assert response.status_code in (400, 422), response.status_code
    assert message in page
    assert "互动偏少" in page  # the rest of what was typed is still there
    assert _count(session) == before


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("enrolled", "1" + "0" * 49, "must be at most 100000"),
        ("scores", None, "must be a number"),
        ("strengths", '"a\\u0000b"', "contains a control character"),
        ("strengths", '"\\ud800"', ""),
    ],
)
def test_api_refuses_with_the_same_words(
    app: Flask, session: Session, sworld: SecurityWorld, field, raw, message
):
    import json

    data = spot_check(session, sworld.inside_section.code).__dict__
    body = {k: v for k, v in data.items() if v is not None}
    body["date"] = VISIT.isoformat()
    code = next(iter(body["scores"]))
    body["scores"][code] = "__SCORE__"
    if field != "scores":
        body[field] = "__VALUE__"
    text = json.dumps(body, ensure_ascii=False)
    text = text.replace('"__SCORE__"', "1" + "0" * 400 if field == "scores" else "8")
    text = text.replace('"__VALUE__"', raw or "")
    before = _count(session)
    response = app.test_client().post(
        "/api/v1/feedback",
        data=text.encode(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {sworld.tokens['supervisor']}"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = response.json["errors"]
    assert any(message in e["message"] for e in errors), errors
    assert _count(session) == before


def test_cli_refuses_control_characters(app: Flask, sworld: SecurityWorld, cli: Cli):
    result = cli("report", "--term", "A\x00B")
    assert result.exit_code == 2
    assert "argument 3 ('A\\x00B') contains a control character" in result.output


def test_counts_are_bounded_in_the_org_import(app: Flask, session: Session, tmp_path):
    """sections.csv: the enrolment is a count like the forms' (at most MAX_COUNT)."""
    from evalsys.importer.service import import_directory

    factory = Factory(session)
    factory.university()
    factory.user("t", "teacher@CS-SE")
    (tmp_path / "terms.csv").write_text(
        "code,name,start_date,end_date\nT1,Term,2026-09-01,2027-01-20\n", encoding="utf-8"
    )
    (tmp_path / "courses.csv").write_text("code,title,department\nC1,Course,CS-SE\n", "utf-8")
    (tmp_path / "sections.csv").write_text(
        f"code,course,term,teacher,enrolled\nS1,C1,T1,t,{MAX_COUNT + 1}\n", encoding="utf-8"
    )
    result = import_directory(session, tmp_path)
    assert [(e.file, e.row, e.column) for e in result.errors] == [("sections.csv", 2, "enrolled")]
    assert "too large" in result.errors[0].message
