"""Self-service passwords: "forgot password" through a real SMTP server on 127.0.0.1, the reset
link (once, then dead; expired; ended by any password change), and "change my password" (the
current one required, the other sessions ended, this one kept). Each refusal changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from flask import Flask
from sqlmodel import col, select

from evalsys.accounts import service
from evalsys.accounts.models import AccountMail, AuditEvent, User
from evalsys.clock import utcnow
from evalsys.security.models import LoginAttempt
from tests.factories import Factory

BASE = "https://evalsys.example.edu"
LINK = re.compile(re.escape(BASE) + r"(/password/reset/[A-Za-z0-9_.\-]+)")
FORGOT = "/password/forgot"
CHANGE = "/account/password"
PAGE = "/feedback/teaching"  # any page a logged-in teacher may open
NEW = "seven blue herons fishing"


@pytest.fixture
def teacher(app, factory, session) -> User:
    app.config["BASE_URL"] = BASE
    factory.university()
    return factory.user("t.zhang", "teacher@CS-SE", name="张伟")


def _hash(session, username: str = "t.zhang") -> str | None:
    session.rollback()
    session.expire_all()
    return session.exec(select(User.password_hash).where(User.username == username)).one()


def _events(session, action: str) -> list[AuditEvent]:
    session.rollback()
    # In the order written: without ORDER BY, PostgreSQL returns a table's rows as they lie
    # in its pages, and an earlier test's deleted rows leave space a later row may fill.
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
    return list(session.exec(stmt).all())


def _forgot(app: Flask, email: str, **kwargs):
    """POST the form from a fresh browser, closing the answer as a server does (which sends
    the queued email); returns the answer and the page it leads to."""
    client = app.test_client()
    response = client.post(FORGOT, data={"email": email}, **kwargs)
    response.close()
    landing = client.get(response.headers["Location"]) if response.status_code == 302 else None
    return response, landing


def _reset_path(inbox) -> str:
    (msg,) = inbox.messages
    match = LINK.search(msg.get_payload(decode=True).decode())
    assert match
    return match.group(1)


def _login(app: Flask, password: str = Factory.PASSWORD):
    client = app.test_client()
    r = client.post("/login", data={"username": "t.zhang", "password": password})
    return client, r.status_code == 302


def _refused(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


# --- "forgot password" --------------------------------------------------------------------


def test_the_answer_is_the_same_for_a_known_and_an_unknown_address(app, teacher, smtp, session):
    known, known_page = _forgot(app, "T.Zhang@Example.edu")  # any case
    assert len(smtp.messages) == 1
    unknown, unknown_page = _forgot(app, "nobody@example.edu")
    assert len(smtp.messages) == 1  # nothing for an address no account has

    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"] == "/login"
    assert known.get_data() == unknown.get_data()
    known_text = known_page.get_data(as_text=True).replace("T.Zhang@Example.edu", "ADDRESS")
    unknown_text = unknown_page.get_data(as_text=True).replace("nobody@example.edu", "ADDRESS")
    assert known_text == unknown_text
    assert "If an account has the address ADDRESS, a link" in known_text

    (msg,) = smtp.messages
    assert msg["To"] == "t.zhang@example.edu"
    assert str(make_header(decode_header(msg["Subject"]))) == "Reset your evalsys password"
    assert "for 60 minutes" in msg.get_payload(decode=True).decode()
    requests = _events(session, "password.reset_request")
    assert [e.target for e in requests] == ["t.zhang", None]


def test_requests_are_rate_limited_for_known_and_unknown_alike(app, teacher, smtp, session):
    for email in ("t.zhang@example.edu", "nobody@example.edu"):
        for _ in range(3):  # PASSWORD_RESET_MAX_PER_EMAIL
            assert _forgot(app, email)[0].status_code == 302
        limited, _ = _forgot(app, email)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert "Too many requests for a new password" in limited.get_data(as_text=True)
    assert len(smtp.messages) == 3  # the known address's three, no more
    assert len(_events(session, "password.reset_limited")) == 2
    # Logins from the same address are counted apart: they still work.
    assert _login(app)[1]


def test_requests_from_one_address_are_limited(app, teacher, smtp):
    app.config["PASSWORD_RESET_MAX_PER_ADDRESS"] = 4
    for n in range(4):
        assert _forgot(app, f"someone{n}@example.edu")[0].status_code == 302
    assert _forgot(app, "t.zhang@example.edu")[0].status_code == 429
    assert smtp.messages == []
    # Another client address is not held back.
    r, _ = _forgot(app, "t.zhang@example.edu", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert r.status_code == 302 and len(smtp.messages) == 1


def test_the_reset_link_works_once_and_ends_every_session(app, teacher, smtp, session):
    browser, _ = _login(app)
    laptop, _ = _login(app)
    _forgot(app, "t.zhang@example.edu")
    path = _reset_path(smtp)
    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)

    r = visitor.post(path, data={"password": NEW, "confirm": NEW})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert _refused(browser.get(PAGE)) and _refused(laptop.get(PAGE))
    assert not _login(app)[1] and _login(app, NEW)[1]
    stored = _hash(session)
    event = _events(session, "password.set_by_link")[0]
    assert event.target == "t.zhang" and event.detail == "reset link; 2 sessions ended"

    again = visitor.post(path, data={"password": "eight blue herons", "confirm": "x"})
    assert again.status_code == 410
    assert "This link has been used" in again.get_data(as_text=True)
    assert _hash(session) == stored


def test_a_reset_link_expires(app, teacher, smtp, session, site_clock):
    asked = utcnow()
    _forgot(app, "t.zhang@example.edu")
    path = _reset_path(smtp)
    before = _hash(session)
    site_clock.at(asked + timedelta(minutes=59))
    assert app.test_client().get(path).status_code == 200
    site_clock.at(asked + timedelta(minutes=61))
    r = app.test_client().post(path, data={"password": NEW, "confirm": NEW})
    assert r.status_code == 410 and "This link has expired" in r.get_data(as_text=True)
    assert _hash(session) == before
    assert _events(session, "password.link_refused")[0].detail == "reset link: expired"


def test_a_reset_link_dies_when_the_password_changes_any_other_way(app, cli, teacher, smtp):
    _forgot(app, "t.zhang@example.edu")
    path = _reset_path(smtp)
    assert cli("set-password", "t.zhang", input="set by the office today\n").exit_code == 0
    assert app.test_client().get(path).status_code == 410


def test_the_link_page_refuses_a_weak_password_and_keeps_the_link(app, teacher, smtp, session):
    _forgot(app, "t.zhang@example.edu")
    path = _reset_path(smtp)
    before = _hash(session)
    client = app.test_client()
    for password, confirm, why in (
        ("tooshort", "tooshort", "at least 10 characters"),
        ("iloveyou123", "iloveyou123", "10,000 most common"),
        ("t.zhang rocks on", "t.zhang rocks on", "must not contain your username"),
        (NEW, NEW + "!", "The two passwords are not the same."),
    ):
        r = client.post(path, data={"password": password, "confirm": confirm})
        assert r.status_code == 400
        page = r.get_data(as_text=True)
        assert why in page
        assert 'aria-invalid="true"' in page  # the error is on its field
    assert _hash(session) == before
    assert client.post(path, data={"password": NEW, "confirm": NEW}).status_code == 302


def test_pages_speak_the_readers_language(app, teacher, smtp, site_clock):
    _forgot(app, "t.zhang@example.edu")
    path = _reset_path(smtp)
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    page = app.test_client().get(path, headers=zh).get_data(as_text=True)
    assert "设置新密码" in page
    site_clock.at(utcnow() + timedelta(hours=2))
    r = app.test_client().get(path, headers=zh)
    assert r.status_code == 410 and "此链接已过期" in r.get_data(as_text=True)
    assert "没有做任何更改" in r.get_data(as_text=True)
    forgot = app.test_client().get(FORGOT, headers=zh).get_data(as_text=True)
    assert "忘记密码？" in forgot


def test_a_switched_off_account_gets_nothing_but_the_same_answer(app, teacher, smtp, session):
    service.set_active(session, session.merge(teacher), False)
    session.commit()
    r, _ = _forgot(app, "t.zhang@example.edu")
    assert r.status_code == 302 and smtp.messages == []
    session.rollback()
    assert session.exec(select(AccountMail)).all() == []


def test_without_mail_settings_the_page_says_so_and_the_login_page_offers_nothing(
    app, client, teacher, session
):
    assert not app.config["MAIL_SERVER"]
    page = client.get(FORGOT).get_data(as_text=True)
    assert "cannot be reset by email on this site" in page and "<form" not in page.split("<main")[1]
    r = client.post(FORGOT, data={"email": "t.zhang@example.edu"})
    assert r.status_code == 200
    assert session.exec(select(AccountMail)).all() == []
    assert "Forgot your password?" not in client.get("/login").get_data(as_text=True)
    app.config["MAIL_SERVER"] = "127.0.0.1"
    assert "Forgot your password?" in client.get("/login").get_data(as_text=True)


# --- "change my password" -----------------------------------------------------------------


def _change(client, current: str, new: str = NEW, confirm: str | None = None):
    return client.post(
        CHANGE, data={"current": current, "password": new, "confirm": confirm or new}
    )


def test_change_ends_the_other_sessions_and_keeps_this_one(app, teacher, session):
    here, _ = _login(app)
    elsewhere, _ = _login(app)
    assert here.get(CHANGE).status_code == 200
    r = _change(here, Factory.PASSWORD)
    assert r.status_code == 302
    home = here.get(r.headers["Location"]).get_data(as_text=True)
    assert "everywhere else you were logged out (1 session)" in home
    assert here.get(PAGE).status_code == 200  # still logged in here
    assert _refused(elsewhere.get(PAGE))  # logged out there
    assert _login(app, NEW)[1] and not _login(app)[1]
    (event,) = _events(session, "password.change")
    assert event.target == "t.zhang" and event.detail == "1 other session ended"


def test_a_wrong_current_password_is_refused_and_counted(app, teacher, session):
    here, _ = _login(app)
    before = _hash(session)
    r = _change(here, "not my password at all")
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "This is not your current password." in page
    assert 'id="current-error"' in page
    assert _hash(session) == before
    assert here.get(PAGE).status_code == 200  # the session goes on
    assert len(_events(session, "password.change_failed")) == 1
    # A borrowed session is no way round the login limit: 5 wrong in all, then 429.
    for _ in range(4):
        assert _change(here, "still not it, sorry").status_code == 400
    limited = _change(here, Factory.PASSWORD)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert _hash(session) == before
    failures = session.exec(
        select(LoginAttempt).where(
            LoginAttempt.username == "t.zhang",
            LoginAttempt.succeeded == False,  # noqa: E712
        )
    ).all()
    assert len(failures) == 5 and {a.kind for a in failures} == {"login"}


def test_change_applies_the_policy(app, teacher, session):
    here, _ = _login(app)
    before = _hash(session)
    for new, confirm, why in (
        ("short", "short", "at least 10 characters"),
        ("password1234", "password1234", "10,000 most common"),
        ("张伟的新密码很长很长", "张伟的新密码很长很长", "must not contain your name"),
        (NEW, NEW + "?", "The two passwords are not the same."),
    ):
        r = _change(here, Factory.PASSWORD, new, confirm)
        assert r.status_code == 400, new
        assert why in r.get_data(as_text=True)
    assert _hash(session) == before
    assert _events(session, "password.change") == []


def test_the_header_links_to_the_change_page(app, teacher):
    here, _ = _login(app)
    page = here.get("/").get_data(as_text=True)
    assert f'href="{CHANGE}"' in page


# --- where the site signs people in another way (PASSWORD_LOGIN) --------------------------


def test_no_reset_email_for_an_account_that_may_not_use_a_password(app, teacher, smtp, session):
    app.config["PASSWORD_LOGIN"] = "admins"
    answer, page = _forgot(app, "t.zhang@example.edu")
    # The same answer as ever (it tells nothing), but no email: the password could not be used.
    assert answer.status_code == 302 and "If an account has the address" in page.get_data(
        as_text=True
    )
    assert smtp.messages == []
    (event,) = _events(session, "password.reset_request")
    assert event.target == "t.zhang" and "not used" in event.detail


def test_an_admin_still_gets_one_where_passwords_are_for_admins(app, teacher, factory, smtp):
    app.config["PASSWORD_LOGIN"] = "admins"
    factory.user("office", "admin@U")
    _forgot(app, "office@example.edu")
    (msg,) = smtp.messages
    assert msg["To"] == "office@example.edu"


def test_no_password_to_change_where_passwords_are_off(app, teacher, session):
    client, ok = _login(app)
    assert ok
    app.config["PASSWORD_LOGIN"] = "off"  # switched off while the teacher was signed in
    page = client.get(CHANGE)
    assert page.status_code == 200 and 'name="current"' not in page.get_data(as_text=True)
    assert "university account" in page.get_data(as_text=True)
    before = _hash(session)
    data = {"current": Factory.PASSWORD, "password": NEW, "confirm": NEW}
    assert client.post(CHANGE, data=data).status_code == 403
    assert _hash(session) == before
