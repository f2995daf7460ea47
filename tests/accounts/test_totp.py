"""The second factor, end to end through the pages, with real codes made by pyotp.

The site's clock is stopped (``site_clock``) and moved by whole 30-second steps, so which
code is current, which is one step old and which was used already is exact, not a race
with the wall clock. What a broken implementation would get wrong: a pending login taken
for a login, a code accepted twice, a recovery code accepted twice, wrong codes that the
password step's success wipes from the rate limit, a pending login that outlives its five
minutes or its use, an admin switching off what the site requires.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlmodel import select

from evalsys import clock
from evalsys.accounts import totp
from evalsys.accounts.models import AuditEvent, RecoveryCode, User, UserSession

T0 = datetime(2026, 12, 7, 2, 0, 0, tzinfo=UTC)  # on a step boundary
STEP = timedelta(seconds=30)
HOME = "/feedback/mine"  # any page every logged-in user may open


@pytest.fixture
def world(app, factory, site_clock):
    site_clock.at(T0)
    factory.university()
    factory.user("root", "admin@U", name="校管理员")
    factory.user("cs.admin", "admin@CS")
    factory.user("t.zhang", "teacher@CS-SE", name="张伟")
    return app


class Moving:
    """The site's clock, moved on by steps."""

    def __init__(self, site_clock) -> None:
        self.site_clock = site_clock
        self.now = T0

    def step(self, n: int = 1) -> None:
        self.now += STEP * n
        self.site_clock.at(self.now)

    def wait(self, delta: timedelta) -> None:
        self.now += delta
        self.site_clock.at(self.now)


@pytest.fixture
def moving(site_clock) -> Moving:
    return Moving(site_clock)


def _user(session, username: str) -> User:
    session.rollback()
    session.expire_all()
    return session.exec(select(User).where(User.username == username)).one()


def _events(session, action: str) -> list[AuditEvent]:
    session.rollback()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def _code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.utcnow() + STEP * offset_steps)


def _enrol(session, username: str, moving: Moving) -> tuple[str, list[str]]:
    """Switch the second factor on through the service (as the enrol page does), then move
    the clock a step on, so that the next code is a fresh one."""
    user = _user(session, username)
    secret = totp.pending_secret(session, user)
    codes = totp.enable(session, user, _code(secret))
    assert codes is not None
    session.commit()
    moving.step()
    return secret, codes


def _login(client, username: str):
    return client.post(
        f"/login?next={HOME}", data={"username": username, "password": "correct horse battery"}
    )


def _logged_in(client) -> bool:
    return client.get(HOME).status_code == 200


def _secret_on_page(html: str) -> str:
    match = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert match, "the key in groups of four is on the page"
    return match.group(1).replace(" ", "")


# --- required of school admins ---------------------------------------------------------


def test_required_admin_enrols_at_login_end_to_end(world, client, session, moving):
    world.config["ADMIN_TOTP_REQUIRED"] = True
    response = _login(client, "root")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/enrol"
    # Not logged in: every page sends the browser to the login page.
    for path in ("/", HOME, "/account/security", "/admin/users/"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], path
    assert client.get("/login/verify").headers["Location"] == "/login/enrol"

    page = client.get("/login/enrol")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    secret = _secret_on_page(html)
    assert re.search(r"[A-Z2-7]{4} [A-Z2-7]{4} ", html)
    assert "<svg" in html and "otpauth://totp/evalsys:root?secret=" + secret in html
    assert _user(session, "root").totp_enabled_at is None  # not on until confirmed
    # A reload shows the same key: whoever scanned it is not lost.
    assert _secret_on_page(client.get("/login/enrol").get_data(as_text=True)) == secret

    wrong = client.post("/login/enrol", data={"code": "000000"})
    assert wrong.status_code == 400 and "not right" in wrong.get_data(as_text=True)
    assert not _logged_in(client)
    assert [e.detail for e in _events(session, "login.totp_failed")] == ["enrol at login"]

    done = client.post("/login/enrol", data={"code": _code(secret)})
    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    codes = re.findall(
        r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True)
    )
    assert len(codes) == 10 and len(set(codes)) == 10
    assert f'href="{HOME}"' in done.get_data(as_text=True)
    assert _logged_in(client)

    root = _user(session, "root")
    assert root.totp_enabled_at is not None and root.totp_secret == secret
    stored = session.exec(
        select(RecoveryCode.code_hash).where(RecoveryCode.user_id == root.id)
    ).all()
    assert len(stored) == 10 and not set(stored) & set(codes)  # digests, not the codes
    assert len(_events(session, "totp.enable")) == 1
    assert [e.detail for e in _events(session, "login")] == [None]  # a password login

    # The next login asks for a code, not for enrolment.
    client.post("/logout")
    moving.step()
    assert _login(client, "root").headers["Location"] == "/login/verify"
    assert client.get("/login/enrol").headers["Location"] == "/login/verify"


