"""Server-side sessions: a copied session cookie dies with the session it belongs to.

Each test logs in, copies the browser's session cookie into a second client (as
someone who read it off the wire or the disk would), then ends the session one
way or another and replays the copy: it must land on the login page. The first
test shows the copy works while the session is live, so the others can fail.
Time is moved by editing the session row, never by sleeping.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from evalsys.accounts import service, sessions
from evalsys.accounts.models import AuditEvent, User, UserSession
from evalsys.clock import utcnow
from evalsys.importer.service import import_tables
from evalsys.scheduler import jobs as scheduler_jobs
from tests.factories import Factory

PAGE = "/feedback/teaching"


@pytest.fixture
def teacher(factory) -> User:
    factory.university()
    return factory.user("t.zhang", "teacher@CS-SE", "tutor@CS-SE", name="张伟")


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """A second browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie to copy"
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def refused(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def raw_id(client: FlaskClient) -> str:
    with client.session_transaction() as flask_session:
        return flask_session[sessions.SESSION_KEY]


def rows(session: Session, user: User) -> list[UserSession]:
    session.expire_all()
    stmt = select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    return list(session.exec(stmt).all())


def shift(session: Session, record: UserSession, **deltas: timedelta) -> None:
    """Move a session's timestamps into the past (``created_at=timedelta(hours=13)``)."""
    for name, delta in deltas.items():
        setattr(record, name, getattr(record, name) - delta)
    session.add(record)
    session.commit()


def test_live_session_works_from_a_copied_cookie(app, client, auth, teacher, session):
    assert auth.login("t.zhang").status_code == 302
    thief = copy_of(app, client)
    assert thief.get(PAGE).status_code == 200
    assert client.get(PAGE).status_code == 200
    [record] = rows(session, teacher)
    assert record.ended_at is None and record.end_reason is None


def test_only_a_hash_of_the_session_id_is_stored(client, auth, teacher, session):
    auth.login("t.zhang")
    raw = raw_id(client)
    [record] = rows(session, teacher)
    assert len(raw) >= 40  # 256 random bits, url-safe
    assert record.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in record.token_hash


def test_logout_kills_the_copied_cookie(app, client, auth, teacher, session):
    auth.login("t.zhang")
    thief = copy_of(app, client)
    auth.logout()
    assert refused(thief.get(PAGE))
    assert refused(client.get(PAGE))
    [record] = rows(session, teacher)
    assert record.ended_at is not None and record.end_reason == "logout"


def test_set_password_by_cli_ends_every_session_of_the_user(
    app, client, auth, cli, teacher, factory, session
):
    other = factory.user("t.liu", "teacher@CS-AI")
    auth.login("t.zhang")
    thief = copy_of(app, client)
    laptop = app.test_client()
    laptop.post("/login", data={"username": "t.zhang", "password": Factory.PASSWORD})
    bystander = app.test_client()
    bystander.post("/login", data={"username": "t.liu", "password": Factory.PASSWORD})

    r = cli("set-password", "t.zhang", input="a brand new secret\n")
    assert r.exit_code == 0, r.output

    for browser in (thief, client, laptop):
        assert refused(browser.get(PAGE))
    assert bystander.get(PAGE).status_code == 200  # someone else's sessions stay
    assert {r.end_reason for r in rows(session, teacher)} == {"password"}
    assert [r.end_reason for r in rows(session, other)] == [None]
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "sessions.end")).one()
    assert event.target == "t.zhang" and event.detail == "2 sessions ended (password)"
    # The new password opens a new session.
    fresh = app.test_client()
    r = fresh.post("/login", data={"username": "t.zhang", "password": "a brand new secret"})
    assert r.status_code == 302 and fresh.get(PAGE).status_code == 200


def test_ended_by_a_password_change_says_so(app, client, auth, cli, teacher):
    auth.login("t.zhang")
    assert cli("set-password", "t.zhang", input="a brand new secret\n").exit_code == 0
    page = client.get(PAGE, follow_redirects=True)
    assert b'name="password"' in page.data
    assert b"You were logged out because your password or roles changed." in page.data


