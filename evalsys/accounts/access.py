"""The one answer to "may this user do X on unit U", and deny-by-default for views.

A permission is granted by a role on a unit and covers the unit's subtree. Every
view must declare its access with :func:`public`, :func:`login_required` or (API
views) :func:`token_required`;
the app refuses to serve an endpoint that declares neither (see
:func:`enforce_declared_access`), so a route added without thought is closed,
not open. Views then check the unit with :func:`require`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from flask import abort, current_app, request
from flask_login import current_user
from sqlalchemy import Select, exists
from sqlmodel import Session, col, select

from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.org.models import OrgUnit, OrgUnitClosure


class Perm(StrEnum):
    VIEW_UNIT = "view_unit"  # the unit page: hierarchy, courses, sections
    VIEW_FEEDBACK = "view_feedback"  # feedback records of every section in the unit
    VIEW_REPORTS = "view_reports"  # term reports and statistics
    SUBMIT_SPOT_CHECK = "submit_spot_check"
    SUBMIT_OPEN_CLASS = "submit_open_class"
    SUBMIT_TUTOR_REPORT = "submit_tutor_report"
    MANAGE_LOOP = "manage_loop"  # problems, meetings, actions
    MANAGE = "manage"  # users, imports, rubrics, schedules


#: Which roles carry which permissions. Admin carries all of them.
ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.SUPERVISOR: frozenset({Perm.VIEW_UNIT, Perm.SUBMIT_SPOT_CHECK}),
    Role.LEADER: frozenset(
        {Perm.VIEW_UNIT, Perm.SUBMIT_OPEN_CLASS, Perm.VIEW_FEEDBACK, Perm.VIEW_REPORTS}
    ),
    Role.TUTOR: frozenset({Perm.VIEW_UNIT, Perm.SUBMIT_TUTOR_REPORT}),
    Role.DEAN: frozenset({Perm.VIEW_UNIT, Perm.VIEW_FEEDBACK, Perm.VIEW_REPORTS, Perm.MANAGE_LOOP}),
    Role.HEAD: frozenset({Perm.VIEW_UNIT, Perm.VIEW_FEEDBACK, Perm.VIEW_REPORTS, Perm.MANAGE_LOOP}),
    # Teachers see their department's page; their own sections' feedback is
    # checked by teacher_id, not by this table.
    Role.TEACHER: frozenset({Perm.VIEW_UNIT}),
}


def roles_with(perm: Perm) -> list[str]:
    return sorted(role.value for role, perms in ROLE_PERMS.items() if perm in perms)


def _grant_covers(user_id: int, perm: Perm, unit_id_column: Any) -> Any:
    """SQL condition: some grant of the user carrying ``perm`` sits at or above the unit."""
    return exists().where(
        RoleGrant.user_id == user_id,
        col(RoleGrant.role).in_(roles_with(perm)),
        OrgUnitClosure.ancestor_id == RoleGrant.unit_id,
        OrgUnitClosure.descendant_id == unit_id_column,
    )


def may(session: Session, user: User | Any, perm: Perm, unit_id: int) -> bool:
    """May ``user`` do ``perm`` on the unit? One query, whatever the depth of the tree."""
    if user is None or not getattr(user, "is_authenticated", True) or not user.active:
        return False
    stmt = select(_grant_covers(user.id, perm, unit_id))
    return bool(session.exec(stmt).one())  # type: ignore[call-overload]


def scope_ids(user: User, perm: Perm) -> Select:
    """A subquery of the ids of every unit where ``user`` has ``perm``, for ``.in_()`` filters."""
    return (
        select(OrgUnitClosure.descendant_id)
        .join(RoleGrant, col(RoleGrant.unit_id) == OrgUnitClosure.ancestor_id)
        .where(RoleGrant.user_id == user.id, col(RoleGrant.role).in_(roles_with(perm)))
        .distinct()
    )


def top_units(session: Session, user: User, perm: Perm) -> list[OrgUnit]:
    """The highest units where the user has ``perm`` (the entry points of their scope)."""
    granted = select(RoleGrant.unit_id).where(
        RoleGrant.user_id == user.id, col(RoleGrant.role).in_(roles_with(perm))
    )
    covered_by_other = (
        select(OrgUnitClosure.descendant_id)
        .where(col(OrgUnitClosure.ancestor_id).in_(granted))
        .where(OrgUnitClosure.depth > 0)
    )
    stmt = (
        select(OrgUnit)
        .where(col(OrgUnit.id).in_(granted))
        .where(col(OrgUnit.id).not_in(covered_by_other))
        .order_by(OrgUnit.code)
    )
    return list(session.exec(stmt).all())


def user_roles(session: Session, user: User) -> list[tuple[str, OrgUnit]]:
    stmt = (
        select(RoleGrant.role, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .where(RoleGrant.user_id == user.id)
        .order_by(RoleGrant.role, OrgUnit.code)
    )
    return [(role, unit) for role, unit in session.exec(stmt).all()]


def require(session: Session, perm: Perm, unit_id: int) -> None:
    """Abort with 403 unless the current user has ``perm`` on the unit."""
    if not may(session, current_user, perm, unit_id):
        abort(403)


# --- declaring access on views -------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTR = "_evalsys_access"


def public(view: F) -> F:
    """Anyone, logged in or not, may open this view (the login page, health checks)."""
    setattr(view, ACCESS_ATTR, "public")
    return view


def login_required(view: F) -> F:
    """Only a logged-in, active user may open this view; it checks units itself."""
    setattr(view, ACCESS_ATTR, "user")
    return view


def token_required(view: F) -> F:
    """Only a request with a live API token (``Authorization: Bearer``) may open this view.

    Stateless: nobody is logged in, no session cookie is set; the view reads the
    caller with :func:`evalsys.api.auth.api_user`. Others get a JSON 401.
    """
    setattr(view, ACCESS_ATTR, "token")
    return view


def enforce_declared_access() -> Any:
    """``before_request`` hook: deny what is undeclared, send strangers to the login page."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 / 405 follow
    if endpoint == "static":
        return None
    view = current_app.view_functions.get(endpoint)
    rule = getattr(view, ACCESS_ATTR, None)
    if rule == "public":
        return None
    if rule == "user":
        if current_user.is_authenticated and current_user.active:
            return None
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    if rule == "token":
        from evalsys.api.auth import authenticate_request

        return authenticate_request()
    current_app.logger.error("endpoint %s declares no access rule; denied", endpoint)
    abort(403)


def is_school_admin(session: Session, user: User | Any) -> bool:
    """Admin of every root unit: the school-wide pages (schedule, rubrics, audit) are theirs."""
    roots = session.exec(select(OrgUnit.id).where(col(OrgUnit.parent_id).is_(None))).all()
    return bool(roots) and all(may(session, user, Perm.MANAGE, rid) for rid in roots)


def require_school_admin(session: Session) -> None:
    """Abort with 403 unless the current user is a school admin."""
    if not is_school_admin(session, current_user):
        abort(403)
