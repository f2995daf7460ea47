"""``evalsys invite`` through a real SMTP server on 127.0.0.1: who is selected, what is counted,
and the emailed set-password link, which works once, expires, and is refused when altered."""

from __future__ import annotations

import re
from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from sqlmodel import select

from evalsys.accounts import jobs as account_jobs  # noqa: F401  (registers account-mail)
from evalsys.accounts import service
from evalsys.accounts.models import AccountMail, AuditEvent, User
from evalsys.clock import utcnow
from evalsys.scheduler import jobs as scheduler_jobs

BASE = "https://evalsys.example.edu"
LINK = re.compile(re.escape(BASE) + r"(/password/(?:set|reset)/[A-Za-z0-9_.\-]+)")
NEW_PASSWORD = "a sunny day in the library"


@pytest.fixture
def people(app, factory, session):
    """CS (CS-SE, CS-AI) and MATH (MATH-PURE), and people in each, most without a password."""
    app.config["BASE_URL"] = BASE
    factory.university()
    made = {
        "t_se": factory.user("t_se", "teacher@CS-SE", password=None),
        "t_ai": factory.user("t_ai", "teacher@CS-AI", password=None),
        "t_math": factory.user("t_math", "teacher@MATH-PURE", password=None),
        "dean": factory.user("dean", "dean@CS", password=None),
        "head": factory.user("head", "head@CS-SE"),  # has a password
        "t_nomail": factory.user("t_nomail", "teacher@CS-SE", password=None),
        "t_off": factory.user("t_off", "teacher@CS-SE", password=None),
        "nobody": factory.user("nobody", password=None),  # no role at all
    }
    made["t_nomail"].email = None
    made["t_off"].active = False
    session.add_all([made["t_nomail"], made["t_off"]])
    session.commit()
    return made


def _body(msg) -> str:
    return msg.get_payload(decode=True).decode()


def _subject(msg) -> str:
    return str(make_header(decode_header(msg["Subject"])))


def _path(msg) -> str:
    match = LINK.search(_body(msg))
    assert match, _body(msg)
    return match.group(1)


def _mails(session) -> list[AccountMail]:
    session.rollback()
    return list(session.exec(select(AccountMail).order_by(AccountMail.id)).all())


def _hash(session, username: str) -> str | None:
    session.rollback()
    session.expire_all()  # the app wrote it: forget what this session read before
    return session.exec(select(User.password_hash).where(User.username == username)).one()


def test_dry_run_names_the_selected_users_and_sends_nothing(cli, people, smtp, session):
    r = cli("invite", "--unit", "CS", "--role", "teacher", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "would invite t_ai <t_ai@example.edu>" in r.output
    assert "would invite t_se <t_se@example.edu>" in r.output
    assert "t_math" not in r.output and "dean" not in r.output
    assert (
        "Dry run: 2 invitations would be sent; skipped: 0 with a password already, "
        "1 without an email address, 1 switched off. Nothing sent." in r.output
    )
    assert smtp.messages == []
    assert _mails(session) == []


def test_invite_a_unit_counts_and_sends_to_exactly_the_selected(cli, people, smtp, session):
    r = cli("invite", "--unit", "CS")
    assert r.exit_code == 0, r.output
    assert (
        "Invitations: 3 sent, 0 failed; skipped: 1 with a password already, "
        "1 without an email address, 1 switched off." in r.output
    )
    assert sorted(m["To"] for m in smtp.messages) == [
        "dean@example.edu",
        "t_ai@example.edu",
        "t_se@example.edu",
    ]
    msg = next(m for m in smtp.messages if m["To"] == "t_se@example.edu")
    assert _subject(msg) == "Your evalsys account: set your password"
    assert "Your username is t_se." in _body(msg)
    assert "for 14 days" in _body(msg)
    assert _path(msg).startswith("/password/set/")
    # Audited per user, and nothing stored that opens the account.
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "user.invite")).all()
    assert sorted(e.target for e in events) == ["dean", "t_ai", "t_se"]
    assert all(_path(m).rsplit("/", 1)[1] not in repr(_mails(session)) for m in smtp.messages)


def test_everyone_without_a_filter_and_a_role_anywhere(cli, people, smtp):
    r = cli("invite", "--role", "TEACHER")
    assert r.exit_code == 0, r.output
    assert sorted(m["To"] for m in smtp.messages) == [
        "t_ai@example.edu",
        "t_math@example.edu",
        "t_se@example.edu",
    ]
    smtp.messages.clear()
    r = cli("invite")
    assert r.exit_code == 0, r.output
    assert "Invitations: 5 sent" in r.output  # + the dean and the user with no role
    assert "nobody@example.edu" in {m["To"] for m in smtp.messages}


def test_the_link_works_exactly_once(cli, client, people, smtp, session):
    assert cli("invite", "--unit", "CS-SE").exit_code == 0
    (msg,) = smtp.messages
    path = _path(msg)

    page = client.get(path)
    assert page.status_code == 200
    assert "Choose your password" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    r = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    stored = _hash(session, "t_se")  # (reads afresh)
    assert service.authenticate(session, "t_se", NEW_PASSWORD) is not None

    # Used: the page says so, and a second POST changes nothing.
    again = client.get(path)
    assert again.status_code == 410
    assert "This link has been used" in again.get_data(as_text=True)
    r = client.post(path, data={"password": "another sunny afternoon", "confirm": "x"})
    assert r.status_code == 410
    assert _hash(session, "t_se") == stored
    refused = session.exec(
        select(AuditEvent).where(AuditEvent.action == "password.link_refused")
    ).all()
    assert [(e.target, e.detail) for e in refused] == [("t_se", "invite link: used")] * 2
    done = session.exec(select(AuditEvent).where(AuditEvent.action == "password.set_by_link")).one()
    assert done.target == "t_se" and done.detail.startswith("invite link")

    # With the password set, a new run leaves the user alone.
    smtp.messages.clear()
    r = cli("invite", "--unit", "CS-SE")
    assert "Invitations: 0 sent, 0 failed; skipped: 2 with a password already" in r.output
    assert smtp.messages == []


