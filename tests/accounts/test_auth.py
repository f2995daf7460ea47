"""Login, logout, default deny, and the audit trail of logins."""

from __future__ import annotations

import pytest
from sqlmodel import select

from evalsys.accounts.access import ACCESS_ATTR
from evalsys.accounts.models import AuditEvent
from evalsys.accounts.views import LOGIN_FAILED


@pytest.fixture
def dean(factory):
    factory.university()
    return factory.user("dean_cs", "dean@CS", name="李院长")


def test_login_then_home_then_logout(client, auth, dean, session):
    r = auth.login("dean_cs")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "李院长".encode() in home.data
    assert b"/units/CS" in home.data  # the dean's entry point

    r = auth.logout()
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]

    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-2:] == ["login", "logout"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("dean_cs", "wrong password!"), ("nobody", "correct horse battery"), ("DEAN_CS", "x" * 9)],
)
def test_failed_login_same_answer_and_audited(client, auth, dean, session, username, password):
    r = auth.login(username, password)
    assert r.status_code == 401
    assert LOGIN_FAILED.encode() in r.data
    # What the user typed as username stays in the form.
    assert f'value="{username}"'.encode() in r.data
    assert client.get("/").status_code == 302
    failed = session.exec(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
    assert [e.target for e in failed] == [username]


def test_inactive_user_cannot_log_in(auth, dean, session):
    dean.active = False
    session.add(dean)
    session.commit()
    assert auth.login("dean_cs").status_code == 401


def test_user_without_password_cannot_log_in(auth, factory):
    factory.university()
    factory.user("imported", "teacher@CS-SE", password=None)
    assert auth.login("imported", "").status_code == 400  # empty password: form error
    assert auth.login("imported", "anything at all").status_code == 401


def test_open_redirect_refused(client, auth, dean):
    r = client.post(
        "/login?next=//evil.example/x",
        data={"username": "dean_cs", "password": "correct horse battery"},
    )
    assert r.headers["Location"] == "/"
    client.post("/logout")
    r = client.post(
        "/login?next=/units/CS",
        data={"username": "dean_cs", "password": "correct horse battery"},
    )
    assert r.headers["Location"] == "/units/CS"


def test_logout_needs_post(client, auth, dean):
    auth.login("dean_cs")
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200  # still logged in


def test_every_endpoint_declares_access(app):
    """A route added without public/login_required would be denied; here we list none exist."""
    undeclared = [
        name
        for name, view in app.view_functions.items()
        if name != "static" and getattr(view, ACCESS_ATTR, None) is None
    ]
    assert undeclared == []


def test_undeclared_route_is_denied(app, client, auth, dean):
    @app.route("/forgotten")
    def forgotten():
        return "secret"

    auth.login("dean_cs")
    assert client.get("/forgotten").status_code == 403


def test_anonymous_is_sent_to_login_everywhere(app, client):
    """Pages send strangers to the login page; API endpoints answer 401 in JSON."""
    import re

    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or "GET" not in rule.methods:
            continue
        access = getattr(app.view_functions[rule.endpoint], ACCESS_ATTR, None)
        if access == "public":
            continue
        url = re.sub(r"<int:[^>]+>", "1", rule.rule)
        url = re.sub(r"<[^>]+>", "CS", url)
        r = client.get(url)
        if access == "token":
            assert r.status_code == 401 and r.is_json, url
            assert r.headers["WWW-Authenticate"].startswith("Bearer"), url
        else:
            assert r.status_code == 302, url
            assert "/login" in r.headers["Location"], url
        checked += 1
    assert checked >= 3


def test_csrf_enforced_on_login(database_url, tmp_path):
    from evalsys import create_app

    app = create_app(
        {
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
            "SECRET_KEY": "x",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "i"),
        }
    )
    client = app.test_client()
    r = client.post("/login", data={"username": "a", "password": "b"})
    assert r.status_code == 400
    assert b"security token" in r.data
    page = client.get("/login")
    assert b'name="csrf_token"' in page.data


def test_session_cookie_flags(client, auth, dean):
    r = auth.login("dean_cs")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