def test_a_non_admin_and_a_college_admin_are_not_asked(world, client, session):
    world.config["ADMIN_TOTP_REQUIRED"] = True
    for username in ("t.zhang", "cs.admin"):
        response = _login(client, username)
        assert response.headers["Location"] == HOME, username
        assert _logged_in(client)
        client.post("/logout")
    assert _events(session, "totp.enable") == []


def test_not_required_when_the_site_does_not_ask(world, client):
    assert _login(client, "root").headers["Location"] == HOME


# --- codes at login --------------------------------------------------------------------


def test_a_right_code_logs_in_and_works_once(world, app, session, moving):
    secret, _codes = _enrol(session, "t.zhang", moving)
    first = app.test_client()
    assert _login(first, "t.zhang").headers["Location"] == "/login/verify"
    assert not _logged_in(first)
    page = first.get("/login/verify")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    code = _code(secret)
    answer = first.post("/login/verify", data={"code": code[:3] + " " + code[3:]})
    assert answer.status_code == 302 and answer.headers["Location"] == HOME
    assert _logged_in(first)
    assert [e.detail for e in _events(session, "login")] == [None]  # a password login

    # The same code, in the same 30 seconds, from another browser: refused.
    second = app.test_client()
    _login(second, "t.zhang")
    again = second.post("/login/verify", data={"code": code})
    assert again.status_code == 401
    assert "used already" in again.get_data(as_text=True)
    assert not _logged_in(second)
    assert [e.detail for e in _events(session, "login.totp_failed")] == ["login"]
    # A code from the step before the one used is older still: refused too.
    assert second.post("/login/verify", data={"code": _code(secret, -1)}).status_code == 401
    # The next step's code works.
    moving.step()
    assert second.post("/login/verify", data={"code": _code(secret)}).status_code == 302
    assert _logged_in(second)


def test_one_step_either_side_is_accepted_two_are_not(world, app, session, moving):
    secret, _codes = _enrol(session, "t.zhang", moving)
    moving.step(5)
    client = app.test_client()
    _login(client, "t.zhang")
    assert client.post("/login/verify", data={"code": _code(secret, -2)}).status_code == 401
    assert client.post("/login/verify", data={"code": _code(secret, 2)}).status_code == 401
    assert client.post("/login/verify", data={"code": _code(secret, -1)}).status_code == 302
    other = app.test_client()
    _login(other, "t.zhang")
    assert other.post("/login/verify", data={"code": _code(secret, 1)}).status_code == 302


def test_wrong_codes_are_audited_and_hit_the_login_limit(world, app, session, moving):
    secret, _codes = _enrol(session, "t.zhang", moving)
    client = app.test_client()
    for attempt in range(5):
        # Typing the password again (a success of the first step) does not wipe the count.
        assert _login(client, "t.zhang").headers["Location"] == "/login/verify", attempt
        assert client.post("/login/verify", data={"code": "123456"}).status_code == 401
    assert len(_events(session, "login.totp_failed")) == 5
    # The right code is refused now, and so is the password, until the window passes.
    blocked = client.post("/login/verify", data={"code": _code(secret)})
    assert blocked.status_code == 429 and blocked.headers["Retry-After"]
    assert "Too many failed logins" in blocked.get_data(as_text=True)
    assert not _logged_in(client)
    assert _login(client, "t.zhang").status_code == 429
    moving.wait(timedelta(minutes=16))
    assert _login(client, "t.zhang").headers["Location"] == "/login/verify"
    assert client.post("/login/verify", data={"code": _code(secret)}).status_code == 302


def test_a_recovery_code_works_once(world, app, session, moving):
    _secret, codes = _enrol(session, "t.zhang", moving)
    client = app.test_client()
    _login(client, "t.zhang")
    answer = client.post("/login/verify", data={"code": codes[3].upper()}, follow_redirects=True)
    assert answer.status_code == 200
    assert "9 recovery codes are left" in answer.get_data(as_text=True)
    (event,) = _events(session, "login.recovery_code")
    assert event.detail == "9 left"
    user = _user(session, "t.zhang")
    used = session.exec(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at != None)  # noqa: E711
    ).all()
    assert len(used) == 1

    client.post("/logout")
    _login(client, "t.zhang")
    again = client.post("/login/verify", data={"code": codes[3]})
    assert again.status_code == 401 and not _logged_in(client)
    assert client.post("/login/verify", data={"code": codes[4]}).status_code == 302


