"""The password pages: change your own, "forgot password", and the set-password links.

- ``/account/password`` (logged in): the current password and a new one; the other
  sessions of the user end. A wrong current password counts as a failed login of the
  username (``security.ratelimit``), so a borrowed session cannot guess it either.
- ``/password/forgot`` (public): an email address; the answer is the same redirect and
  message whether an account has it or not, and requests are rate-limited per address
  typed and per client like logins. The email goes out after the answer (so its time
  tells nothing either), and the ``account-mail`` job retries it if that failed.
- ``/password/set/TOKEN`` (an invitation) and ``/password/reset/TOKEN`` (a reset),
  public: a new password for the link's account (``accounts.links``). A link that is
  altered, expired or used already gets a page saying which, in the reader's language,
  and is audited; nothing changes. These pages send no Referer and are not cached: the
  token is in their address.
"""

from __future__ import annotations

from flask import (
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
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from evalsys.accounts import links, mails, passwords, policy, service, sessions, signin
from evalsys.accounts.access import login_required, public
from evalsys.accounts.forms import ChangePasswordForm, ForgotPasswordForm, NewPasswordForm
from evalsys.accounts.links import LinkError, LinkProblem
from evalsys.accounts.models import MailKind, User
from evalsys.accounts.views import LOGIN_LIMITED, bp
from evalsys.db import get_session, session_scope
from evalsys.security import ratelimit
from evalsys.security.models import AttemptKind

#: The one answer to a reset request, whether an account has the address or not.
RESET_REQUESTED = _l(
    "If an account has the address %(email)s, a link to choose a new password is on its way "
    "to it; it works once, for %(minutes)d minutes. Nothing arrived? Check the spam folder, "
    "or ask the teaching-quality office."
)
RESET_LIMITED = _l("Too many requests for a new password. Wait %(wait)s and try again.")
#: What a dead link's page says, by why it is dead: (title, text, status).
LINK_PAGES = {
    LinkProblem.BAD: (
        _l("This link does not work"),
        _l(
            "The address is not a valid link: it may have been cut short or changed when "
            "it was copied. Open the link from the email again, or ask for a new one."
        ),
        400,
    ),
    LinkProblem.EXPIRED: (
        _l("This link has expired"),
        _l("The link is too old to use. Ask for a new one."),
        410,
    ),
    LinkProblem.USED: (
        _l("This link has been used"),
        _l(
            "A link works once: the password has been set since this one was sent. "
            "Log in with it, or ask for a new link if you do not know it."
        ),
        410,
    ),
    LinkProblem.NO_ACCOUNT: (
        _l("This link does not work"),
        _l("The account this link was for is not active. Ask the teaching-quality office."),
        400,
    ),
}


def policy_hint() -> str:
    return str(
        _(
            "At least %(num)d characters; not a common password, and not your username or name. "
            "A few words you remember make a good one.",
            num=policy.MIN_LENGTH,
        )
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    session = get_session()
    user: User = current_user._get_current_object()
    if not signin.may_use_password(session, current_app.config, user):
        # Signed in by single sign-on or the directory: there is no evalsys password to
        # change, and one set here could not be used.
        page = render_template("accounts/password_change.html", form=None)
        return page, 403 if request.method == "POST" else 200
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        ip = request.remote_addr or ""
        limits = ratelimit.Limits.of(current_app)
        wait = ratelimit.retry_after(session, username=user.username, ip=ip, limits=limits)
        if wait is not None:
            service.audit(session, "login.limited", user_id=user.id, target=user.username, ip=ip)
            session.commit()
            flash(LOGIN_LIMITED % {"wait": ratelimit.minutes(wait)}, "error")
            response = make_response(_change_page(form), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            ended = passwords.change_password(
                session,
                user,
                current=form.current.data,
                new=form.password.data,
                keep=flask_session.get(sessions.SESSION_KEY),
                ip=ip,
            )
        except passwords.WrongPassword:
            # Nothing was written but the audit record of the refusal: keep it, and count it.
            ratelimit.record(session, username=user.username, ip=ip, succeeded=False)
            session.commit()
            form.current.errors = [_("This is not your current password.")]
            return _change_page(form), 400
        except service.PasswordRejected as err:
            session.rollback()
            form.password.errors = [str(err)]
            return _change_page(form), 400
        ratelimit.record(session, username=user.username, ip=ip, succeeded=True)
        session.commit()
        flash(
            ngettext(
                "Your password is changed. You stay logged in here; everywhere else you were "
                "logged out (%(num)d session).",
                "Your password is changed. You stay logged in here; everywhere else you were "
                "logged out (%(num)d sessions).",
                ended,
            ),
            "info",
        )
        return redirect(url_for("home.index"))
    if form.errors:
        status = 400
    return _change_page(form), status


def _change_page(form: ChangePasswordForm) -> str:
    return render_template("accounts/password_change.html", form=form, hint=policy_hint())


@bp.route("/password/forgot", methods=["GET", "POST"])
@public
def forgot_password() -> ResponseReturnValue:
    config = current_app.config
    if mails.missing_settings(config):
        return render_template("accounts/password_forgot.html", form=None)
    form = ForgotPasswordForm()
    session = get_session()
    if form.validate_on_submit():
        email = form.email.data.strip()
        ip = request.remote_addr or ""
        limits = ratelimit.Limits.for_resets(current_app)
        wait = ratelimit.retry_after(session, username=email, ip=ip, limits=limits)
        if wait is not None:
            service.audit(session, "password.reset_limited", user_id=None, detail=email, ip=ip)
            session.commit()
            flash(RESET_LIMITED % {"wait": ratelimit.minutes(wait)}, "error")
            response = make_response(
                render_template("accounts/password_forgot.html", form=form), 429
            )
            response.headers["Retry-After"] = str(wait)
            return response
        ratelimit.record(session, username=email, ip=ip, succeeded=False, kind=AttemptKind.RESET)
        ids = passwords.request_reset(session, config, email, ip=ip)
        session.commit()
        minutes = int(links.max_age(config, MailKind.RESET).total_seconds() // 60)
        flash(RESET_REQUESTED % {"email": email, "minutes": minutes}, "info")
        answer = redirect(url_for("accounts.login"))
        if ids:
            _send_after(answer, ids)
        return answer
    status = 400 if form.errors else 200
    return render_template("accounts/password_forgot.html", form=form), status


def _send_after(response: Response, ids: list[int]) -> None:
    """Send the queued emails once the answer has gone out (the WSGI server closes the
    response after writing it): the answer takes as long with an account as without, and
    a slow mail server keeps nobody waiting. A failure is left to the ``account-mail`` job.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug proxy

    def send() -> None:
        try:
            with app.app_context(), session_scope() as session:
                mails.send_pending(session, app.config, ids=ids)
        except Exception:  # noqa: BLE001 - after the response: log it, the job retries
            app.logger.exception("account emails %s not sent; account-mail retries them", ids)

    response.call_on_close(send)


@bp.route(links.PATHS[MailKind.INVITE] + "<token>", methods=["GET", "POST"])
@public
def set_password(token: str) -> ResponseReturnValue:
    return _link_page(token, MailKind.INVITE)


@bp.route(links.PATHS[MailKind.RESET] + "<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> ResponseReturnValue:
    return _link_page(token, MailKind.RESET)


def _link_page(token: str, kind: MailKind) -> Response:
    session = get_session()
    ip = request.remote_addr or ""
    try:
        holder = links.read_token(session, current_app.config, token, kind)
    except LinkError as err:
        return _refused(err, kind, ip)
    form = NewPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            passwords.set_from_link(session, holder, kind, form.password.data, ip=ip)
        except service.PasswordRejected as err:
            session.rollback()
            form.password.errors = [str(err)]
            status = 400
        except service.PasswordChangedMeanwhile:
            session.rollback()
            return _refused(LinkError(LinkProblem.USED, holder.user), kind, ip)
        else:
            session.commit()
            flash(
                _(
                    "Your password is set. Log in with your username, %(username)s, "
                    "and the new password.",
                    username=holder.user.username,
                ),
                "info",
            )
            return _private(redirect(url_for("accounts.login")))
    elif form.errors:
        status = 400
    page = render_template(
        "accounts/password_set.html",
        form=form,
        user=holder.user,
        invitation=kind == MailKind.INVITE,
        hint=policy_hint(),
    )
    return _private(make_response(page, status))


def _refused(err: LinkError, kind: MailKind, ip: str) -> Response:
    session = get_session()
    session.rollback()
    passwords.audit_refused_link(session, err, kind, ip=ip)
    session.commit()
    title, text, status = LINK_PAGES[err.problem]
    page = render_template(
        "accounts/password_link_refused.html",
        title=title,
        text=text,
        forgot=not mails.missing_settings(current_app.config),
    )
    return _private(make_response(page, status))


def _private(response: Response) -> Response:
    """A page whose address holds a token: not sent on as a Referer, not kept in a cache."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
