"""The programme page: its courses, its plan versions, and its change log with the figures
of the affected courses before and after each change.

Read by whoever reads the reports or runs the loop of the programme's department (its head,
the college's dean and leaders, admins above): the loop's :data:`READ_PERMS`. A head or
dean of the department marks an in-effect change verified.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session

from evalsys.accounts.access import Perm, login_required, may, require
from evalsys.accounts.service import audit
from evalsys.clock import local_today, utcnow
from evalsys.db import get_session
from evalsys.loop.models import Action
from evalsys.loop.scope import READ_PERMS
from evalsys.org.models import OrgUnit, UnitKind
from evalsys.programmes.models import Programme
from evalsys.programmes.service import (
    CHANGE_STATE_NAMES,
    ChangeState,
    programme_by_code,
    programme_page,
    programmes_below,
    verify_change,
)
from evalsys.validation import SafeForm

bp = Blueprint("programmes", __name__, url_prefix="/programmes")


class VerifyForm(SafeForm):
    """Only the CSRF token: the button says it all."""


def _programme_or_404(code: str) -> tuple[Session, Programme]:
    session = get_session()
    programme = programme_by_code(session, code)
    if programme is None:
        abort(404)
    require(session, READ_PERMS, programme.department_id)
    return session, programme


@bp.route("/<programme_code>")
@login_required
def programme(programme_code: str):
    session, programme = _programme_or_404(programme_code)
    page = programme_page(session, programme, today=local_today(current_app.config))
    manage = may(session, current_user, Perm.MANAGE_LOOP, programme.department_id)
    return render_template(
        "programmes/programme.html",
        page=page,
        manage=manage,
        state_names=CHANGE_STATE_NAMES,
        min_n=current_app.config["MIN_N"],
        form=VerifyForm(),
    )


@bp.route("/<programme_code>/changes/<int:action_id>/verify", methods=["POST"])
@login_required
def verify(programme_code: str, action_id: int):
    """Mark an in-effect change verified: the figures after it show it worked."""
    session, programme = _programme_or_404(programme_code)
    require(session, Perm.MANAGE_LOOP, programme.department_id)
    page = programme_page(session, programme, today=local_today(current_app.config))
    entry = next((e for e in page.log if e.action.id == action_id), None)
    if entry is None:
        abort(404)
    if not VerifyForm().validate_on_submit():
        abort(400)
    if entry.state != ChangeState.IN_EFFECT:
        flash(_("Only a change in effect can be verified."), "error")
    else:
        action = session.get(Action, action_id)
        assert action is not None  # in the log just now
        verify_change(session, action=action, user=current_user, now=utcnow())
        audit(
            session,
            "programme.verify",
            user_id=current_user.id,
            target=f"action {action_id}",
            detail=f"programme {programme.code}",
        )
        session.commit()
        flash(_("Change marked verified."), "success")
    return redirect(url_for("programmes.programme", programme_code=programme.code))


def unit_programmes(unit: OrgUnit) -> list[Programme]:
    """The programmes a unit page links to: of a department or a college, for its readers."""
    if unit.kind == UnitKind.SCHOOL or unit.id is None:
        return []
    session = get_session()
    if not may(session, current_user, READ_PERMS, unit.id):
        return []
    return programmes_below(session, unit.id)


bp.add_app_template_global(unit_programmes, "unit_programmes")
