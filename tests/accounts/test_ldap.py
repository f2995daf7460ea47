"""Directory (LDAP) login against a real slapd (``tests.fixtures.ldap_server``).

The directory holds zhangwei, lina, stranger and two entries that share a name; evalsys
holds accounts for some of them. Directory passwords differ from the evalsys test
password, so a test can tell which of the two let someone in.
"""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from evalsys.accounts import directory
from evalsys.accounts.models import AuditEvent, User, UserSession
from evalsys.accounts.views import DIRECTORY_UNAVAILABLE, LOGIN_FAILED
from tests.factories import Factory
from tests.fixtures.ldap_server import DIRECTORY_PASSWORD, free_port

LOCAL_PASSWORD = Factory.PASSWORD
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _login(client, username: str, password: str, headers=None):
    return client.post(
        "/login", data={"username": username, "password": password}, headers=headers or {}
    )


def _methods(session) -> list[str]:
    return [s.method for s in session.exec(select(UserSession).order_by(UserSession.id))]


def _actions(session, action: str) -> list[AuditEvent]:
    # In the order they were written (ids; the site clock is stopped, so times tie).
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
    return list(session.exec(stmt).all())


@pytest.fixture
def people(factory):
    factory.university()
    return {
        "zhangwei": factory.user("zhangwei", "teacher@CS-SE", name="张伟"),
        "lina": factory.user("lina", "dean@CS", name="李娜"),
        "root": factory.user("root", "admin@U", name="Root Admin"),  # not in the directory
    }


@pytest.fixture
def direct(app, ldap_directory):
    app.config.update(ldap_directory.direct_bind())
    return app


@pytest.fixture(params=["service", "anonymous"])
def searching(request, app, ldap_directory):
    app.config.update(ldap_directory.search_bind(anonymous=request.param == "anonymous"))
    return app


@pytest.mark.parametrize("username", ["zhangwei", "lina"])  # {SSHA} and clear text stored
def test_direct_bind_logs_in_with_method_ldap(client, direct, people, session, username):
    r = _login(client, username, DIRECTORY_PASSWORD)
    assert r.status_code == 302, r.get_data(as_text=True)
    assert client.get("/").status_code == 200
    assert _methods(session) == ["ldap"]
    [event] = _actions(session, "login")
    assert (event.user_id, event.detail) == (people[username].id, "ldap")


def test_search_then_bind_logs_in_with_method_ldap(client, searching, people, session):
    r = _login(client, "zhangwei", DIRECTORY_PASSWORD)
    assert r.status_code == 302
    assert _methods(session) == ["ldap"]


def test_wrong_directory_password_same_answer_and_rate_limited(client, searching, people, session):
    searching.config["LOGIN_MAX_FAILURES_PER_USER"] = 3
    for _ in range(3):
        r = _login(client, "zhangwei", "not the directory password")
        assert r.status_code == 401
        assert str(LOGIN_FAILED) in r.get_data(as_text=True)
    # Locked now, even with the right password: the limit is checked before the directory.
    r = _login(client, "zhangwei", DIRECTORY_PASSWORD)
    assert r.status_code == 429
    assert _methods(session) == []
    assert len(_actions(session, "login.failed")) == 3


def test_empty_password_is_never_sent(direct, ldap_directory, client, people):
    # This slapd takes a name without a password as an anonymous bind that "succeeds".
    assert directory.authenticate(direct.config, "zhangwei", "") is None
    assert _login(client, "zhangwei", "").status_code == 400  # and the form refuses it


@pytest.mark.parametrize("username", ["*", "*)(uid=*", "zhangwei)(|(uid=*", "z*", "zhangwei\x00"])
def test_filter_injection_finds_nobody(client, searching, people, session, username):
    r = _login(client, username, DIRECTORY_PASSWORD)
    assert r.status_code in (400, 401)
    assert _methods(session) == []


