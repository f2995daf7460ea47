"""Invitations: who gets a set-password email, and queuing them (``evalsys invite``).

After an import of ``people.csv`` nobody has a password. An invitation emails each
selected user who has none a set-password link (``accounts.links``, sent by
``accounts.mails``): signed, valid for INVITATION_MAX_AGE_DAYS, dead once a password
is set. Who is selected: everyone, or those with a role on a unit or below it
(``--unit``), or with one role (``--role``), or both (that role, on the unit or
below). Of those, users who have a password already, have no email address, are
switched off, or may not use an evalsys password at all (``PASSWORD_LOGIN`` "admins" or
"off": they sign in through the directory or single sign-on) are counted and left alone.

Re-sending is safe: a second invitation to someone who still has no password sends a
second email; the first link keeps working too (it carries the same fingerprint of
"no password yet") until one of them is used or it expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, col, select

from evalsys.accounts import mails, signin
from evalsys.accounts.models import ROLE_VALUES, MailKind, RoleGrant, User
from evalsys.accounts.service import AccountError, audit
from evalsys.org.models import OrgUnit, OrgUnitClosure


@dataclass
class Selection:
    """The selected users, sorted into those to invite and those left alone, and why."""

    invite: list[User] = field(default_factory=list)
    has_password: list[User] = field(default_factory=list)
    no_email: list[User] = field(default_factory=list)
    inactive: list[User] = field(default_factory=list)
    #: PASSWORD_LOGIN does not let them use a password: a set-password link would be a dud.
    password_not_allowed: list[User] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return (
            len(self.has_password)
            + len(self.no_email)
            + len(self.inactive)
            + len(self.password_not_allowed)
        )


def select_users(
    session: Session,
    *,
    unit_code: str | None,
    role: str | None,
    config: Mapping[str, Any] | None = None,
) -> Selection:
    """The users ``evalsys invite --unit --role`` is about; an unknown unit or role is an
    :class:`AccountError` (before anything is queued). ``config`` is the site's, for
    ``PASSWORD_LOGIN`` (None: everyone may use a password)."""
    stmt = select(User).order_by(User.username)
    if role is not None:
        role = role.strip().lower()
        if role not in ROLE_VALUES:
            raise AccountError(f"unknown role '{role}'; roles are {', '.join(ROLE_VALUES)}")
    if unit_code is not None or role is not None:
        grant = exists().where(col(RoleGrant.user_id) == User.id)
        if role is not None:
            grant = grant.where(col(RoleGrant.role) == role)
        if unit_code is not None:
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code.strip())).first()
            if unit is None:
                raise AccountError(f"unknown unit '{unit_code}'")
            below = select(OrgUnitClosure.descendant_id).where(
                OrgUnitClosure.ancestor_id == unit.id
            )
            grant = grant.where(col(RoleGrant.unit_id).in_(below))
        stmt = stmt.where(grant)
    selection = Selection()
    for user in session.exec(stmt).all():
        if not user.active:
            selection.inactive.append(user)
        elif user.password_hash:
            selection.has_password.append(user)
        elif not user.email:
            selection.no_email.append(user)
        elif config is not None and not signin.may_use_password(session, config, user):
            selection.password_not_allowed.append(user)
        else:
            selection.invite.append(user)
    return selection


def queue_invitations(session: Session, users: list[User], *, by: int | None = None) -> list[int]:
    """Queue an invitation to each of ``users`` (audited); the ids of the emails to send."""
    ids = []
    for user in users:
        row = mails.queue(session, user, MailKind.INVITE)
        if row is None:
            continue
        assert row.id is not None  # flushed by queue
        ids.append(row.id)
        audit(session, "user.invite", user_id=by, target=user.username, detail=row.email)
    return ids
