"""Login and logout."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as flask_session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from evalsys.accounts import directory, mails, oidc, service, sessions, signin
from evalsys.accounts.access import login_required, public
from evalsys.accounts.forms import LoginForm, LogoutForm
from evalsys.accounts.models import SessionEnd
from evalsys.db import get_session
from evalsys.i18n import current_locale
from evalsys.security import ratelimit

bp = Blueprint("accounts", __name__)

#: The one answer for an unknown user, a wrong password and a disabled account.
LOGIN_FAILED = _l("Unknown username or wrong password.")
#: The answer when the directory (LDAP) could not be asked and no evalsys password matched.
DIRECTORY_UNAVAILABLE = _l(
    "The directory could not be reached to check your password. Try again in a few "
    "minutes; if it keeps happening, tell the IT service desk."
)
#: The answer once too many logins failed (for a username or from an address), with the wait.
LOGIN_LIMITED = _l("Too many failed logins. Wait %(wait)s and try again, or ask an administrator.")
#: Why the login page is shown again when a session ended without its user logging out.
#: The single sign-on button where the site gave it no text of its own.
SSO_BUTTON = _l("Sign in with your university account")
#: The answer to a login form posted where the site has switched password login off.
PASSWORDS_OFF = _l("Password login is switched off on this site: use the button above.")
SESSION_EXPIRED = _l("Your session has expired. Please log in again.")
SESSION_ENDED = _l(
    "You were logged out because your password or roles changed. Please log in again."
)
SECOND_FACTOR_RESET = _l(
    "You were logged out because an administrator reset your second factor. Log in again "
    "to set it up anew."
)
#: Where the user loader leaves the reason for the next page to say (``evalsys.web``).
ENDED_KEY = "_session_ended"


def flash_session_end() -> bool:
    """Say once why the session ended; False when there is nothing to say."""
    reason = flask_session.pop(ENDED_KEY, None)
    if reason == SessionEnd.EXPIRED:
        flash(str(SESSION_EXPIRED), "info")
    elif reason in (SessionEnd.PASSWORD, SessionEnd.ROLES):
        flash(str(SESSION_ENDED), "info")
    elif reason == SessionEnd.SECOND_FACTOR:
        flash(str(SECOND_FACTOR_RESET), "info")
    else:
        return False
    return True


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: ``next=//evil.example`` must not become an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    if request.method == "GET":
        flash_session_end()
    if request.method == "POST" and not _form_offered(current_app.config):
        flash(str(PASSWORDS_OFF), "error")
        return login_page(), 403
    form = LoginForm()
    session = get_session()
    if form.validate_on_submit():
        limits = ratelimit.Limits.of(current_app)
        ip = request.remote_addr or ""
        wait = ratelimit.retry_after(session, username=form.username.data, ip=ip, limits=limits)
        if wait is not None:
            # Checked before the password: a blocked try learns nothing, for any username.
            service.audit(
                session, "login.limited", user_id=None, target=form.username.data[:80], ip=ip
            )
            session.commit()
            flash(LOGIN_LIMITED % {"wait": ratelimit.minutes(wait)}, "error")
            response = make_response(login_page(form), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        refusal, status = LOGIN_FAILED, 401
        try:
            found = signin.check_credentials(
                session, current_app.config, form.username.data, form.password.data, ip=ip
            )
        except signin.UnknownIdentity as unknown:
            ratelimit.record(session, username=form.username.data, ip=ip, succeeded=False)
            return signin.unknown_identity_page(session, unknown.method, unknown.identity, ip=ip)
        except directory.Unavailable:
            found, refusal, status = None, DIRECTORY_UNAVAILABLE, 503
        if found is None:
            # A success is recorded when the login completes (after a second factor, if any).
            ratelimit.record(session, username=form.username.data, ip=ip, succeeded=False)
            service.audit(
                session,
                "login.failed",
                user_id=None,
                target=form.username.data[:80],
                ip=request.remote_addr,
            )
            session.commit()
            flash(str(refusal), "error")
            return login_page(form), status
        user, method = found
        next_url = safe_next(request.args.get("next")) or url_for("home.index")
        return signin.finish(session, user, method, next_url)
    status = 400 if form.errors else 200
    return login_page(form), status


def _form_offered(config: Any) -> bool:
    """Is there a username-and-password form: passwords (for some) or the directory?"""
    return signin.password_login(config) is not signin.PasswordLogin.OFF or bool(
        config.get("LDAP_URL")
    )


def login_page(form: LoginForm | None = None) -> str:
    """The login page: the single sign-on button where the site has one, the username and
    password form where passwords or the directory are used, each as the site set it."""
    config = current_app.config
    mode = signin.password_login(config)
    form_shown = _form_offered(config)
    # "Forgot your password?" only where a reset email can be sent and a password used.
    forgot = mode is not signin.PasswordLogin.OFF and not mails.missing_settings(config)
    sso = None
    if oidc.configured(config):
        label = oidc.button_label(config, current_locale())
        sso = {
            "url": url_for("accounts.sso_login", next=safe_next(request.args.get("next"))),
            "label": label or str(SSO_BUTTON),
        }
    return render_template(
        "accounts/login.html",
        form=(form or LoginForm()) if form_shown else None,
        forgot=forgot,
        sso=sso,
        admins_only=mode is signin.PasswordLogin.ADMINS and not config.get("LDAP_URL"),
    )


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    form = LogoutForm()
    if form.validate_on_submit():
        session = get_session()
        raw = flask_session.pop(sessions.SESSION_KEY, None)
        id_token = flask_session.pop(oidc.ID_TOKEN_KEY, None)
        sessions.end(session, raw, SessionEnd.LOGOUT)  # a copy of the cookie dies too
        service.audit(session, "logout", user_id=current_user.id, ip=request.remote_addr)
        session.commit()
        logout_user()
        flash(_("You are logged out."), "info")
        # An SSO session ends at the provider too, which then sends the browser back here.
        elsewhere = _provider_logout(id_token)
        if elsewhere:
            return redirect(elsewhere)
    return redirect(url_for("accounts.login"))


def _provider_logout(id_token: str | None) -> str | None:
    """The provider's end-session address for an SSO login (RP-initiated logout), or None."""
    if not id_token or not oidc.configured(current_app.config):
        return None
    base = mails.base_url(current_app.config)
    back = base + url_for("accounts.login") if base else url_for("accounts.login", _external=True)
    return oidc.logout_url(id_token, back)