def test_set_password_keeps_the_session_it_is_told_to_keep(app, client, auth, teacher, session):
    auth.login("t.zhang")
    laptop = app.test_client()
    laptop.post("/login", data={"username": "t.zhang", "password": Factory.PASSWORD})
    user = session.get(User, teacher.id)
    service.set_password(session, user, "changed by the user", keep=raw_id(client))
    session.commit()
    assert client.get(PAGE).status_code == 200
    assert refused(laptop.get(PAGE))


def test_deactivation_ends_sessions_for_good(app, client, auth, cli, teacher, session):
    auth.login("t.zhang")
    thief = copy_of(app, client)
    r = cli("deactivate-user", "t.zhang")
    assert r.exit_code == 0, r.output
    assert "1 session ended" in r.output
    assert refused(thief.get(PAGE))
    # Switched back on, the account is usable again, but the old cookies stay dead.
    assert cli("activate-user", "t.zhang").exit_code == 0
    assert refused(thief.get(PAGE))
    assert refused(client.get(PAGE))
    assert [r.end_reason for r in rows(session, teacher)] == ["deactivated"]
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-3:] == ["user.deactivate", "sessions.end", "user.activate"]
    assert auth.login("t.zhang").status_code == 302
    assert client.get(PAGE).status_code == 200


def test_deactivate_unknown_user_is_an_error(cli, teacher):
    r = cli("deactivate-user", "nobody")
    assert r.exit_code != 0 and "no user 'nobody'" in r.output


def people(roles: str) -> dict[str, list[dict[str, str]]]:
    row = {"username": "t.zhang", "name": "张伟", "email": "t.zhang@example.edu", "roles": roles}
    return {"people.csv": [row]}


def test_role_removed_by_import_ends_sessions(app, client, auth, teacher, session):
    auth.login("t.zhang")
    thief = copy_of(app, client)
    # A role added changes nothing for the sessions...
    result = import_tables(session, people("teacher@CS-SE;tutor@CS-SE;supervisor@CS"))
    assert result.errors == []
    session.commit()
    assert thief.get(PAGE).status_code == 200
    # ...a role taken away ends them.
    result = import_tables(session, people("teacher@CS-SE;supervisor@CS"))
    assert result.errors == []
    session.commit()
    assert refused(thief.get(PAGE))
    assert refused(client.get(PAGE))
    assert [r.end_reason for r in rows(session, teacher)] == ["roles"]


@pytest.mark.parametrize("how", ["replace", "remove_all"])
def test_role_removed_by_the_service_ends_sessions(app, client, auth, teacher, session, how):
    auth.login("t.zhang")
    thief = copy_of(app, client)
    user = session.get(User, teacher.id)
    if how == "replace":
        service.replace_grants(session, user, [service.parse_role_spec("teacher@CS-SE")])
    else:
        service.remove_all_grants(session, user)
    session.commit()
    assert refused(thief.get(PAGE))
    assert [r.end_reason for r in rows(session, teacher)] == ["roles"]


def test_idle_session_expires_with_a_message(app, client, auth, teacher, session):
    auth.login("t.zhang")
    thief = copy_of(app, client)
    [record] = rows(session, teacher)
    shift(session, record, last_seen_at=timedelta(minutes=119))
    assert thief.get(PAGE).status_code == 200  # just inside the idle time
    shift(session, record, last_seen_at=timedelta(minutes=2))  # 121 minutes idle
    r = client.get(PAGE)
    assert refused(r)
    page = client.get(r.headers["Location"])
    assert b"Your session has expired. Please log in again." in page.data
    assert b"Please log in to see this page." not in page.data
    assert refused(thief.get(PAGE))
    [record] = rows(session, teacher)
    assert record.end_reason == "expired"


def test_idle_time_is_a_setting(app, client, auth, teacher, session):
    app.config["SESSION_IDLE_MINUTES"] = 5
    auth.login("t.zhang")
    [record] = rows(session, teacher)
    shift(session, record, last_seen_at=timedelta(minutes=6))
    assert refused(client.get(PAGE))


