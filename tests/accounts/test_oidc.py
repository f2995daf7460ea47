"""Single sign-on through a real OpenID Connect provider (node-oidc-provider on loopback).

Each test plays the whole round: the app's redirect to the provider, the provider's login
page, the callback with the code, the token exchange and ID-token checks, the mapping to
an imported user. The refusals a provider cannot be made to produce (an ID token for
another client, a bad nonce, a forged signature, garbage) are in test_oidc_faults.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import func, select

from evalsys import create_app
from evalsys.accounts.models import AuditEvent, User, UserSession
from evalsys.accounts.views import LOGIN_FAILED, PASSWORDS_OFF
from tests.fixtures.oidc_provider import APP_BASE


@pytest.fixture
def sso(app, oidc_provider):
    app.config.update(oidc_provider.app_settings())
    return oidc_provider


@pytest.fixture
def people(factory):
    factory.university()
    dean = factory.user("dean_cs", "dean@CS", name="李院长")
    wang = factory.user("teacher_wang", "teacher@CS-SE", name="王老师")
    wang.email = "wang@cs.example.edu"
    admin = factory.user("office", "admin@U", name="Quality office")
    factory.session.add(wang)
    factory.session.commit()
    return {"dean": dean, "wang": wang, "admin": admin}


def _local(url: str) -> str:
    """The path and query of an address of the app (the test client has no host)."""
    assert url.startswith(APP_BASE + "/"), url
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def sign_in(client, browser, username: str, next_path: str | None = None):
    """The whole round; the app's answer to the callback."""
    start = client.get("/login/sso", query_string={"next": next_path} if next_path else {})
    assert start.status_code == 302, start.data
    back = browser.sign_in(start.headers["Location"], username)
    return client.get(_local(back))


def audits(session, action: str) -> list[AuditEvent]:
    session.commit()  # a new transaction: see what the app committed since
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(session.exec(stmt))


def test_sso_login_end_to_end(client, session, sso, people, idp_browser):
    page = client.get("/login")
    assert b"Sign in with your university account" in page.data
    assert b'href="/login/sso"' in page.data

    start = client.get("/login/sso", query_string={"next": "/units/CS"})
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    # The authorization request: code flow, PKCE S256, a state and a nonce.
    assert start.headers["Location"].startswith(sso.issuer + "/")
    assert query["response_type"] == ["code"] and query["client_id"] == ["evalsys"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == [APP_BASE + "/login/sso/callback"]

    back = idp_browser.sign_in(start.headers["Location"], "dean_cs")
    done = client.get(_local(back))
    assert done.status_code == 302 and done.headers["Location"] == "/units/CS"
    assert "李院长" in client.get("/").get_data(as_text=True)

    row = session.exec(select(UserSession).where(UserSession.user_id == people["dean"].id)).one()
    assert row.method == "oidc" and row.ended_at is None
    login = audits(session, "login")[-1]
    assert login.user_id == people["dean"].id and login.detail == "oidc"


def test_the_claim_can_come_from_the_id_token(client, session, app, sso, people, idp_browser):
    # "sub" is always in the ID token: no userinfo request is needed for it.
    app.config["OIDC_USER_CLAIM"] = "sub"
    done = sign_in(client, idp_browser, "dean_cs")
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert audits(session, "login")[-1].user_id == people["dean"].id


def test_match_by_email_ignores_case(client, session, app, sso, people, idp_browser):
    app.config.update(OIDC_USER_CLAIM="email", OIDC_MATCH="email")
    done = sign_in(client, idp_browser, "teacher_wang")  # Wang@CS.example.edu at the provider
    assert done.status_code == 302
    assert audits(session, "login")[-1].user_id == people["wang"].id


def test_an_unverified_email_is_refused(client, session, app, sso, people, idp_browser):
    app.config.update(OIDC_USER_CLAIM="email", OIDC_MATCH="email")
    # The provider's "unverified" account claims the dean's address, unverified.
    done = sign_in(client, idp_browser, "unverified")
    assert done.status_code == 400
    assert "failed a security check" in done.get_data(as_text=True)
    assert "not verified" in audits(session, "login.sso_refused")[-1].detail
    assert client.get("/").status_code == 302  # not logged in


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Your account is not set up in evalsys"), ("zh", "您的账号尚未在 evalsys 中开通")],
)
def test_an_unknown_identity_gets_a_page_and_no_account(
    client, session, sso, people, idp_browser, language, words
):
    users_before = session.exec(select(func.count()).select_from(User)).one()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    done = sign_in(client, idp_browser, "stranger")
    assert done.status_code == 403
    text = done.get_data(as_text=True)
    assert words in text and "stranger" in text
    assert session.exec(select(func.count()).select_from(User)).one() == users_before
    event = audits(session, "login.unknown")[-1]
    assert event.target == "stranger" and event.detail == "oidc" and event.user_id is None
    assert client.get("/").status_code == 302