def test_an_expired_link_is_refused(cli, client, people, smtp, session, site_clock):
    sent_at = utcnow()
    assert cli("invite", "--unit", "CS-SE").exit_code == 0
    path = _path(smtp.messages[0])

    site_clock.at(sent_at + timedelta(days=13, hours=23))
    assert client.get(path).status_code == 200  # still inside INVITATION_MAX_AGE_DAYS (14)
    site_clock.at(sent_at + timedelta(days=14, minutes=1))
    page = client.get(path)
    assert page.status_code == 410
    assert "This link has expired" in page.get_data(as_text=True)
    r = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert r.status_code == 410
    assert _hash(session, "t_se") is None
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "password.link_refused")
    ).first()
    assert event.target == "t_se" and event.detail == "invite link: expired"


def test_an_altered_link_or_one_for_another_page_is_refused(cli, client, people, smtp, session):
    assert cli("invite", "--unit", "CS-SE").exit_code == 0
    path = _path(smtp.messages[0])
    token = path.rsplit("/", 1)[1]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    for bad in (
        f"/password/set/{flipped}",
        f"/password/set/{token[:-10]}",
        f"/password/reset/{token}",  # an invitation's token does not open the reset page
        "/password/set/not-a-token",
    ):
        r = client.post(bad, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        assert r.status_code == 400, bad
        assert "This link does not work" in r.get_data(as_text=True)
    assert _hash(session, "t_se") is None
    assert client.get(path).status_code == 200  # the real one still works


def test_resending_is_safe_and_the_first_link_works_until_one_is_used(
    cli,
    client,
    people,
    smtp,
    session,
    site_clock,
):
    assert cli("invite", "--unit", "CS-SE").exit_code == 0
    site_clock.at(utcnow() + timedelta(hours=1))
    assert cli("invite", "--unit", "CS-SE").exit_code == 0
    first, second = (_path(m) for m in smtp.messages)
    assert first != second
    assert client.get(first).status_code == 200
    assert client.get(second).status_code == 200
    r = client.post(second, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert r.status_code == 302
    assert client.get(first).status_code == 410  # used up with the second


def test_bad_arguments_send_nothing(cli, people, smtp, session):
    r = cli("invite", "--unit", "NOPE")
    assert r.exit_code != 0 and "unknown unit 'NOPE'" in r.output
    r = cli("invite", "--role", "janitor")
    assert r.exit_code != 0 and "'janitor' is not one of" in r.output
    assert "teacher" in r.output
    assert smtp.messages == [] and _mails(session) == []


def test_without_mail_settings_nothing_is_queued(app, cli, people, session):
    app.config["MAIL_SERVER"] = None
    r = cli("invite")
    assert r.exit_code != 0 and "MAIL_SERVER not set" in r.output
    app.config.update(MAIL_SERVER="127.0.0.1", BASE_URL="", LOOP_BASE_URL="")
    r = cli("invite")
    assert r.exit_code != 0 and "BASE_URL not set" in r.output
    assert _mails(session) == []


def test_the_email_is_in_the_users_language(cli, people, smtp, session):
    user = people["t_se"]
    user.locale = "zh"
    session.add(user)
    session.commit()
    assert cli("invite", "--unit", "CS-SE").exit_code == 0
    (msg,) = smtp.messages
    assert _subject(msg) == "您的 evalsys 账号：请设置密码"
    assert "您的用户名是 t_se" in _body(msg)
    assert _path(msg).startswith("/password/set/")


def test_a_failed_send_is_retried_by_the_account_mail_job(app, cli, client, people, smtp, session):
    smtp.refuse = {"t_se@example.edu"}
    r = cli("invite", "--unit", "CS-SE")
    assert r.exit_code == 1
    assert "Invitations: 0 sent, 1 failed (the account-mail job retries them)" in r.output
    (row,) = _mails(session)
    assert row.status == "failed" and row.attempts == 1 and "451" in row.last_error

    smtp.refuse = set()
    run = scheduler_jobs.run_job(app, "account-mail", owner="test", trigger="manual")
    assert run.status == "succeeded" and run.detail == "1 sent, 0 failed, 0 dropped"
    (msg,) = smtp.messages
    run = scheduler_jobs.run_job(app, "account-mail", owner="test", trigger="manual")
    assert run.detail == "0 sent, 0 failed, 0 dropped"  # never twice
    path = _path(msg)
    r = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert r.status_code == 302


def test_an_invitation_queued_for_someone_who_then_set_a_password_is_dropped(
    app,
    cli,
    people,
    smtp,
    session,
):
    smtp.refuse = {"t_se@example.edu"}
    assert cli("invite", "--unit", "CS-SE").exit_code == 1
    user = session.exec(select(User).where(User.username == "t_se")).one()
    service.set_password(session, user, "set by the office meanwhile")
    session.commit()
    smtp.refuse = set()
    run = scheduler_jobs.run_job(app, "account-mail", owner="test", trigger="manual")
    assert run.detail == "0 sent, 0 failed, 1 dropped"
    assert smtp.messages == []
