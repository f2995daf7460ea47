"""CSRF: with protection on, every state-changing form refuses a post without its token.

The POST routes are read from the URL map (all but the bearer-token API, which takes
no cookies and so cannot be driven by another site); each is posted by a principal
the access matrix lets in, with the form data the matrix uses. Without a token: 400,
the "form expired" page, and not one row of the database changed. With the token the
same post gets past the check (the control that shows the test would notice).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from evalsys.accounts.access import ACCESS_ATTR
from evalsys.db import get_engine
from tests.factories import Factory
from tests.fixtures.security_world import SecurityWorld
from tests.security.test_access_matrix import ACCESS, R, _fill, _url_values, endpoint_of

EXPIRED = "security token was missing or expired"


def _form_posts(app: Flask) -> list[str]:
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods
        and getattr(app.view_functions[rule.endpoint], ACCESS_ATTR, None) != "token"
    )


def _dump(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    with Session(get_engine(app)) as session:
        return {
            table.name: sorted(
                (
                    tuple(map(str, row))
                    for row in session.execute(text(f'SELECT * FROM "{table.name}"'))
                ),
            )
            for table in SQLModel.metadata.sorted_tables
        }


def _principal(row: R) -> str | None:
    allowed = row.allowed_for(True)
    for name in ("supervisor", "teacher", "root", "dean", "anon"):
        if name in allowed:
            return None if name == "anon" else name
    raise AssertionError("no principal may post this form")


def test_every_form_post_refuses_a_missing_or_forged_token(app: Flask, sworld: SecurityWorld):
    posts = _form_posts(app)
    assert {"accounts.login", "accounts.logout", "feedback.new", "feedback.withdraw"} <= set(posts)
    problems: list[str] = []
    for endpoint in posts:
        app.config["WTF_CSRF_ENABLED"] = False
        problems += _try(endpoint, app, sworld)
    assert not problems, "\n".join(problems)


def _post_row(endpoint: str) -> R:
    """The endpoint's first row that covers POST (its plain row, unless methods= says GET)."""
    # The access matrix fails first for an endpoint without a row.
    rows = [r for k, r in ACCESS.items() if endpoint_of(k) == endpoint]
    return next(r for r in rows if r.methods is None or "POST" in r.methods.split())


def _try(endpoint: str, app: Flask, sworld: SecurityWorld) -> list[str]:
    row = _post_row(endpoint)
    rule, values = _url_values(app, endpoint, row, sworld, inside=True)
    with app.test_request_context():
        path = url_for(endpoint, **{k: values[k] for k in rule.arguments})
    data = {k: _fill(v, values) for k, v in (row.data or {}).items()}
    if endpoint == "accounts.login":
        data = {"username": "dean", "password": Factory.PASSWORD}
    client = app.test_client()
    who = _principal(row)
    if who is not None and endpoint != "accounts.login":
        r = client.post("/login", data={"username": who, "password": Factory.PASSWORD})
        assert r.status_code == 302
    app.config["WTF_CSRF_ENABLED"] = True
    before = _dump(app)
    problems = []
    for label, sent in (("no token", data), ("forged token", {**data, "csrf_token": "x.y"})):
        response = client.post(path, data=sent)
        if response.status_code != 400 or EXPIRED not in response.get_data(as_text=True):
            problems.append(f"POST {path} ({endpoint}) with {label}: {response.status_code}")
    if _dump(app) != before:
        problems.append(f"POST {path} ({endpoint}): a refused post changed the database")
    # The control: the page's own token gets the same post past the check.
    passed = client.post(path, data={**data, "csrf_token": _token(client)})
    if EXPIRED in passed.get_data(as_text=True):
        problems.append(f"POST {path} ({endpoint}): refused even with a valid token")
    return problems


def _token(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    if 'name="csrf_token"' not in page:  # logged in: /login redirects; the home page has one
        page = client.get("/").get_data(as_text=True)
    return page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]


def test_api_is_exempt_but_takes_no_cookies(app: Flask, client, sworld: SecurityWorld):
    """The API needs no CSRF token because a browser's cookies get nobody in."""
    app.config["WTF_CSRF_ENABLED"] = False
    client.post("/login", data={"username": "supervisor", "password": Factory.PASSWORD})
    app.config["WTF_CSRF_ENABLED"] = True
    r = client.post("/api/v1/feedback", json={"section": "SE101-01"})
    assert r.status_code == 401 and r.is_json  # the session cookie is not a credential
    r = client.get("/api/v1/feedback")
    assert r.status_code == 401