def test_a_switched_off_account_is_refused(client, session, sso, people, idp_browser):
    people["dean"].active = False
    session.add(people["dean"])
    session.commit()
    done = sign_in(client, idp_browser, "dean_cs")
    assert done.status_code == 403
    assert "switched off" in done.get_data(as_text=True)
    assert audits(session, "login.inactive")[-1].target == "dean_cs"
    assert client.get("/").status_code == 302


def test_a_callback_from_another_browser_is_refused(client, app, session, sso, people, idp_browser):
    start = client.get("/login/sso")
    back = idp_browser.sign_in(start.headers["Location"], "dean_cs")
    # The attacker's browser never started this login: its session has no such state.
    other = app.test_client()
    done = other.get(_local(back))
    assert done.status_code == 400
    assert "state" in audits(session, "login.sso_refused")[-1].detail
    assert other.get("/").status_code == 302
    # The browser that did start it still can finish it: nothing was spent.
    assert client.get(_local(back)).status_code == 302


def test_a_tampered_state_and_a_reused_code_are_refused(client, session, sso, people, idp_browser):
    start = client.get("/login/sso")
    back = idp_browser.sign_in(start.headers["Location"], "dean_cs")
    state = parse_qs(urlsplit(back).query)["state"][0]
    tampered = _local(back).replace(state, state[:-2] + ("AA" if state[-2:] != "AA" else "BB"))
    assert client.get(tampered).status_code == 400
    assert client.get("/").status_code == 302

    assert client.get(_local(back)).status_code == 302  # the real one
    client.post("/logout")
    again = client.get(_local(back))  # its state was used: the same address is refused
    assert again.status_code == 400
    assert len(audits(session, "login.sso_refused")) == 2


def test_cancelling_at_the_provider(client, session, sso, people):
    start = client.get("/login/sso")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    done = client.get(f"/login/sso/callback?error=access_denied&state={state}")
    assert done.status_code == 401
    assert "cancelled" in done.get_data(as_text=True)
    assert audits(session, "login.sso_cancelled")