def test_an_expired_pending_login_goes_back_to_the_login_page(world, client, session, moving):
    secret, _codes = _enrol(session, "t.zhang", moving)
    _login(client, "t.zhang")
    moving.wait(timedelta(minutes=5, seconds=1))
    answer = client.post("/login/verify", data={"code": _code(secret)})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert "took too long" in client.get("/login").get_data(as_text=True)
    assert not _logged_in(client)
    assert _user(session, "t.zhang").totp_last_step is not None
    assert _events(session, "login") == []


def test_a_used_pending_login_cannot_be_replayed(world, app, session, moving):
    secret, _codes = _enrol(session, "t.zhang", moving)
    client = app.test_client()
    _login(client, "t.zhang")
    parked = client.get_cookie("session").value
    assert client.post("/login/verify", data={"code": _code(secret)}).status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", parked)
    moving.step()
    answer = thief.post("/login/verify", data={"code": _code(secret)})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert not _logged_in(thief)
    assert len(session.exec(select(UserSession)).all()) == 1


def test_an_unknown_code_shape_is_refused_clearly(world, client, session, moving):
    _enrol(session, "t.zhang", moving)
    _login(client, "t.zhang")
    empty = client.post("/login/verify", data={"code": ""})
    assert empty.status_code == 400 and "Enter the code." in empty.get_data(as_text=True)
    assert client.post("/login/verify", data={"code": "x" * 41}).status_code == 400
    assert client.get("/login/verify").status_code == 200  # the pending login is still there


# --- the user's own page ---------------------------------------------------------------


def test_self_service_enrol_regenerate_and_disable(world, client, session, moving):
    _login(client, "t.zhang")
    page = client.get("/account/security").get_data(as_text=True)
    assert "Off: you log in with your password alone" in page
    enrol = client.get("/account/security/enrol")
    secret = _secret_on_page(enrol.get_data(as_text=True))
    done = client.post("/account/security/enrol", data={"code": _code(secret)})
    old = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", done.get_data(as_text=True))
    assert len(old) == 10
    assert "10 unused recovery codes left" in client.get("/account/security").get_data(as_text=True)

    # New recovery codes need a current code: the one just used is not one.
    refused = client.post(
        "/account/security/recovery-codes", data={"regenerate-code": _code(secret)}
    )
    assert refused.status_code == 400
    assert [e.detail for e in _events(session, "login.totp_failed")] == ["recovery codes"]
    moving.step()
    fresh = client.post("/account/security/recovery-codes", data={"regenerate-code": _code(secret)})
    new = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", fresh.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert "Your old recovery codes no longer work" in fresh.get_data(as_text=True)
    assert len(_events(session, "recovery_codes.regenerate")) == 1

    # Off with the password (a wrong one is refused and counted).
    wrong = client.post("/account/security/disable", data={"disable-password": "not it"})
    assert wrong.status_code == 400 and totp.enabled(_user(session, "t.zhang"))
    off = client.post(
        "/account/security/disable", data={"disable-password": "correct horse battery"}
    )
    assert off.status_code == 302
    user = _user(session, "t.zhang")
    assert user.totp_secret is None and user.totp_enabled_at is None
    assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    (event,) = _events(session, "totp.disable")
    assert event.detail == "before: on, 10 recovery codes left; after: off"
    client.post("/logout")
    assert _login(client, "t.zhang").headers["Location"] == HOME


def test_a_required_admin_cannot_switch_it_off(world, client, session, moving):
    world.config["ADMIN_TOTP_REQUIRED"] = True
    secret, _codes = _enrol(session, "root", moving)
    _login(client, "root")
    client.post("/login/verify", data={"code": _code(secret)})
    assert _logged_in(client)
    page = client.get("/account/security").get_data(as_text=True)
    assert "it stays on" in page and "/account/security/disable" not in page
    moving.step()
    answer = client.post(
        "/account/security/disable",
        data={"disable-code": _code(secret), "disable-password": "correct horse battery"},
    )
    assert answer.status_code == 403
    assert totp.enabled(_user(session, "root"))
    assert _events(session, "totp.disable") == []


# --- the administrator's reset ---------------------------------------------------------