def test_use_keeps_a_session_alive(app, client, auth, teacher, session):
    """Each request moves last_seen_at on, at most about once a minute."""
    auth.login("t.zhang")
    [record] = rows(session, teacher)
    seen = record.last_seen_at
    client.get(PAGE)
    assert rows(session, teacher)[0].last_seen_at == seen  # not a write per request
    shift(session, record, last_seen_at=timedelta(minutes=100))
    client.get(PAGE)
    [record] = rows(session, teacher)
    assert utcnow() - record.last_seen_at < timedelta(minutes=1)
    shift(session, record, last_seen_at=timedelta(minutes=100))
    assert client.get(PAGE).status_code == 200  # 100 minutes since the last use, not 200


def test_absolute_lifetime_ends_even_a_busy_session(app, client, auth, teacher, session):
    auth.login("t.zhang")
    thief = copy_of(app, client)
    [record] = rows(session, teacher)
    shift(session, record, created_at=timedelta(hours=11, minutes=58))
    assert thief.get(PAGE).status_code == 200
    shift(session, record, created_at=timedelta(minutes=3))  # 12 h 1 min old, just used
    assert refused(client.get(PAGE))
    assert refused(thief.get(PAGE))
    assert rows(session, teacher)[0].end_reason == "expired"


def test_expiry_message_in_the_users_language(app, client, auth, teacher, session):
    user = session.get(User, teacher.id)
    user.locale = "zh"
    session.add(user)
    session.commit()
    auth.login("t.zhang")
    [record] = rows(session, teacher)
    shift(session, record, last_seen_at=timedelta(hours=3))
    page = client.get(PAGE, follow_redirects=True)
    assert b'name="password"' in page.data
    assert "会话已过期".encode() in page.data


def test_remember_cookie_alone_logs_nobody_in(app, client, auth, teacher):
    """Logins never set Flask-Login's remember cookie, and a forged one opens nothing."""
    from flask_login.utils import encode_cookie

    r = auth.login("t.zhang")
    assert not any(h.startswith("remember_token=") for h in r.headers.getlist("Set-Cookie"))
    with app.test_request_context():
        forged = encode_cookie(str(teacher.id))
    stranger = app.test_client()
    stranger.set_cookie("remember_token", forged)
    assert refused(stranger.get(PAGE))


def test_a_cookie_for_another_user_is_refused(app, client, auth, teacher, factory, session):
    """A session id only opens the account it was issued to."""
    factory.user("t.liu", "teacher@CS-AI")
    auth.login("t.liu")
    raw = raw_id(client)
    auth.logout()
    auth.login("t.zhang")
    with client.session_transaction() as flask_session:
        flask_session[sessions.SESSION_KEY] = raw  # t.liu's id (ended) under t.zhang
    assert refused(client.get(PAGE))


def test_purge_job_deletes_old_ended_and_expired_rows(app, teacher, session):
    scheduler_jobs.load_job_modules(app)
    now = utcnow()
    day = timedelta(days=1)
    kept = {
        "live": UserSession(user_id=teacher.id, token_hash="a" * 64),
        "ended lately": UserSession(
            user_id=teacher.id, token_hash="b" * 64, ended_at=now - 29 * day, end_reason="logout"
        ),
    }
    gone = {
        "ended long ago": UserSession(
            user_id=teacher.id,
            token_hash="c" * 64,
            created_at=now - 40 * day,
            last_seen_at=now - 40 * day,
            ended_at=now - 31 * day,
            end_reason="password",
        ),
        "idle long ago, never marked": UserSession(
            user_id=teacher.id,
            token_hash="d" * 64,
            created_at=now - 31 * day,
            last_seen_at=now - 31 * day,
        ),
    }
    session.add_all([*kept.values(), *gone.values()])
    session.commit()

    run = scheduler_jobs.run_job(app, "purge-sessions", owner="test", trigger="manual")
    assert run.status == "succeeded", run.detail
    assert run.detail == "2 old sessions deleted"
    left = session.exec(select(UserSession.token_hash).order_by(col(UserSession.token_hash)))
    assert list(left.all()) == ["a" * 64, "b" * 64]
    run = scheduler_jobs.run_job(app, "purge-sessions", owner="test", trigger="manual")
    assert run.detail == "0 old sessions deleted"
