"""SQL injection in every filter and search parameter; oversized bodies; malformed JSON.

Every query is built with bound parameters, so an injection attempt is just odd
text: it must match nothing (or be refused as an unknown value), never widen a
user's scope, never fail with a 500, and never change a table.
"""

from __future__ import annotations

import io
import json
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from evalsys.feedback.models import Feedback
from tests.factories import Factory
from tests.fixtures.security_world import OUTSIDE, SecurityWorld

INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE feedback; --",
    "CS-SE' UNION SELECT password_hash, 1, 1 FROM user_account --",
    "%' OR username LIKE '%",
    "%",
    "_",
    "\\",
    "1) OR (1=1",
    "MATH-PURE'--",
]


def _counts(session: Session) -> dict[str, int]:
    # A fresh transaction: on SQLite an open one keeps reading its first snapshot.
    session.rollback()
    return {
        t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
        for t in SQLModel.metadata.sorted_tables
        # These grow by design: attempts and logins are recorded, each login has a session.
        if t.name not in ("audit_event", "login_attempt", "user_session")
    }


def _login(app: Flask, username: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": Factory.PASSWORD})
    assert r.status_code == 302
    return client


@pytest.mark.parametrize("payload", INJECTIONS)
def test_web_filters_and_searches(app: Flask, session: Session, sworld: SecurityWorld, payload):
    before = _counts(session)
    dean = _login(app, "dean")
    sup = _login(app, "supervisor")
    p = quote(payload, safe="")
    checks = [
        (dean, f"/feedback/?teacher={p}", True),
        (dean, f"/feedback/?term={p}&unit={p}&kind={p}", False),
        (dean, f"/feedback/?score_min={p}&score_max={p}", False),
        (dean, f"/feedback/?page={p}", False),
        (dean, f"/units/{p}", False),
        (dean, f"/units/CS?term={p}", False),
        (dean, f"/reports/{p}/{p}.pdf", False),
        (sup, f"/feedback/sections?kind=spot_check&q={p}", True),
        (sup, f"/feedback/sections?kind={p}", False),
        (sup, f"/feedback/mine?page={p}", False),
        (_login(app, "root"), f"/admin/audit/?who={p}&q={p}&action={p}&since={p}", False),
    ]
    # The control: without the injection, the searches do find the CS-SE section.
    for client, path in (
        (dean, "/feedback/?teacher=teacher"),
        (sup, "/feedback/sections?kind=spot_check&q=SE101"),
    ):
        assert "SE101-01" in client.get(path).get_data(as_text=True).split("<main", 1)[1]
    for client, path, is_search in checks:
        r = client.get(path)
        assert r.status_code < 500, f"{path}: {r.status_code}"
        page = r.get_data(as_text=True)
        assert OUTSIDE not in page, f"{path}: shows what is outside the user's scope"
        assert "scrypt:" not in page  # no password hash came back through a UNION
        if is_search and payload not in ("%", "_", "\\"):
            # Matches nothing: no such teacher, section or course.
            assert "SE101-01" not in page.split("<main", 1)[1].split("<form", 2)[-1], path
    # LIKE wildcards are literal characters, not "everything".
    if payload in ("%", "_"):
        assert "No submitted feedback" in dean.get(f"/feedback/?teacher={p}").get_data(as_text=True)
    assert _counts(session) == before


@pytest.mark.parametrize("payload", INJECTIONS)
def test_api_query_parameters(app: Flask, session: Session, sworld: SecurityWorld, payload):
    before = _counts(session)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {sworld.tokens['dean']}"}
    baseline = client.get("/api/v1/feedback", headers=headers).get_json()["total"]
    assert baseline == 1  # the dean sees the CS record only
    for name in ("term", "unit", "kind", "status", "page", "per_page"):
        r = client.get("/api/v1/feedback", query_string={name: payload}, headers=headers)
        assert r.status_code == 422 and r.is_json, (name, r.status_code)
        assert any(e["field"] == name for e in r.get_json()["errors"])
    r = client.get(f"/api/v1/feedback/{quote(payload, safe='')}", headers=headers)
    assert r.status_code == 404 and r.is_json
    r = client.get("/api/v1/rubrics", query_string={"kind": payload}, headers=headers)
    assert r.status_code == 422
    # A token that is an injection is just an unknown token.
    r = client.get("/api/v1/feedback", headers={"Authorization": f"Bearer evs_{payload}"})
    assert r.status_code == 401
    assert _counts(session) == before


def test_login_username_injection(app: Flask, session: Session, sworld: SecurityWorld):
    for payload in INJECTIONS[:5]:
        r = app.test_client().post(
            "/login", data={"username": payload, "password": payload + "x" * 8}
        )
        assert r.status_code == 401, payload
        r = app.test_client().post(
            "/login", data={"username": "dean' --", "password": Factory.PASSWORD}
        )
        assert r.status_code == 401


# --- sizes and malformed bodies ---------------------------------------------------------------


def test_oversized_form_post_is_413_and_stores_nothing(app, session, sworld):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    sup = _login(app, "supervisor")
    before = session.exec(select(func.count()).select_from(Feedback)).one()
    r = sup.post(
        "/feedback/new/spot_check",
        data={"section": "SE101-01", "problems": "x" * (65 * 1024)},
    )
    assert r.status_code == 413
    assert b"larger than the server accepts" in r.data and r.mimetype == "text/html"
    # The same as a chunked body (no Content-Length): refused too, not parsed in part.
    body = b"section=SE101-01&problems=" + b"x" * (65 * 1024)
    r = sup.post(
        "/feedback/new/spot_check",
        input_stream=io.BytesIO(body),
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413
    assert session.exec(select(func.count()).select_from(Feedback)).one() == before


def test_oversized_json_is_413_json_with_and_without_a_length(app, session, sworld):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    client = app.test_client()
    headers = {"Authorization": f"Bearer {sworld.tokens['supervisor']}"}
    big = b'{"kind": "spot_check", "problems": "' + b"x" * 8192 + b'"}'
    r = client.post("/api/v1/feedback", data=big, headers=headers, content_type="application/json")
    assert r.status_code == 413 and r.get_json() == {"error": "Too large", "status": 413}
    # Streamed without a Content-Length: the limit holds while reading.
    r = client.post(
        "/api/v1/feedback",
        input_stream=io.BytesIO(big),
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn says for chunked bodies
    )
    assert r.status_code == 413 and r.is_json
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Feedback)).one() == 2
    # A chunked body within the limit is read whole and stored.
    from tests.security.test_access_matrix import _api_body

    small = json.dumps(_api_body(app, {"section": "SE101-01"})).encode()
    assert len(small) < 4096
    r = client.post(
        "/api/v1/feedback",
        input_stream=io.BytesIO(small),
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 201, r.get_json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "spot_check",', "not valid JSON"),
        (b"", "the body is empty"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'"text"', "must be a JSON object, not a string"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b"{'kind': 'spot_check'}", "not valid JSON"),
    ],
)
def test_malformed_json_is_400_with_a_message(app, sworld, body, message):
    r = app.test_client().post(
        "/api/v1/feedback",
        data=body,
        headers={"Authorization": f"Bearer {sworld.tokens['supervisor']}"},
        content_type="application/json",
    )
    assert r.status_code == 400 and r.is_json
    assert message in r.get_json()["error"]
    assert r.get_json()["status"] == 400
