"""``/admin/users/``: find users, see their roles and sessions, grant and revoke roles,
deactivate and reactivate accounts, resend an invitation.

Who may do what is :mod:`evalsys.accounts.admin`'s (one rule with the rest of
``accounts.access``): someone with no ``admin@`` grant gets 403 on every page; a user
outside the administrator's units is a 404, as if there were none; a change reaching
outside their units is a 403 with the reason. A refused change rolls back: nothing is
half-written. Every form carries a CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from evalsys.accounts import admin, mails
from evalsys.accounts.access import login_required
from evalsys.accounts.forms import ConfirmForm, RoleSpecForm
from evalsys.accounts.models import AccountMail, MailStatus, User
from evalsys.accounts.service import AccountError
from evalsys.db import get_session
from evalsys.validation import page_arg

bp = Blueprint("users", __name__, url_prefix="/admin/users")

PER_PAGE = 50


def _actor() -> User:
    """The logged-in administrator; 403 for anyone who administers no unit."""
    user: User = current_user._get_current_object()
    if not admin.manages_anyone(get_session(), user):
        abort(403)
    return user


def _target(actor: User, username: str) -> User:
    try:
        return admin.find(get_session(), actor, username)
    except admin.NotVisible:
        abort(404)


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    actor = _actor()
    q = request.args.get("q", "").strip()[: admin.MAX_SEARCH]
    page = admin.search(get_session(), actor, q, page=page_arg(), per_page=PER_PAGE)
    return render_template("accounts/users.html", page=page, q=q, args={"q": q} if q else {})


def _user_page(
    actor: User,
    target: User,
    *,
    grant_form: RoleSpecForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = get_session()
    return render_template(
        "accounts/user.html",
        d=admin.detail(session, actor, target, config=current_app.config),
        grant_form=grant_form or RoleSpecForm(formdata=None),
        confirm=ConfirmForm(),
        is_self=actor.id == target.id,
    ), status


@bp.get("/<username>")
@login_required
def show(username: str) -> ResponseReturnValue:
    actor = _actor()
    return _user_page(actor, _target(actor, username))


def _refused(
    actor: User, target: User, err: AccountError, form: RoleSpecForm | None = None
) -> tuple[str, int]:
    """Nothing of the refused change is kept; the page says why: beside the grant field
    for a grant that cannot be read or made, at the top of the page for the rest and for
    anything beyond the administrator's units (403; the grant form may not be shown)."""
    session = get_session()
    session.rollback()
    beyond = isinstance(err, admin.NotAllowed)
    status = 403 if beyond else 400
    if form is not None and not beyond:
        form.spec.errors = [str(err)]
    else:
        flash(str(err), "error")
    return _user_page(actor, target, grant_form=form, status=status)


@bp.post("/<username>/grant")
@login_required
def grant(username: str) -> ResponseReturnValue:
    actor = _actor()
    target = _target(actor, username)
    form = RoleSpecForm()
    if not form.validate_on_submit():
        return _user_page(actor, target, grant_form=form, status=400)
    session = get_session()
    try:
        spec = admin.grant(session, actor, target, form.spec.data)
    except AccountError as err:
        return _refused(actor, target, err, form)
    session.commit()
    flash(_("%(username)s now holds %(spec)s.", username=target.username, spec=str(spec)), "info")
    return redirect(url_for("users.show", username=target.username))


@bp.post("/<username>/revoke")
@login_required
def revoke(username: str) -> ResponseReturnValue:
    actor = _actor()
    target = _target(actor, username)
    form = RoleSpecForm()
    if not form.validate_on_submit():
        flash(" ".join(map(str, form.spec.errors)), "error")
        return _user_page(actor, target, status=400)
    session = get_session()
    try:
        spec = admin.revoke(session, actor, target, form.spec.data)
    except AccountError as err:
        return _refused(actor, target, err)
    session.commit()
    flash(
        _(
            "%(spec)s taken from %(username)s; they were logged out and log in again "
            "under the roles they have now.",
            username=target.username,
            spec=str(spec),
        ),
        "info",
    )
    return redirect(url_for("users.show", username=target.username))


@bp.route("/<username>/deactivate", methods=["GET", "POST"])
@login_required
def deactivate(username: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST switches the account off."""
    actor = _actor()
    target = _target(actor, username)
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("accounts/user_deactivate.html", user=target, form=form)
    session = get_session()
    try:
        ended = admin.set_account_active(session, actor, target, False)
    except AccountError as err:
        return _refused(actor, target, err)
    session.commit()
    flash(
        ngettext(
            "%(username)s is deactivated: %(num)d session ended, and their API tokens no "
            "longer work.",
            "%(username)s is deactivated: %(num)d sessions ended, and their API tokens no "
            "longer work.",
            ended,
            username=target.username,
        ),
        "info",
    )
    return redirect(url_for("users.show", username=target.username))


@bp.post("/<username>/reactivate")
@login_required
def reactivate(username: str) -> ResponseReturnValue:
    actor = _actor()
    target = _target(actor, username)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    session = get_session()
    try:
        admin.set_account_active(session, actor, target, True)
    except AccountError as err:
        return _refused(actor, target, err)
    session.commit()
    flash(_("%(username)s is active again.", username=target.username), "info")
    return redirect(url_for("users.show", username=target.username))


@bp.post("/<username>/invite")
@login_required
def invite(username: str) -> ResponseReturnValue:
    """Queue an invitation as ``evalsys invite`` does, send it now, and say what happened
    (a failed send is retried by the ``account-mail`` job)."""
    actor = _actor()
    target = _target(actor, username)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    session = get_session()
    config = current_app.config
    missing = mails.missing_settings(config)
    if missing:
        err = AccountError(
            _(
                "%(settings)s not set: no invitation can be sent (see docs/accounts.md).",
                settings=" & ".join(missing),
            )
        )
        return _refused(actor, target, err)
    try:
        ids = admin.resend_invitation(session, actor, target, config=config)
    except AccountError as err:
        return _refused(actor, target, err)
    session.commit()
    mails.send_pending(session, config, ids=ids)
    rows = [session.get(AccountMail, i, populate_existing=True) for i in ids]
    sent = [r for r in rows if r is not None and r.status == MailStatus.SENT.value]
    if sent:
        flash(_("Invitation sent to %(email)s.", email=sent[0].email), "info")
    else:
        flash(
            _(
                "The invitation to %(username)s could not be sent now; it is queued and the "
                "account-mail job retries it.",
                username=target.username,
            ),
            "error",
        )
    return redirect(url_for("users.show", username=target.username))


@bp.post("/<username>/second-factor/reset")
@login_required
def reset_totp(username: str) -> ResponseReturnValue:
    """A lost phone: clear the user's second factor and recovery codes, end their sessions."""
    actor = _actor()
    target = _target(actor, username)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    session = get_session()
    try:
        ended = admin.reset_second_factor(session, actor, target, ip=request.remote_addr)
    except AccountError as err:
        return _refused(actor, target, err)
    session.commit()
    flash(
        ngettext(
            "The second factor of %(username)s is reset (%(num)d session ended): they set "
            "up their app again at their next login, or from their security page.",
            "The second factor of %(username)s is reset (%(num)d sessions ended): they set "
            "up their app again at their next login, or from their security page.",
            ended,
            username=target.username,
        ),
        "info",
    )
    return redirect(url_for("users.show", username=target.username))
