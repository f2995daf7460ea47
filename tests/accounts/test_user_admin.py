"""``/admin/users/``: search, scope (school admin vs. college admin), grant and revoke with the
rules of people.csv, deactivate (sessions and API tokens stop at once), reactivate, the
lock-out guard, the audit's before/after, and a resent invitation through real SMTP."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from sqlmodel import col, select

from evalsys.accounts.models import AccountMail, AuditEvent, RoleGrant, User, UserSession
from evalsys.api import tokens
from tests.factories import Factory

BASE = "https://evalsys.example.edu"


@pytest.fixture
def people(app, factory, session):
    """School U (CS: CS-SE, CS-AI; MATH: MATH-PURE); a school admin, a CS admin, people."""
    factory.university()
    made = {
        "root": factory.user("root", "admin@U", name="Root Admin"),
        "cs_admin": factory.user("cs_admin", "admin@CS", name="CS Admin"),
        "t_se": factory.user("t_se", "teacher@CS-SE", name="王老师"),
        "t_ai": factory.user("t_ai", "teacher@CS-AI", name="Li Ming"),
        "t_math": factory.user("t_math", "teacher@MATH-PURE", name="Zhang San"),
        "both": factory.user("both", "teacher@CS-SE", "teacher@MATH-PURE", name="Two Colleges"),
        "newbie": factory.user("newbie", "teacher@CS-SE", name="New Person", password=None),
    }
    made["t_ai"].email = "ming.li@cs.example.edu"
    session.add(made["t_ai"])
    session.commit()
    return made


def _client(app: Flask, username: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": Factory.PASSWORD})
    assert r.status_code == 302, username
    return client


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _roles(session, username: str) -> set[str]:
    session.rollback()
    session.expire_all()
    from evalsys.accounts.admin import role_list

    user = session.exec(select(User).where(User.username == username)).one()
    return set(role_list(session, user))


def _audit(session, action: str) -> list[AuditEvent]:
    session.rollback()
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
    return list(session.exec(stmt).all())


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("王老", {"t_se"}),  # name
        ("T_MATH", {"t_math"}),  # username, any case
        ("ming.li@cs", {"t_ai"}),  # email
        ("MATH-PURE", {"t_math", "both"}),  # unit code
        ("基础数学", {"t_math", "both"}),  # unit name
        ("100%", set()),  # a LIKE wildcard is a plain character
    ],
)
def test_search_finds_by_each_field(app, people, q, found):
    client = _client(app, "root")
    page = client.get("/admin/users/", query_string={"q": q}).get_data(as_text=True)
    shown = {name for name in people if f'/admin/users/{name}"' in page}
    assert shown == found


def test_college_admin_sees_and_changes_only_inside_the_college(app, people, session):
    client = _client(app, "cs_admin")
    page = client.get("/admin/users/").get_data(as_text=True)
    assert '/admin/users/t_se"' in page and '/admin/users/t_ai"' in page
    assert '/admin/users/t_math"' not in page and '/admin/users/root"' not in page
    # Outside: as if there were no such user, for reading and for changing.
    assert client.get("/admin/users/t_math").status_code == 404
    assert (
        client.post("/admin/users/t_math/grant", data={"spec": "teacher@CS-SE"}).status_code == 404
    )
    assert client.post("/admin/users/root/deactivate").status_code == 404
    # Inside, but a grant on a unit above the college (or in another) is refused: 403.
    r = client.post("/admin/users/t_se/grant", data={"spec": "admin@U"})
    assert r.status_code == 403
    assert "U is not among the units you manage" in _text(r)
    assert client.post("/admin/users/t_se/grant", data={"spec": "tutor@MATH"}).status_code == 403
    # A user with a role in MATH too is shown but not changed by the CS admin.
    assert client.get("/admin/users/both").status_code == 200
    r = client.post("/admin/users/both/deactivate")
    assert r.status_code == 403 and "teacher@MATH-PURE" in _text(r)
    r = client.post("/admin/users/both/grant", data={"spec": "tutor@CS-SE"})
    assert r.status_code == 403 and "teacher@MATH-PURE" in _text(r)
    assert _roles(session, "both") == {"teacher@CS-SE", "teacher@MATH-PURE"}
    assert _roles(session, "t_se") == {"teacher@CS-SE"}
    # Inside the college: granted, including admin of a unit below.
    r = client.post("/admin/users/t_se/grant", data={"spec": "admin@CS-SE"})
    assert r.status_code == 302
    assert _roles(session, "t_se") == {"teacher@CS-SE", "admin@CS-SE"}


def test_someone_who_administers_nothing_gets_403(app, people):
    client = _client(app, "t_se")
    assert client.get("/admin/users/").status_code == 403
    assert client.get("/admin/users/t_ai").status_code == 403


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("teacher", "is not ROLE@UNITCODE"),
        ("boss@CS-SE", "unknown role 'boss'"),
        ("teacher@NOPE", "unknown unit code(s): NOPE"),
        ("teacher@CS-SE", "t_se holds teacher@CS-SE already"),
        ("", "Enter a role as ROLE@UNITCODE."),
    ],
)
def test_a_bad_grant_says_why_and_changes_nothing(app, people, session, spec, says):
    client = _client(app, "root")
    before = len(_audit(session, "role.grant"))
    r = client.post("/admin/users/t_se/grant", data={"spec": spec})
    assert r.status_code == 400
    assert says in _text(r)
    assert 'id="spec" ' in _text(r) and 'aria-invalid="true"' in _text(r)  # beside the field
    assert _roles(session, "t_se") == {"teacher@CS-SE"}
    assert len(_audit(session, "role.grant")) == before


def test_grant_and_revoke_are_audited_with_before_and_after(app, people, session):
    client = _client(app, "root")
    target = _client(app, "t_se")
    assert client.post("/admin/users/t_se/grant", data={"spec": " Dean@CS "}).status_code == 302
    r = client.post("/admin/users/t_se/revoke", data={"spec": "teacher@CS-SE"})
    assert r.status_code == 302
    assert _roles(session, "t_se") == {"dean@CS"}
    root_id = people["root"].id
    (granted,) = _audit(session, "role.grant")[-1:]
    assert (granted.user_id, granted.target) == (root_id, "t_se")
    assert granted.detail == "dean@CS (before: teacher@CS-SE; after: dean@CS;teacher@CS-SE)"
    (revoked,) = _audit(session, "role.revoke")[-1:]
    assert (revoked.user_id, revoked.target) == (root_id, "t_se")
    assert revoked.detail == "teacher@CS-SE (before: dean@CS;teacher@CS-SE; after: dean@CS)"
    # Losing a role logs the user out: they come back under the roles they have now.
    assert target.get("/").status_code == 302
    # Revoking what is not held: said, nothing changed.
    r = client.post("/admin/users/t_se/revoke", data={"spec": "teacher@CS-SE"})
    assert r.status_code == 400 and "does not hold teacher@CS-SE" in _text(r)


def test_deactivate_ends_sessions_and_api_tokens_at_once_then_reactivate(app, people, session):
    _, raw = tokens.create_token(session, user=people["t_se"], name="script")
    session.commit()
    bearer = {"Authorization": f"Bearer {raw}"}
    api = app.test_client()
    assert api.get("/api/v1/feedback", headers=bearer).status_code == 200
    victim = _client(app, "t_se")
    assert victim.get("/").status_code == 200
    admin = _client(app, "cs_admin")
    confirm = admin.get("/admin/users/t_se/deactivate")
    assert confirm.status_code == 200 and "API tokens stop working" in _text(confirm)
    assert _user(session, "t_se").active  # asking is not doing
    r = admin.post("/admin/users/t_se/deactivate", follow_redirects=True)
    assert "1 session ended" in _text(r)
    assert not _user(session, "t_se").active
    assert victim.get("/").status_code == 302  # logged out at once
    assert api.get("/api/v1/feedback", headers=bearer).status_code == 401
    ended = session.exec(select(UserSession).where(UserSession.user_id == people["t_se"].id)).all()
    assert [s.end_reason for s in ended] == ["deactivated"]
    (event,) = _audit(session, "user.deactivate")
    assert (event.user_id, event.target) == (people["cs_admin"].id, "t_se")
    assert event.detail == "before: active; after: inactive"
    # Reactivated: the token works again, the old session stays dead.
    assert admin.post("/admin/users/t_se/reactivate").status_code == 302
    assert _user(session, "t_se").active
    assert api.get("/api/v1/feedback", headers=bearer).status_code == 200
    assert victim.get("/").status_code == 302
    (event,) = _audit(session, "user.activate")
    assert event.detail == "before: inactive; after: active"


def _user(session, username: str) -> User:
    session.rollback()
    session.expire_all()
    return session.exec(select(User).where(User.username == username)).one()


def test_lock_out_guard(app, people, session, factory):
    client = _client(app, "cs_admin")
    r = client.post("/admin/users/cs_admin/deactivate")
    assert r.status_code == 400 and "You cannot deactivate your own account." in r.get_data(
        as_text=True
    )
    r = client.post("/admin/users/cs_admin/revoke", data={"spec": "admin@CS"})
    assert r.status_code == 400 and "your last administrator role" in _text(r)
    assert _user(session, "cs_admin").active
    assert _roles(session, "cs_admin") == {"admin@CS"}
    # With a second admin grant, the first may go.
    assert (
        client.post("/admin/users/cs_admin/grant", data={"spec": "admin@CS-AI"}).status_code == 302
    )
    r = client.post("/admin/users/cs_admin/revoke", data={"spec": "admin@CS"})
    assert r.status_code == 302
    assert _roles(session, "cs_admin") == {"admin@CS-AI"}


def test_resend_invitation_sends_a_real_email(app, people, session, smtp):
    app.config["BASE_URL"] = BASE
    client = _client(app, "cs_admin")
    r = client.post("/admin/users/newbie/invite", follow_redirects=True)
    assert "Invitation sent to newbie@example.edu." in _text(r)
    (msg,) = smtp.messages
    assert msg["To"] == "newbie@example.edu"
    assert BASE + "/password/set/" in msg.get_payload(decode=True).decode()
    session.rollback()
    (row,) = session.exec(select(AccountMail)).all()
    assert row.status == "sent"
    (event,) = _audit(session, "user.invite")
    assert (event.user_id, event.target) == (people["cs_admin"].id, "newbie")
    # Someone with a password needs none: said, nothing queued.
    r = client.post("/admin/users/t_se/invite")
    assert r.status_code == 400 and "has a password already" in _text(r)
    assert len(smtp.messages) == 1


def test_the_list_runs_the_same_queries_for_more_users(app, people, factory, queries, session):
    client = _client(app, "root")
    few = queries.page(client, "/admin/users/")
    for i in range(12):
        factory.user(f"extra{i:02d}", "teacher@CS-SE", "tutor@CS-AI")
    for i in range(3):  # and some who logged in, so last login is filled
        _client(app, f"extra{i:02d}")
    many = queries.page(client, "/admin/users/")
    assert many == few
    assert session.exec(select(RoleGrant)).all()  # the world is there


def test_home_links_admins_to_the_users_page(app, people):
    page = _client(app, "cs_admin").get("/").get_data(as_text=True)
    assert '<a href="/admin/users/">Manage users</a>' in page  # the admin card's promise
    assert 'href="/admin/users/"' in page
    assert 'href="/admin/users/"' not in _client(app, "t_se").get("/").get_data(as_text=True)
