"""Self-service passwords: change your own, ask for a reset link, set one through a link.

Plain functions taking a session (the views commit). Every new password goes through
``service.set_password``, so the policy (``accounts.policy``), the hashing and the end
of the user's sessions are the same as for ``evalsys set-password``:

- **change**: the current password is required; every other session of the user ends,
  the one the change was made in stays;
- **reset request**: a reset email is queued for each active account with the address
  typed, and the caller answers alike whether there was one or not;
- **set through a link** (invitation or reset): written only if the password is still
  the one the link was made against, and every session of the user ends.

Each is audited, and so is each refusal (a wrong current password, a dead link).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts import mails, service, signin
from evalsys.accounts.links import LinkError, LinkHolder
from evalsys.accounts.models import MailKind, User


class WrongPassword(service.AccountError):
    """The current password typed is not the user's: nothing changed."""


def change_password(
    session: Session, user: User, *, current: str, new: str, keep: str | None, ip: str | None
) -> int:
    """Change ``user``'s own password; returns how many of their other sessions ended.

    :class:`WrongPassword` if ``current`` is not theirs, ``service.PasswordRejected`` if
    ``new`` breaks the policy; nothing is changed either way.
    """
    if not service.password_matches(user, current):
        service.audit(
            session, "password.change_failed", user_id=user.id, target=user.username, ip=ip
        )
        raise WrongPassword("the current password is not right")
    ended = service.set_password(session, user, new, keep=keep, by=user.id)
    service.audit(
        session,
        "password.change",
        user_id=user.id,
        target=user.username,
        detail=f"{ended} other session{'' if ended == 1 else 's'} ended",
        ip=ip,
    )
    return ended


def request_reset(
    session: Session, config: Mapping[str, Any], email: str, *, ip: str | None
) -> list[int]:
    """Queue a reset email to each active account with this address (case aside); the
    ids of the queued emails, none for an address no account has. Audited either way."""
    typed = email.strip()
    users = session.exec(
        select(User)
        .where(func.lower(col(User.email)) == typed.lower(), col(User.active).is_(True))
        .order_by(col(User.id))
    ).all()
    ids = []
    for user in users:
        if not signin.may_use_password(session, config, user):
            # The site signs this account in another way (PASSWORD_LOGIN): a password it
            # set could not be used. The answer on the page stays the same as ever.
            service.audit(
                session,
                "password.reset_request",
                user_id=None,
                target=user.username,
                detail="no email: password login is not used for this account",
                ip=ip,
            )
            continue
        row = mails.queue(session, user, MailKind.RESET)
        if row is not None and row.id is not None:
            ids.append(row.id)
        service.audit(session, "password.reset_request", user_id=None, target=user.username, ip=ip)
    if not users:
        service.audit(
            session,
            "password.reset_request",
            user_id=None,
            detail=f"no active account has the address {typed}",
            ip=ip,
        )
    return ids


def set_from_link(
    session: Session, holder: LinkHolder, kind: MailKind, password: str, *, ip: str | None
) -> int:
    """Set the password of the link's user; returns how many of their sessions ended.

    ``service.PasswordRejected`` if the policy refuses it; ``service.PasswordChangedMeanwhile``
    if the password changed since the link was read (the link was used at the same moment).
    """
    user = holder.user
    ended = service.set_password(session, user, password, replacing=holder.password_hash)
    service.audit(
        session,
        "password.set_by_link",
        user_id=user.id,
        target=user.username,
        detail=f"{kind.value} link; {ended} session{'' if ended == 1 else 's'} ended",
        ip=ip,
    )
    return ended


def audit_refused_link(session: Session, err: LinkError, kind: MailKind, *, ip: str | None) -> None:
    """Record a link that did not work: which kind, why, and whose when it says."""
    service.audit(
        session,
        "password.link_refused",
        user_id=None,
        target=err.user.username if err.user is not None else None,
        detail=f"{kind.value} link: {err.problem.value}",
        ip=ip,
    )