@pytest.mark.parametrize("username", ["zhangwei,ou=people", "*", "uid=lina"])
def test_dn_injection_in_direct_bind_finds_nobody(client, direct, people, session, username):
    assert _login(client, username, DIRECTORY_PASSWORD).status_code == 401
    assert _methods(session) == []


def test_two_entries_for_one_name_are_refused(searching, people, client, session):
    searching.config["LDAP_SEARCH_FILTER"] = "(cn={username})"
    assert _login(client, "Twin", DIRECTORY_PASSWORD).status_code == 401
    assert _methods(session) == []


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ({}, "Your account is not set up in evalsys; ask the teaching-quality office."),
        (ZH, "您的账号尚未在 evalsys 中开通，请联系教学质量办公室。"),
    ],
)
def test_directory_identity_without_evalsys_user(client, direct, people, session, headers, text):
    users = session.exec(select(func.count()).select_from(User)).one()
    session.commit()  # end the read (SQLite keeps its snapshot until the transaction ends)
    r = _login(client, "stranger", DIRECTORY_PASSWORD, headers=headers)
    assert r.status_code == 403
    page = r.get_data(as_text=True)
    assert text in page
    assert "stranger" in page  # who the directory said they are, for the office
    assert session.exec(select(func.count()).select_from(User)).one() == users
    assert _methods(session) == []
    [event] = _actions(session, "login.unknown")
    assert (event.target, event.detail, event.user_id) == ("stranger", "ldap", None)
    assert client.get("/").status_code == 302


def test_inactive_user_refused_like_a_wrong_password(client, direct, people, session):
    people["zhangwei"].active = False
    session.add(people["zhangwei"])
    session.commit()
    r = _login(client, "zhangwei", DIRECTORY_PASSWORD)
    assert r.status_code == 401
    assert str(LOGIN_FAILED) in r.get_data(as_text=True)
    assert _methods(session) == []


def test_match_by_email(client, searching, people, session, factory):
    searching.config.update(LDAP_USER_ATTRIBUTE="mail", LDAP_MATCH="email")
    other = factory.user("wei.z", "teacher@CS-AI")
    other.email = "Zhang.Wei@Example.edu"  # the directory's mail, in another case
    session.add(other)
    people["zhangwei"].email = "zw-old@example.edu"
    session.add(people["zhangwei"])
    session.commit()
    assert _login(client, "zhangwei", DIRECTORY_PASSWORD).status_code == 302
    [event] = _actions(session, "login")
    assert event.user_id == other.id


def test_directory_refuses_then_the_evalsys_password_is_tried(client, direct, people, session):
    assert _login(client, "root", LOCAL_PASSWORD).status_code == 302  # root is not in it
    assert _methods(session) == ["password"]


def test_directory_down_says_so_and_admins_still_log_in(app, client, people, session):
    app.config.update(
        LDAP_URL=f"ldap://127.0.0.1:{free_port()}",  # nothing listens there
        LDAP_BIND_DN_TEMPLATE="uid={username},ou=people,dc=example,dc=edu",
        PASSWORD_LOGIN="admins",
    )
    r = _login(client, "zhangwei", LOCAL_PASSWORD)  # a teacher: no evalsys password allowed
    assert r.status_code == 503
    page = r.get_data(as_text=True)
    assert str(DIRECTORY_UNAVAILABLE) in page and str(LOGIN_FAILED) not in page
    r = _login(client, "root", LOCAL_PASSWORD)
    assert r.status_code == 302
    assert _methods(session) == ["password"]
    assert [e.target for e in _actions(session, "ldap.unavailable")] == ["zhangwei", "root"]


def test_password_login_off_refuses_evalsys_passwords_not_the_directory(
    client, direct, people, session
):
    direct.config["PASSWORD_LOGIN"] = "off"
    assert _login(client, "root", LOCAL_PASSWORD).status_code == 401
    assert _login(client, "zhangwei", LOCAL_PASSWORD).status_code == 401
    assert _login(client, "zhangwei", DIRECTORY_PASSWORD).status_code == 302
    assert _methods(session) == ["ldap"]


