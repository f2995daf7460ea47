"""``/admin/audit``: the audit log for school administrators, read-only.

Only GET is routed here, and no view anywhere updates or deletes an audit row
(``tests/security/test_audit.py`` checks both), so what is shown is what happened.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, login_required, may
from evalsys.db import get_session
from evalsys.org.models import OrgUnit
from evalsys.security.audit import AuditFilters, actions, audit_page

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


def _require_school_admin(session: Session) -> None:
    """The log covers the whole school: only an admin of the root unit reads it."""
    roots = session.exec(select(OrgUnit.id).where(col(OrgUnit.parent_id).is_(None))).all()
    if not roots or not all(may(session, current_user, Perm.MANAGE, rid) for rid in roots):
        abort(403)


def _date(name: str, errors: dict[str, str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "a date like 2026-11-30"
        return None


@bp.get("/")
@login_required
def index():
    session = get_session()
    _require_school_admin(session)
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
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    page = audit_page(
        session, filters, page=page_no, per_page=int(current_app.config["AUDIT_PER_PAGE"])
    )
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "security/audit.html",
        page=page,
        actions=known,
        values={k: request.args.get(k, "") for k in ("action", "who", "q", "since", "until")},
        errors=errors,
        args=args,
        filtered=any(vars(filters).values()),
    ), (400 if errors else 200)
