"""``/admin/audit``: the audit log for school administrators, read-only.

Only GET is routed here, and no view anywhere updates or deletes an audit row
(``tests/security/test_audit.py`` checks both), so what is shown is what happened.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from evalsys.accounts.access import login_required, require_school_admin
from evalsys.db import get_session
from evalsys.security.audit import AuditFilters, actions, audit_page
from evalsys.security.details import detail_text, target_text
from evalsys.validation import page_arg

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

#: What each audit action code means, for people. The codes themselves stay as they are
#: (stored, filtered on, exported); a code the list does not know is shown alone.
ACTION_NAMES = {
    "login": _l("Signed in"),
    "logout": _l("Signed out"),
    "login.failed": _l("Failed sign-in"),
    "login.limited": _l("Sign-in refused: too many failures"),
    "login.unknown": _l("Sign-in refused: the identity names no evalsys account"),
    "login.inactive": _l("Sign-in refused: the account is switched off"),
    "login.sso_unavailable": _l("Single sign-on failed: the provider could not be reached"),
    "login.sso_refused": _l("Single sign-on refused: the answer failed a security check"),
    "login.sso_cancelled": _l("Single sign-on cancelled at the provider"),
    "ldap.unavailable": _l("The directory (LDAP) could not be reached at a sign-in"),
    "user.create": _l("User created"),
    "user.set_password": _l("Password set"),
    "user.invite": _l("Invitation to set a password queued"),
    "password.change": _l("Own password changed"),
    "password.change_failed": _l("Password change refused: wrong current password"),
    "password.reset_request": _l("New password asked for by email"),
    "password.reset_limited": _l("Password reset refused: too many requests"),
    "password.set_by_link": _l("Password set through an emailed link"),
    "password.link_refused": _l("Set-password link refused"),
    "user.deactivate": _l("User deactivated"),
    "user.activate": _l("User activated"),
    "sessions.end": _l("Sessions ended"),
    "login.totp_failed": _l("Second factor refused: wrong code"),
    "login.recovery_code": _l("Signed in with a recovery code"),
    "totp.enable": _l("Second factor switched on"),
    "totp.disable": _l("Second factor switched off"),
    "totp.reset": _l("Second factor reset by an administrator"),
    "recovery_codes.regenerate": _l("New recovery codes made"),
    "role.grant": _l("Role granted"),
    "role.revoke": _l("Role revoked"),
    "token.create": _l("API token created"),
    "token.revoke": _l("API token revoked"),
    "import": _l("Data imported"),
    "rubric.create": _l("Rubric version created"),
    "rubric.publish": _l("Rubric version published"),
    "job.run_requested": _l("Job started by hand"),
    "aggregation.run_requested": _l("Aggregation started by hand"),
    "aggregates.export": _l("Statistics exported"),
    "aggregates.read": _l("Statistics read through the API"),
    "feedback.export": _l("Feedback exported"),
    "report.download": _l("Report downloaded"),
    "bulletin.download": _l("Weekly bulletin downloaded"),
    "bulletin.email": _l("Weekly bulletin emailed"),
    "report.email": _l("Report emailed"),
    "report.render_requested": _l("Reports rendered by hand"),
    "report.view": _l("Report read on the web"),
    "plan.settings": _l("Spot-check plan settings changed"),
    "plan.draw": _l("Spot-check assignments drawn"),
    "calendar.new": _l("Calendar address made"),
    "calendar.stop": _l("Calendar feed stopped"),
    "propose": _l("Problems proposed"),
    "problem.create": _l("Problem created"),
    "problem.edit": _l("Problem edited"),
    "problem.status": _l("Problem status changed"),
    "meeting.create": _l("Discussion meeting recorded"),
    "action.create": _l("Action created"),
    "action.edit": _l("Action edited"),
    "action.status": _l("Action status changed"),
    "programme.verify": _l("Training-plan change verified"),
}


def action_name(code: str) -> str:
    """What an audit action code means, in the reader's language ("" when unknown)."""
    return str(ACTION_NAMES[code]) if code in ACTION_NAMES else ""


def _date(name: str, errors: dict[str, str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Enter a date like %(example)s.", example="2026-11-30")
        return None


@bp.get("/")
@login_required
def index():
    session = get_session()
    require_school_admin(session)  # the log covers the whole school
    errors: dict[str, str] = {}
    known = actions(session)
    action = request.args.get("action", "").strip()
    filters = AuditFilters(
        action=action if action in known else None,
        who=request.args.get("who", "").strip()[:80] or None,
        text=request.args.get("q", "").strip()[:200] or None,
        since=_date("since", errors),
        until=_date("until", errors),
    )
    page = audit_page(
        session, filters, page=page_arg(), per_page=int(current_app.config["AUDIT_PER_PAGE"])
    )
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "security/audit.html",
        page=page,
        actions=known,
        action_name=action_name,
        detail_text=detail_text,
        target_text=target_text,
        values={k: request.args.get(k, "") for k in ("action", "who", "q", "since", "until")},
        errors=errors,
        args=args,
        filtered=any(vars(filters).values()),
    ), (400 if errors else 200)