def test_user_page_shows_the_last_sign_in_method(app, client, direct, people, session):
    assert _login(client, "zhangwei", DIRECTORY_PASSWORD).status_code == 302
    client.post("/logout")
    assert _login(client, "root", LOCAL_PASSWORD).status_code == 302
    page = client.get("/admin/users/zhangwei").get_data(as_text=True)
    assert "Last session opened with: directory (LDAP)" in page
    page = client.get("/admin/users/root").get_data(as_text=True)
    assert "Last session opened with: evalsys password" in page


def test_no_invitations_for_directory_users(app, cli, direct, factory, session, client):
    factory.university()
    factory.user("root", "admin@U")
    factory.user("t_new", "teacher@CS-SE", password=None)
    factory.user("a_new", "admin@CS", password=None)
    direct.config["PASSWORD_LOGIN"] = "admins"
    r = cli("invite", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "would invite a_new" in r.output and "t_new" not in r.output
    assert "1 who may not use a password (PASSWORD_LOGIN)" in r.output
    # The user page offers no invitation, and a forged request is refused with the reason.
    direct.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_SENDER="evalsys@test", BASE_URL="https://evalsys.test"
    )
    assert _login(client, "root", LOCAL_PASSWORD).status_code == 302
    page = client.get("/admin/users/t_new").get_data(as_text=True)
    assert "/admin/users/t_new/invite" not in page
    assert "may sign in through the directory" in page
    r = client.post("/admin/users/t_new/invite")
    assert r.status_code == 400
    assert "may not use an evalsys password" in html.unescape(r.get_data(as_text=True))


@pytest.mark.parametrize("how", ["ldaps", "starttls"])
def test_tls_with_the_right_ca_logs_in(app, client, ldap_directory, people, session, how):
    settings = ldap_directory.direct_bind()
    if how == "ldaps":
        settings["LDAP_URL"] = ldap_directory.ldaps_url
    else:
        port = ldap_directory.url.rsplit(":", 1)[1]
        settings.update(LDAP_URL=f"ldap://localhost:{port}", LDAP_START_TLS=True)
    app.config.update(settings, LDAP_CA_FILE=ldap_directory.ca_file)
    assert _login(client, "zhangwei", DIRECTORY_PASSWORD).status_code == 302
    assert _methods(session) == ["ldap"]


@pytest.mark.parametrize(
    "wrong",
    [
        "other CA",
        # ldap3 drops the TLS socket of a name that does not match without closing it (the
        # garbage collector does, with a ResourceWarning).
        pytest.param("other name", marks=pytest.mark.filterwarnings("ignore::ResourceWarning")),
        "plain LDAP to the TLS port",
    ],
)
def test_tls_the_server_cannot_prove_itself_is_unavailable(
    app, client, ldap_directory, people, session, wrong
):
    """No password goes to a server whose certificate does not check out."""
    tls_port = ldap_directory.ldaps_url.rsplit(":", 1)[1]
    settings = {**ldap_directory.direct_bind(), "LDAP_CA_FILE": ldap_directory.ca_file}
    if wrong == "other CA":
        settings.update(
            LDAP_URL=ldap_directory.ldaps_url, LDAP_CA_FILE=ldap_directory.other_ca_file
        )
    elif wrong == "other name":  # the certificate names localhost, not 127.0.0.1
        settings["LDAP_URL"] = f"ldaps://127.0.0.1:{tls_port}"
    else:  # plain LDAP spoken to a TLS port
        settings["LDAP_URL"] = f"ldap://localhost:{tls_port}"
        settings["LDAP_TIMEOUT_SECONDS"] = 1
    app.config.update(settings)
    r = _login(client, "zhangwei", DIRECTORY_PASSWORD)
    assert r.status_code == 503
    assert str(DIRECTORY_UNAVAILABLE) in r.get_data(as_text=True)
    assert len(_actions(session, "ldap.unavailable")) == 1