def test_logout_ends_the_provider_session_too(client, session, sso, people, idp_browser):
    sign_in(client, idp_browser, "dean_cs")
    assert idp_browser.saw_login_form
    out = client.post("/logout")
    assert out.status_code == 302
    end = out.headers["Location"]
    assert end.startswith(sso.issuer + "/")
    query = parse_qs(urlsplit(end).query)
    assert query["post_logout_redirect_uri"] == [APP_BASE + "/login"]
    assert query["id_token_hint"][0].count(".") == 2
    assert client.get("/").status_code == 302  # the evalsys session is over at once

    # The provider's sign-out page: confirm, and it sends the browser back to the login page.
    page = idp_browser.follow(end)
    action = page.text.split('action="', 1)[1].split('"', 1)[0]
    fields = dict(
        (part.split('value="', 1)[0].split('name="', 1)[1].split('"', 1)[0],
         part.split('value="', 1)[1].split('"', 1)[0])
        for part in page.text.split("<input")[1:]
        if 'name="' in part and 'value="' in part
    )  # fmt: skip
    confirmed = idp_browser.http.post(
        action if action.startswith("http") else sso.issuer + action,
        data={**fields, "logout": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert confirmed.headers["Location"] == APP_BASE + "/login"
    # The provider forgot the user: the next sign-in asks for the username again.
    sign_in(client, idp_browser, "dean_cs")
    assert idp_browser.saw_login_form


def test_the_provider_session_is_single_sign_on(client, app, sso, people, idp_browser):
    sign_in(client, idp_browser, "dean_cs")
    assert idp_browser.saw_login_form
    # Another evalsys session in the same browser (a new tab after the app's cookie went):
    # the provider still knows the user and asks nothing.
    done = sign_in(app.test_client(), idp_browser, "dean_cs")
    assert done.status_code == 302 and not idp_browser.saw_login_form


def test_password_login_off(client, app, session, sso, people, auth):
    app.config["PASSWORD_LOGIN"] = "off"
    page = client.get("/login").get_data(as_text=True)
    assert 'name="password"' not in page and "/login/sso" in page
    refused = auth.login("office")  # the right password, refused all the same
    assert refused.status_code == 403
    assert str(PASSWORDS_OFF) in refused.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert "Forgot your password" not in page


def test_password_login_for_admins_only(client, app, session, sso, people, auth):
    app.config["PASSWORD_LOGIN"] = "admins"
    page = client.get("/login").get_data(as_text=True)
    assert "Administrators may also log in" in page and 'name="password"' in page
    refused = auth.login("dean_cs")
    assert refused.status_code == 401 and str(LOGIN_FAILED) in refused.get_data(as_text=True)
    assert auth.login("office").status_code == 302


def test_the_button_label_follows_the_language(client, app, sso, people):
    app.config["OIDC_LABEL"] = {"zh": "统一身份认证登录", "en": "University single sign-on"}
    assert "University single sign-on" in client.get("/login").get_data(as_text=True)
    zh = client.get("/login", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "统一身份认证登录" in zh


def test_an_unknown_password_login_setting_stops_the_start(database_url, tmp_path):
    with pytest.raises(ValueError, match="PASSWORD_LOGIN"):
        create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "x",
                "DATABASE_URL": database_url,
                "PASSWORD_LOGIN": "sometimes",
                "INSTANCE_PATH": str(tmp_path),
            }
        )


def test_without_sso_there_is_no_button_and_no_route(client, people):
    assert b"/login/sso" not in client.get("/login").data
    assert client.get("/login/sso").status_code == 404


def test_the_logout_may_go_on_to_the_provider_and_nowhere_else(client, app, oidc_provider):
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self';" in policy
    app.config.update(oidc_provider.app_settings())
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert f"form-action 'self' {oidc_provider.issuer};" in policy
    # Only the origin goes into the policy: a path cannot add a directive...
    app.config["OIDC_ISSUER"] = "https://idp.example.edu/realms/x'; script-src *"
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self' https://idp.example.edu;" in policy and "*" not in policy
    # ...and a host that is not a plain host adds nothing.
    app.config["OIDC_ISSUER"] = "https://idp.example.edu';script-src:*/"
    assert "form-action 'self';" in client.get("/login").headers["Content-Security-Policy"]


def test_sso_check_reads_the_provider_and_says_what_to_register(app, cli, oidc_provider):
    app.config.update(oidc_provider.app_settings())
    result = cli("sso-check")
    assert result.exit_code == 0, result.output
    assert "Register redirect URI:  http://localhost/login/sso/callback" in result.output
    assert "Register logout URI:    http://localhost/login" in result.output
    assert f"end_session_endpoint: {oidc_provider.issuer}/session/end" in result.output
    assert "BASE_URL is plain http" in result.output  # a warning, not a problem
    assert "ready" in result.output


def test_sso_check_fails_on_a_wrong_issuer_or_a_dead_provider(app, cli, oidc_provider):
    app.config.update(oidc_provider.app_settings(OIDC_ISSUER=oidc_provider.issuer + "/realm"))
    result = cli("sso-check")
    assert result.exit_code == 1 and "could not be read" in result.output  # 404 there
    app.config.update(OIDC_ISSUER=oidc_provider.issuer.replace("127.0.0.1", "localhost"))
    result = cli("sso-check")
    assert result.exit_code == 1
    assert f"calls itself '{oidc_provider.issuer}'" in result.output
    app.config.update(OIDC_ISSUER="", OIDC_CLIENT_ID="")
    result = cli("sso-check")
    assert result.exit_code == 1 and "OIDC_ISSUER is not set" in result.output