def test_an_admin_reset_clears_the_factor_and_ends_the_sessions(world, app, session, moving):
    secret, _codes = _enrol(session, "t.zhang", moving)
    teacher = app.test_client()
    _login(teacher, "t.zhang")
    teacher.post("/login/verify", data={"code": _code(secret)})
    assert _logged_in(teacher)

    outsider = app.test_client()
    outsider.post("/login", data={"username": "root", "password": "correct horse battery"})
    page = outsider.get("/admin/users/t.zhang").get_data(as_text=True)
    assert "On since" in page and "Reset the second factor" in page
    answer = outsider.post("/admin/users/t.zhang/second-factor/reset")
    assert answer.status_code == 302

    user = _user(session, "t.zhang")
    assert user.totp_secret is None and user.totp_enabled_at is None and user.totp_last_step is None
    assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    assert not _logged_in(teacher)
    # The teacher's next page says why: not "your password or roles changed".
    said = teacher.get("/login", follow_redirects=True).get_data(as_text=True)
    assert "an administrator reset your second factor" in said
    ended = session.exec(select(UserSession.end_reason).where(UserSession.user_id == user.id))
    assert set(ended.all()) == {"second_factor"}
    (event,) = _events(session, "totp.reset")
    assert event.target == "t.zhang"
    assert event.detail == "before: on, 10 recovery codes left; after: off; 1 sessions ended"
    root = _user(session, "root")
    assert event.user_id == root.id
    # Nothing left to reset: the page says so, and nothing is written.
    again = outsider.post("/admin/users/t.zhang/second-factor/reset")
    assert again.status_code == 400 and "no second factor to reset" in again.get_data(as_text=True)
    assert "Off" in outsider.get("/admin/users/t.zhang").get_data(as_text=True)
    # The teacher logs in with the password alone now.
    assert _login(teacher, "t.zhang").headers["Location"] == HOME


def test_an_admin_of_another_college_cannot_reset(world, app, factory, session, moving):
    factory.user("m.admin", "admin@MATH")
    _enrol(session, "t.zhang", moving)
    client = app.test_client()
    client.post("/login", data={"username": "m.admin", "password": "correct horse battery"})
    assert client.post("/admin/users/t.zhang/second-factor/reset").status_code == 404
    assert totp.enabled(_user(session, "t.zhang"))


def test_the_reset_form_needs_its_csrf_token(world, session, moving):
    world.config["WTF_CSRF_ENABLED"] = True
    _enrol(session, "t.zhang", moving)
    client = world.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post(
        "/login",
        data={"username": "root", "password": "correct horse battery", "csrf_token": token},
    )
    assert _logged_in(client)
    assert client.post("/admin/users/t.zhang/second-factor/reset").status_code == 400
    assert totp.enabled(_user(session, "t.zhang"))


# --- every way in ends in the same check -------------------------------------------------


def test_single_sign_on_stops_at_the_second_factor_too(
    app, client, session, factory, oidc_provider, idp_browser
):
    """The provider's login is the first step only: a required school admin coming back
    from it sets up the app before being logged in, and the login is recorded as SSO."""
    from tests.accounts.test_oidc import sign_in

    app.config.update(oidc_provider.app_settings(), ADMIN_TOTP_REQUIRED=True)
    factory.university()
    # An identity the provider knows, imported here as a school admin.
    factory.user("dean_cs", "admin@U", name="李院长")
    back = sign_in(client, idp_browser, "dean_cs", next_path="/admin/users/")
    assert back.status_code == 302 and back.headers["Location"] == "/login/enrol"
    assert client.get("/admin/users/").status_code == 302  # not logged in
    secret = _secret_on_page(client.get("/login/enrol").get_data(as_text=True))
    done = client.post("/login/enrol", data={"code": _code(secret)})
    assert 'href="/admin/users/"' in done.get_data(as_text=True)
    assert client.get("/admin/users/").status_code == 200
    (row,) = session.exec(select(UserSession)).all()
    assert row.method == "oidc"


def test_two_requests_with_one_code_cannot_both_win(world, session, moving):
    """Two workers each loaded the user before either wrote: the step is taken by one
    conditional UPDATE, so the second is refused although its copy looks unused."""
    from sqlmodel import Session

    from evalsys.db import get_engine

    secret, _codes = _enrol(session, "t.zhang", moving)
    code = _code(secret)
    engine = get_engine(world)
    with Session(engine) as one, Session(engine, expire_on_commit=False) as two:
        first = one.exec(select(User).where(User.username == "t.zhang")).one()
        second = two.exec(select(User).where(User.username == "t.zhang")).one()
        two.commit()  # its copy stays as read (SQLite would refuse a write after this read)
        assert totp.check_code(one, first, code)
        one.commit()
        assert not totp.check_code(two, second, code)
        two.commit()
