"""User and role administration (``/admin/users/``): who an administrator may see and
change, and the changes themselves.

One rule of scope, from :mod:`evalsys.accounts.access`: a school admin
(:func:`~evalsys.accounts.access.is_school_admin`) manages everyone; any other admin
manages the users who hold a role on a unit of their ``MANAGE`` scope (the units under
their ``admin@`` grants, through the closure table), and may grant or revoke only roles
on units of that scope. A user who also holds a role elsewhere (a school admin, a
teacher of two colleges) is shown to them but is not theirs to change: that would reach
outside their units. Role specs are read by :func:`~evalsys.accounts.service.parse_role_spec`
and :func:`~evalsys.accounts.service.resolve_units`, the rules ``people.csv`` follows.

Every change is audited with who made it and the state before and after. Services never
commit: the views do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Subquery, exists, func, or_, true
from sqlmodel import Session, col, select

from evalsys.accounts import directory, invitations, mails, sessions, signin
from evalsys.accounts.access import Perm, is_school_admin, may, roles_with, scope_ids
from evalsys.accounts.models import (
    AccountMail,
    MailKind,
    RoleGrant,
    SessionEnd,
    SignInMethod,
    User,
    UserSession,
)
from evalsys.accounts.service import (
    AccountError,
    RoleSpec,
    audit_grant_changes,
    get_user,
    parse_role_spec,
    resolve_units,
    set_active,
)
from evalsys.org.models import OrgUnit
from evalsys.pagination import Page, clamp_page

#: Longest search text read (a username, a name, part of an email or a unit code).
MAX_SEARCH = 200


class NotVisible(AccountError):
    """The user is not among those the administrator manages (or does not exist): 404."""


class NotAllowed(AccountError):
    """The change reaches outside the administrator's units: 403; the message says why."""


@dataclass(frozen=True)
class UserRow:
    user: User
    roles: list[str]  # "role@UNITCODE", sorted
    last_login: datetime | None


@dataclass(frozen=True)
class UserDetail:
    user: User
    roles: list[tuple[str, OrgUnit]]
    last_login: datetime | None
    open_sessions: list[UserSession]
    pending_invitations: int
    #: May the viewer change this account (deactivate, invite) and its roles at all?
    changeable: bool
    #: How the newest session was opened (:data:`SIGN_IN_METHODS`), None before any login.
    last_method: str | None = None
    #: May this user have an evalsys password (``PASSWORD_LOGIN``): else no invitation.
    password_allowed: bool = True
    #: Is a directory (LDAP) set up, so that a user without a password may still sign in?
    directory: bool = False


#: How each sign-in method is named on the user page.
SIGN_IN_METHODS = {
    SignInMethod.PASSWORD.value: _l("evalsys password"),
    SignInMethod.LDAP.value: _l("directory (LDAP)"),
    SignInMethod.OIDC.value: _l("single sign-on"),
}


def manages_anyone(session: Session, actor: User) -> bool:
    """Has the actor any unit to administer (an ``admin@`` grant)? Else the pages are 403."""
    stmt = select(
        exists().where(
            col(RoleGrant.user_id) == actor.id, col(RoleGrant.role).in_(roles_with(Perm.MANAGE))
        )
    )
    return bool(actor.active) and bool(session.exec(stmt).one())


def _visible(session: Session, actor: User) -> ColumnElement[bool]:
    """SQL condition on ``User``: the actor manages them (has a role inside the scope)."""
    if is_school_admin(session, actor):
        return true()
    return exists().where(
        col(RoleGrant.user_id) == User.id,
        col(RoleGrant.unit_id).in_(scope_ids(actor, Perm.MANAGE)),
    )


def _last_login() -> Subquery:
    """Subquery: the start of each user's newest session (sessions are made at login)."""
    return (
        select(UserSession.user_id, func.max(UserSession.created_at).label("last_login"))
        .group_by(col(UserSession.user_id))
        .subquery()
    )


