"""The second factor's pages: its step at login, and the user's own security page.

- ``/login/verify`` and ``/login/enrol`` (public, but only with a pending login,
  ``accounts.pending``): a code from the app or a recovery code; or, for a school admin
  the site requires it of who has none yet, setting the app up first. Only a right code
  logs in (``signin._complete``). A wrong one counts as a failed login of the username
  (``security.ratelimit``) and is audited (``login.totp_failed``).
- ``/account/security`` (logged in): set the app up, see how many recovery codes are
  left, make a new set (a current code required), switch it off (a code or the password;
  refused to a school admin while ``ADMIN_TOTP_REQUIRED`` is on). Wrong codes and
  passwords count against the login limit here too: a borrowed session is no way round it.

Pages that show a secret or recovery codes are not cached (``no-store``).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup
from sqlmodel import Session
from werkzeug.wrappers import Response

from evalsys.accounts import pending, service, signin, totp
from evalsys.accounts.access import login_required, public
from evalsys.accounts.forms_totp import CodeForm, DisableForm
from evalsys.accounts.models import User
from evalsys.accounts.views import LOGIN_LIMITED, bp
from evalsys.db import get_session
from evalsys.security import ratelimit

PENDING_GONE = _l("Your sign-in took too long, or was finished already. Please log in again.")
WRONG_CODE = _l("This code is not right, or was used already. Wait for the next one.")
WRONG_CODE_OR_RECOVERY = _l(
    "This code is not right, or was used already. Wait for the next code, or enter an "
    "unused recovery code."
)


def _ip() -> str:
    return request.remote_addr or ""


def _no_store(page: str, status: int = 200) -> Response:
    """A page with a secret or recovery codes on it: kept by no cache, sent on as no Referer."""
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _limited(session: Session, user: User, page: Callable[[], str]) -> Response | None:
    """429 (audited) while the username is over the login limit; checked before the code,
    so a blocked try learns nothing."""
    limits = ratelimit.Limits.of(current_app)
    wait = ratelimit.retry_after(session, username=user.username, ip=_ip(), limits=limits)
    if wait is None:
        return None
    service.audit(session, "login.limited", user_id=user.id, target=user.username, ip=_ip())
    session.commit()
    flash(LOGIN_LIMITED % {"wait": ratelimit.minutes(wait)}, "error")
    response = make_response(page(), 429)
    response.headers["Retry-After"] = str(wait)
    return response


def _failed(session: Session, user: User, where: str) -> None:
    """A wrong code (or password): audited, and counted as a failed login of the username."""
    ratelimit.record(session, username=user.username, ip=_ip(), succeeded=False)
    service.audit(
        session, "login.totp_failed", user_id=user.id, target=user.username, detail=where, ip=_ip()
    )
    session.commit()


def _back_to_login() -> Response:
    flash(str(PENDING_GONE), "info")
    return redirect(url_for("accounts.login"))


def _enrol_page(user: User, secret: str, form: CodeForm, *, at_login: bool) -> str:
    address = totp.uri(user, secret)
    return render_template(
        "accounts/totp_enrol.html",
        form=form,
        grouped=totp.grouped(secret),
        uri=address,
        # segno escapes the title; the rest of the SVG is its own drawing.
        qr=Markup(totp.qr_svg(address, str(_("QR code to scan with your authenticator app")))),
        at_login=at_login,
    )


def _codes_page(codes: list[str], next_url: str, *, first: bool) -> Response:
    page = render_template("accounts/totp_codes.html", codes=codes, next_url=next_url, first=first)
    return _no_store(page)


# --- at login -------------------------------------------------------------------------


@bp.route("/login/verify", methods=["GET", "POST"])
@public
def login_verify() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    session = get_session()
    found = pending.current(session)
    if found is None:
        return _back_to_login()
    user = found.user
    if not totp.enabled(user):  # reset by an administrator meanwhile
        if totp.required(session, current_app.config, user):
            return redirect(url_for("accounts.login_enrol"))
        pending.drop()
        return _back_to_login()
    form = CodeForm()
    if form.validate_on_submit():
        blocked = _limited(session, user, lambda: _verify_page(form))
        if blocked is not None:
            return blocked
        code = form.code.data
        by_app = totp.check_code(session, user, code)
        if by_app or totp.use_recovery_code(session, user, code, ip=_ip()):
            pending.drop()
            if not by_app:
                left = totp.remaining_codes(session, user)
                flash(
                    ngettext(
                        "You signed in with a recovery code. %(num)d recovery code is left: "
                        "make a new set on your security page before it runs out.",
                        "You signed in with a recovery code. %(num)d recovery codes are left: "
                        "make a new set on your security page before they run out.",
                        left,
                    ),
                    "error" if left <= 2 else "info",
                )
            return signin._complete(session, user, found.method, found.next_url)
        session.rollback()
        _failed(session, user, "login")
        form.code.errors = [str(WRONG_CODE_OR_RECOVERY)]
        return _no_store(_verify_page(form), 401)
    return _no_store(_verify_page(form), 400 if form.errors else 200)


def _verify_page(form: CodeForm) -> str:
    return render_template("accounts/totp_verify.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@public
def login_enrol() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    session = get_session()
    found = pending.current(session)
    if found is None:
        return _back_to_login()
    user = found.user
    if totp.enabled(user):
        return redirect(url_for("accounts.login_verify"))
    if not totp.required(session, current_app.config, user):
        pending.drop()
        return _back_to_login()

    def done(codes: list[str]) -> ResponseReturnValue:
        pending.drop()
        signin._complete(session, user, found.method, found.next_url)
        return _codes_page(codes, found.next_url, first=True)

    return _enrol(session, user, at_login=True, done=done)


def _enrol(
    session: Session,
    user: User,
    *,
    at_login: bool,
    done: Callable[[list[str]], ResponseReturnValue],
) -> ResponseReturnValue:
    """The enrolment form, at a login or from the security page: the key (kept until a
    first code confirms it), then ``done`` with the recovery codes. Wrong codes count
    against the login rate limit, as at the login itself."""
    secret = totp.pending_secret(session, user)
    session.commit()
    form = CodeForm()

    def page() -> str:
        return _enrol_page(user, secret, form, at_login=at_login)

    if form.validate_on_submit():
        blocked = _limited(session, user, page)
        if blocked is not None:
            return blocked
        codes = totp.enable(session, user, form.code.data, ip=_ip())
        if codes is None:
            _failed(session, user, "enrol at login" if at_login else "enrol")
            form.code.errors = [str(WRONG_CODE)]
            return _no_store(page(), 400)
        return done(codes)
    status = 400 if form.errors else 200
    return _no_store(page(), status)


# --- the user's own security page -----------------------------------------------------


def _me() -> User:
    user: User = current_user._get_current_object()
    return user


def _security_page(
    regenerate: CodeForm | None = None, disable: DisableForm | None = None, status: int = 200
) -> Response:
    return _no_store(_security_html(regenerate, disable), status)


def _security_html(regenerate: CodeForm | None = None, disable: DisableForm | None = None) -> str:
    session = get_session()
    user = _me()
    return render_template(
        "accounts/security.html",
        enabled=totp.enabled(user),
        since=user.totp_enabled_at,
        left=totp.remaining_codes(session, user),
        required=totp.required(session, current_app.config, user),
        regenerate=regenerate or CodeForm(formdata=None, prefix="regenerate"),
        disable=disable or DisableForm(formdata=None, prefix="disable"),
    )


@bp.get("/account/security")
@login_required
def security() -> ResponseReturnValue:
    return _security_page()


@bp.route("/account/security/enrol", methods=["GET", "POST"])
@login_required
def security_enrol() -> ResponseReturnValue:
    session = get_session()
    user = _me()
    if totp.enabled(user):
        return redirect(url_for("accounts.security"))

    def done(codes: list[str]) -> ResponseReturnValue:
        session.commit()
        return _codes_page(codes, url_for("accounts.security"), first=True)

    return _enrol(session, user, at_login=False, done=done)


@bp.post("/account/security/recovery-codes")
@login_required
def recovery_codes() -> ResponseReturnValue:
    session = get_session()
    user = _me()
    if not totp.enabled(user):
        flash(_("Set up an authenticator app first."), "error")
        return redirect(url_for("accounts.security"))
    form = CodeForm(prefix="regenerate")
    if not form.validate_on_submit():
        return _security_page(regenerate=form, status=400)
    blocked = _limited(session, user, lambda: _security_html(regenerate=form))
    if blocked is not None:
        return blocked
    if not totp.check_code(session, user, form.code.data):
        session.rollback()
        _failed(session, user, "recovery codes")
        form.code.errors = [str(WRONG_CODE)]
        return _security_page(regenerate=form, status=400)
    codes = totp.regenerate_codes(session, user, ip=_ip())
    session.commit()
    return _codes_page(codes, url_for("accounts.security"), first=False)


@bp.post("/account/security/disable")
@login_required
def totp_disable() -> ResponseReturnValue:
    session = get_session()
    user = _me()
    if not totp.enabled(user):
        return redirect(url_for("accounts.security"))
    form = DisableForm(prefix="disable")
    if totp.required(session, current_app.config, user):
        form.code.errors = [
            _("This site requires a second factor of school administrators: it stays on.")
        ]
        return _security_page(disable=form, status=403)
    if not form.validate_on_submit():
        return _security_page(disable=form, status=400)
    blocked = _limited(session, user, lambda: _security_html(disable=form))
    if blocked is not None:
        return blocked
    code, password = (form.code.data or "").strip(), form.password.data or ""
    ok = (bool(code) and totp.check_code(session, user, code)) or (
        bool(password) and service.password_matches(user, password)
    )
    if not ok:
        session.rollback()
        _failed(session, user, "disable")
        form.code.errors = [_("Neither a right code from your app nor your password.")]
        return _security_page(disable=form, status=400)
    totp.disable(session, user, ip=_ip())
    session.commit()
    flash(_("The second factor is off: you log in with your password alone."), "info")
    return redirect(url_for("accounts.security"))
