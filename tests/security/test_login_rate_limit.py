"""The login rate limit: per username and per address, in the database, one answer for all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from evalsys import create_app
from evalsys.accounts.models import AuditEvent
from evalsys.accounts.views import LOGIN_FAILED
from evalsys.db import get_engine
from evalsys.security.models import LoginAttempt
from tests.factories import Factory

LIMITED = b"Too many failed logins"


@pytest.fixture
def dean(factory):
    factory.university()
    return factory.user("dean_cs", "dean@CS")


def login(client, username, password=Factory.PASSWORD, ip="10.0.0.1"):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def _body(response, username: str) -> str:
    return response.get_data(as_text=True).replace(username, "USERNAME")


def test_five_failures_block_the_username_even_with_the_right_password(client, dean, session):
    for _ in range(5):
        r = login(client, "dean_cs", "wrong password")
        assert r.status_code == 401 and LOGIN_FAILED.encode() in r.data
    r = login(client, "dean_cs")  # the right password, too late
    assert r.status_code == 429
    assert LIMITED in r.data and b"15 minutes" in r.data
    assert 890 <= int(r.headers["Retry-After"]) <= 901
    assert client.get("/").status_code == 302  # not logged in
    # Another address does not help: the username is what is being guessed.
    assert login(client, "dean_cs", ip="10.9.9.9").status_code == 429
    # Case and spaces do not make a new username.
    assert login(client, " DEAN_CS ", ip="10.9.9.9").status_code == 429
    # Someone else from the first address still logs in.
    assert login(client, "other", "wrong password").status_code == 401
    events = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert events.count("login.failed") == 6 and events.count("login.limited") == 3


def test_unknown_and_known_usernames_get_the_same_answers(client, dean):
    for _ in range(5):
        known = login(client, "dean_cs", "wrong password", ip="10.0.0.1")
        unknown = login(client, "nobody_here", "wrong password", ip="10.0.0.2")
        assert known.status_code == unknown.status_code == 401
        assert _body(known, "dean_cs") == _body(unknown, "nobody_here")
    known = login(client, "dean_cs", "wrong password", ip="10.0.0.1")
    unknown = login(client, "nobody_here", "wrong password", ip="10.0.0.2")
    assert known.status_code == unknown.status_code == 429
    assert _body(known, "dean_cs") == _body(unknown, "nobody_here")
    assert abs(int(known.headers["Retry-After"]) - int(unknown.headers["Retry-After"])) <= 2


def test_failures_from_one_address_block_it_for_every_username(app, client, dean):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 8
    for i in range(8):  # a password spray: one try per username
        assert login(client, f"user{i}", "Summer2026!").status_code == 401
    r = login(client, "dean_cs")
    assert r.status_code == 429 and LIMITED in r.data
    assert login(client, "dean_cs", ip="10.0.0.2").status_code == 302  # from elsewhere: fine


def test_the_block_ends_when_the_failures_leave_the_window(client, dean, session):
    for _ in range(5):
        login(client, "dean_cs", "wrong password")
    assert login(client, "dean_cs").status_code == 429
    # Fifteen minutes and a second later (moved in the database, as time would).
    session.exec(update(LoginAttempt).values(at=LoginAttempt.at - timedelta(minutes=15, seconds=1)))  # type: ignore[call-overload]
    session.commit()
    assert login(client, "dean_cs").status_code == 302


def test_a_success_ends_the_usernames_count(client, dean):
    for _ in range(4):
        login(client, "dean_cs", "wrong password")
    assert login(client, "dean_cs").status_code == 302
    client.post("/logout")
    for _ in range(4):
        assert login(client, "dean_cs", "wrong password").status_code == 401
    assert login(client, "dean_cs").status_code == 302


def test_the_count_is_shared_by_every_worker(app, client, dean, database_url, tmp_path):
    """Two app instances on one database (as two gunicorn workers): failures add up."""
    other = create_app(
        {
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
            "INSTANCE_PATH": str(tmp_path / "other"),
        }
    )
    other_client = other.test_client()
    for i in range(5):
        worker = client if i % 2 else other_client
        assert login(worker, "dean_cs", "wrong password").status_code == 401
    assert login(client, "dean_cs").status_code == 429
    assert login(other_client, "dean_cs").status_code == 429
    get_engine(other).dispose()


def test_old_attempts_are_pruned(client, dean, session):
    login(client, "dean_cs", "wrong password")
    session.exec(update(LoginAttempt).values(at=LoginAttempt.at - timedelta(days=2)))  # type: ignore[call-overload]
    session.commit()
    login(client, "dean_cs")
    with Session(session.get_bind()) as fresh:
        rows = fresh.exec(select(LoginAttempt)).all()
    assert [(r.username, r.succeeded) for r in rows] == [("dean_cs", True)]