def search(session: Session, actor: User, text: str, *, page: int, per_page: int) -> Page[UserRow]:
    """The users the actor manages whose name, username, email or unit (code or name)
    contains ``text`` (any case); by username. Three queries whatever the page size."""
    where = [_visible(session, actor)]
    needle = text.strip()[:MAX_SEARCH].lower()
    if needle:
        in_unit = exists().where(
            col(RoleGrant.user_id) == User.id,
            col(RoleGrant.unit_id).in_(
                select(OrgUnit.id).where(
                    or_(
                        func.lower(OrgUnit.code).contains(needle, autoescape=True),
                        func.lower(OrgUnit.name).contains(needle, autoescape=True),
                    )
                )
            ),
        )
        where.append(
            or_(
                func.lower(User.name).contains(needle, autoescape=True),
                func.lower(User.username).contains(needle, autoescape=True),
                func.lower(func.coalesce(User.email, "")).contains(needle, autoescape=True),
                in_unit,
            )
        )
    total = session.exec(select(func.count()).select_from(User).where(*where)).one()
    page = clamp_page(page, total, per_page)
    last = _last_login()
    rows = session.exec(
        select(User, last.c.last_login)
        .outerjoin(last, last.c.user_id == User.id)
        .where(*where)
        .order_by(User.username)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    ids = [user.id for user, _ in rows]
    roles: dict[int, list[str]] = {}
    if ids:
        stmt = (
            select(RoleGrant.user_id, RoleGrant.role, OrgUnit.code)
            .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
            .where(col(RoleGrant.user_id).in_(ids))
            .order_by(RoleGrant.role, OrgUnit.code)
        )
        for user_id, role, code in session.exec(stmt).all():
            roles.setdefault(user_id, []).append(f"{role}@{code}")
    items = [UserRow(user, roles.get(user.id or 0, []), at) for user, at in rows]
    return Page(items=items, page=page, per_page=per_page, total=total)


def find(session: Session, actor: User, username: str) -> User:
    """The user of the address if the actor manages them; :class:`NotVisible` otherwise
    (whether or not the username exists: an address tells nothing beyond the scope)."""
    user = get_user(session, username)
    if user is None:
        raise NotVisible(_("No user %(username)s among those you manage.", username=username))
    visible = session.exec(
        select(exists().where(col(User.id) == user.id, _visible(session, actor)))
    )
    if not visible.one():
        raise NotVisible(_("No user %(username)s among those you manage.", username=username))
    return user


def _outside_grants(session: Session, actor: User, target: User) -> list[str]:
    """The target's roles on units outside the actor's scope (none for a school admin)."""
    if is_school_admin(session, actor):
        return []
    stmt = (
        select(RoleGrant.role, OrgUnit.code)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .where(RoleGrant.user_id == target.id)
        .where(col(RoleGrant.unit_id).not_in(scope_ids(actor, Perm.MANAGE)))
        .order_by(RoleGrant.role, OrgUnit.code)
    )
    return [f"{role}@{code}" for role, code in session.exec(stmt).all()]


def _check_changeable(session: Session, actor: User, target: User) -> None:
    outside = _outside_grants(session, actor, target)
    if outside:
        raise NotAllowed(
            _(
                "%(username)s also holds %(roles)s, outside the units you manage: "
                "ask a school administrator.",
                username=target.username,
                roles=", ".join(outside),
            )
        )


def detail(session: Session, actor: User, target: User, *, config: Mapping[str, Any]) -> UserDetail:
    stmt = (
        select(RoleGrant.role, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .where(RoleGrant.user_id == target.id)
        .order_by(RoleGrant.role, OrgUnit.code)
    )
    roles = [(role, unit) for role, unit in session.exec(stmt).all()]
    newest = session.exec(
        select(UserSession.created_at, UserSession.method)
        .where(UserSession.user_id == target.id)
        .order_by(col(UserSession.created_at).desc(), col(UserSession.id).desc())
        .limit(1)
    ).first()
    last, last_method = newest if newest is not None else (None, None)
    open_sessions = session.exec(
        select(UserSession)
        .where(UserSession.user_id == target.id, col(UserSession.ended_at).is_(None))
        .order_by(col(UserSession.created_at).desc())
    ).all()
    pending = session.exec(
        select(func.count())
        .select_from(AccountMail)
        .where(
            AccountMail.user_id == target.id,
            AccountMail.kind == MailKind.INVITE.value,
            col(AccountMail.status).in_(mails.WAITING),
        )
    ).one()
    return UserDetail(
        user=target,
        roles=roles,
        last_login=last,
        open_sessions=list(open_sessions),
        pending_invitations=int(pending),
        changeable=not _outside_grants(session, actor, target),
        last_method=str(SIGN_IN_METHODS.get(last_method, last_method)) if last_method else None,
        password_allowed=signin.may_use_password(session, config, target),
        directory=directory.configured(config),
    )


def role_list(session: Session, user: User) -> list[str]:
    """The user's grants as ``role@UNITCODE``, sorted (the before/after of the audit)."""
    stmt = (
        select(RoleGrant.role, OrgUnit.code)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .where(RoleGrant.user_id == user.id)
        .order_by(RoleGrant.role, OrgUnit.code)
    )
    return [f"{role}@{code}" for role, code in session.exec(stmt).all()]


def _before_after(before: list[str], after: list[str]) -> str:
    return f"before: {';'.join(before) or '-'}; after: {';'.join(after) or '-'}"


def _spec_on_scope(session: Session, actor: User, text: str) -> tuple[RoleSpec, OrgUnit]:
    """Read ``ROLE@UNITCODE`` as ``people.csv`` does; refuse a unit outside the scope."""
    spec = parse_role_spec(text)
    unit = resolve_units(session, [spec])[spec.unit_code]
    assert unit.id is not None  # loaded from the database
    if not is_school_admin(session, actor) and not may(session, actor, Perm.MANAGE, unit.id):
        raise NotAllowed(
            _(
                "%(unit)s is not among the units you manage: you cannot change %(spec)s.",
                unit=unit.code,
                spec=str(spec),
            )
        )
    return spec, unit


def grant(session: Session, actor: User, target: User, text: str) -> RoleSpec:
    """Give ``target`` the role of ``text`` (``ROLE@UNITCODE``); audited with before/after."""
    _check_changeable(session, actor, target)
    spec, unit = _spec_on_scope(session, actor, text)
    held = session.exec(
        select(RoleGrant).where(
            RoleGrant.user_id == target.id,
            RoleGrant.role == spec.role,
            RoleGrant.unit_id == unit.id,
        )
    ).first()
    if held is not None:
        raise AccountError(
            _("%(username)s holds %(spec)s already.", username=target.username, spec=str(spec))
        )
    before = role_list(session, target)
    assert target.id is not None and unit.id is not None  # stored rows
    session.add(RoleGrant(user_id=target.id, role=spec.role, unit_id=unit.id))
    session.flush()
    after = role_list(session, target)
    audit_grant_changes(
        session,
        target.username,
        added=[(spec.role, unit.id)],
        removed=[],
        by=actor.id,
        how=_before_after(before, after),
        codes={unit.id: unit.code},
    )
    return spec


def revoke(session: Session, actor: User, target: User, text: str) -> RoleSpec:
    """Take the role of ``text`` from ``target``; their sessions end (they log in again under
    the roles left). Nobody removes their own last ``admin@`` grant (they would lock
    themselves out)."""
    _check_changeable(session, actor, target)
    spec, unit = _spec_on_scope(session, actor, text)
    held = session.exec(
        select(RoleGrant).where(
            RoleGrant.user_id == target.id,
            RoleGrant.role == spec.role,
            RoleGrant.unit_id == unit.id,
        )
    ).first()
    if held is None:
        raise AccountError(
            _("%(username)s does not hold %(spec)s.", username=target.username, spec=str(spec))
        )
    before = role_list(session, target)
    if target.id == actor.id and spec.role == "admin":
        admin_grants = [r for r in before if r.startswith("admin@")]
        if len(admin_grants) <= 1:
            raise AccountError(
                _(
                    "%(spec)s is your last administrator role: removing it would lock you "
                    "out. Ask another administrator.",
                    spec=str(spec),
                )
            )
    session.delete(held)
    session.flush()
    after = role_list(session, target)
    assert unit.id is not None
    audit_grant_changes(
        session,
        target.username,
        added=[],
        removed=[(spec.role, unit.id)],
        by=actor.id,
        how=_before_after(before, after),
        codes={unit.id: unit.code},
    )
    sessions.end_all(session, target, reason=SessionEnd.ROLES, by=actor.id)
    return spec


def set_account_active(session: Session, actor: User, target: User, active: bool) -> int:
    """Deactivate (all sessions end; API tokens stop working, as ``api.tokens`` checks the
    account on every request) or reactivate. Returns the number of sessions ended."""
    _check_changeable(session, actor, target)
    if not active and target.id == actor.id:
        raise AccountError(_("You cannot deactivate your own account."))
    if target.active == active:
        if active:
            raise AccountError(_("%(username)s is active already.", username=target.username))
        raise AccountError(_("%(username)s is deactivated already.", username=target.username))
    return set_active(session, target, active, by=actor.id)


def resend_invitation(
    session: Session, actor: User, target: User, *, config: Mapping[str, Any]
) -> list[int]:
    """Queue an invitation to ``target`` as ``evalsys invite`` does; the ids to send.

    Refused, with the reason, for an account that has a password, no email address, is
    switched off, or may not use a password (``PASSWORD_LOGIN``: they sign in through the
    directory) - the cases ``evalsys invite`` counts and leaves alone."""
    _check_changeable(session, actor, target)
    if not target.active:
        raise AccountError(
            _(
                "%(username)s is deactivated: reactivate the account first.",
                username=target.username,
            )
        )
    if target.password_hash:
        raise AccountError(
            _(
                "%(username)s has a password already: no invitation is needed.",
                username=target.username,
            )
        )
    if not signin.may_use_password(session, config, target):
        raise AccountError(
            _(
                "%(username)s may not use an evalsys password (PASSWORD_LOGIN): "
                "no invitation is needed.",
                username=target.username,
            )
        )
    if not target.email:
        raise AccountError(
            _(
                "%(username)s has no email address: no invitation can be sent.",
                username=target.username,
            )
        )
    return invitations.queue_invitations(session, [target], by=actor.id)


def reset_second_factor(session: Session, actor: User, target: User, *, ip: str | None) -> int:
    """Clear ``target``'s second factor (a lost phone) and end their sessions; the number
    ended. Only for an account the actor may change, and one that has something to clear."""
    from evalsys.accounts import totp

    _check_changeable(session, actor, target)
    if not target.totp_secret:
        raise AccountError(
            _("%(username)s has no second factor to reset.", username=target.username)
        )
    return totp.reset(session, target, by=actor.id, ip=ip)
