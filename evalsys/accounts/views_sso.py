"""The single sign-on pages: ``/login/sso`` sends the browser to the university's OpenID
Connect provider, ``/login/sso/callback`` takes it back.

The callback answers each fault in words its reader can act on: a provider that cannot
be reached (try later; the password login still works where the site keeps it), a
sign-in the user cancelled, an answer that failed a security check (audited, since it
may be an attack), and an identity nobody imported (audited; no account is made).
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask import session as flask_session
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from evalsys.accounts import mails, oidc, service, signin
from evalsys.accounts.access import public
from evalsys.accounts.models import SignInMethod
from evalsys.accounts.views import bp, login_page, safe_next
from evalsys.db import get_session
from evalsys.i18n import current_locale

SSO_UNAVAILABLE = _l(
    "The university's sign-in service cannot be reached just now. Try again in a few minutes."
)
SSO_CANCELLED = _l("Sign-in was cancelled at the university's sign-in service.")
SSO_REFUSED = _l(
    "Sign-in could not be completed: the answer from the university's sign-in service "
    "failed a security check. Start again from this page."
)
#: Where the page to return to after the provider waits (the ``next`` of the login page).
NEXT_KEY = "_sso_next"


def _redirect_uri() -> str:
    """The callback address the provider sends the browser back to: under BASE_URL where
    it is set (the address registered with the provider), else this request's host."""
    base = mails.base_url(current_app.config)
    if base:
        return base + url_for("accounts.sso_callback")
    return url_for("accounts.sso_callback", _external=True)


def _failed(action: str, error: oidc.SsoError, message: str, status: int) -> ResponseReturnValue:
    session = get_session()
    service.audit(session, action, user_id=None, detail=error.reason, ip=request.remote_addr)
    session.commit()
    current_app.logger.warning("single sign-on: %s: %s", action, error.reason)
    flash(message, "error")
    return login_page(), status


@bp.route("/login/sso")
@public
def sso_login() -> ResponseReturnValue:
    if not oidc.configured(current_app.config):
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    flask_session[NEXT_KEY] = safe_next(request.args.get("next")) or url_for("home.index")
    try:
        answer: ResponseReturnValue = oidc.authorize_redirect(
            _redirect_uri(), locale=current_locale()
        )
        return answer
    except oidc.Unavailable as exc:
        return _failed("login.sso_unavailable", exc, str(SSO_UNAVAILABLE), 503)


@bp.route("/login/sso/callback")
@public
def sso_callback() -> ResponseReturnValue:
    if not oidc.configured(current_app.config):
        abort(404)
    try:
        identity = oidc.complete()
    except oidc.Cancelled as exc:
        return _failed("login.sso_cancelled", exc, str(SSO_CANCELLED), 401)
    except oidc.Refused as exc:
        return _failed("login.sso_refused", exc, str(SSO_REFUSED), 400)
    except oidc.Unavailable as exc:
        return _failed("login.sso_unavailable", exc, str(SSO_UNAVAILABLE), 503)
    session = get_session()
    match = signin.match_setting(current_app.config, "OIDC_MATCH")
    user = signin.find_user(session, identity.value, match)
    if user is None or not user.active:
        return signin.unknown_identity_page(
            session, SignInMethod.OIDC, identity.value, user=user, ip=request.remote_addr
        )
    next_url = flask_session.pop(NEXT_KEY, None) or url_for("home.index")
    # Kept for the logout, which asks the provider to end its session too.
    flask_session[oidc.ID_TOKEN_KEY] = identity.id_token
    return signin.finish(session, user, SignInMethod.OIDC, next_url)
