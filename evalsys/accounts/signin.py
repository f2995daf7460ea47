"""Signing in, whichever way the user came: a password, the directory, or single sign-on.

Every way ends in :func:`finish`, so the session record, the audit event and (where the
site asks for it) the second factor are the same for all of them. Outside identities
(LDAP, OpenID Connect) only ever map to an **existing** user (:func:`find_user`): an
identity nobody imported gets a page that says so and an audit event, never an account.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask import session as flask_session
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import login_user
from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts import directory, service, sessions
from evalsys.accounts.models import Role, RoleGrant, SignInMethod, User
from evalsys.security import ratelimit

log = logging.getLogger(__name__)


class PasswordLogin(StrEnum):
    """Who may log in with an evalsys password (``PASSWORD_LOGIN``)."""

    ON = "on"
    ADMINS = "admins"
    OFF = "off"


class Match(StrEnum):
    """Which field of a user an outside identity's value is matched against."""

    USERNAME = "username"
    EMAIL = "email"


def password_login(config: Mapping[str, Any]) -> PasswordLogin:
    """The site's ``PASSWORD_LOGIN``; a value that is none of on/admins/off stops the start."""
    value = str(config.get("PASSWORD_LOGIN", "on")).strip().lower()
    try:
        return PasswordLogin(value)
    except ValueError:
        choices = ", ".join(p.value for p in PasswordLogin)
        raise ValueError(f"PASSWORD_LOGIN is {value!r}; it must be one of {choices}") from None


def match_setting(config: Mapping[str, Any], name: str) -> Match:
    """``OIDC_MATCH`` or ``LDAP_MATCH``; neither username nor email stops the start."""
    value = str(config.get(name, "username")).strip().lower()
    try:
        return Match(value)
    except ValueError:
        raise ValueError(f"{name} is {value!r}; it must be 'username' or 'email'") from None


def check_settings(config: Mapping[str, Any]) -> None:
    """Refuse, at start-up, sign-in settings that would only fail at someone's login."""
    password_login(config)
    match_setting(config, "OIDC_MATCH")
    match_setting(config, "LDAP_MATCH")


def holds_admin_role(session: Session, user: User) -> bool:
    """Does the user hold ``admin`` anywhere (the ``PASSWORD_LOGIN = "admins"`` rule)?"""
    stmt = select(func.count()).where(
        RoleGrant.user_id == user.id, RoleGrant.role == Role.ADMIN.value
    )
    return bool(session.exec(stmt).one())


def may_use_password(session: Session, config: Mapping[str, Any], user: User) -> bool:
    """May this user log in (or be sent a link to set) an evalsys password?"""
    mode = password_login(config)
    if mode is PasswordLogin.ON:
        return True
    if mode is PasswordLogin.ADMINS:
        return holds_admin_role(session, user)
    return False


def check_password(
    session: Session, config: Mapping[str, Any], username: str, password: str
) -> User | None:
    """The user if the evalsys password is right, the account active and password login
    allowed for them; None otherwise, with the same answer (and time) for every reason."""
    user = service.authenticate(session, username, password)
    if user is None or not may_use_password(session, config, user):
        return None
    return user


class UnknownIdentity(Exception):
    """An outside identity checked out but names no evalsys user (:func:`unknown_identity_page`)."""

    def __init__(self, method: SignInMethod, identity: str) -> None:
        super().__init__(f"{method.value}: {identity}")
        self.method = method
        self.identity = identity


def check_credentials(
    session: Session,
    config: Mapping[str, Any],
    username: str,
    password: str,
    *,
    ip: str | None = None,
) -> tuple[User, SignInMethod] | None:
    """Who the login form's username and password name, and how that was checked.

    The one place the form's credentials are judged, so that every way of checking them
    (an evalsys password; the directory, where LDAP is set up) gives the same answer to the
    same refusal: None for a wrong password, an unknown user or a switched-off account.

    Where ``LDAP_URL`` is set the directory is asked first (it is where most people's
    passwords live); if it refuses, the evalsys password is tried, as ``PASSWORD_LOGIN``
    allows (a local administrator still gets in). If the directory cannot be reached, the
    evalsys password is tried all the same, and only if that fails too is
    :class:`~evalsys.accounts.directory.Unavailable` raised, so the page can say the
    directory is down rather than that the password is wrong. A directory identity that
    names no evalsys user raises :class:`UnknownIdentity`. Audit events are added, not
    committed (the caller commits).
    """
    unavailable: directory.Unavailable | None = None
    if directory.configured(config):
        try:
            identity = directory.authenticate(config, username, password)
        except directory.Unavailable as err:
            log.warning("LDAP directory unavailable at %s: %s", config.get("LDAP_URL"), err)
            service.audit(
                session,
                "ldap.unavailable",
                user_id=None,
                target=username[:80],
                detail=str(err)[:2000],
                ip=ip,
            )
            unavailable = err
        else:
            if identity is not None:
                user = find_user(session, identity.value, match_setting(config, "LDAP_MATCH"))
                if user is None:
                    raise UnknownIdentity(SignInMethod.LDAP, identity.value)
                # A switched-off account is refused like a wrong password, as locally.
                return (user, SignInMethod.LDAP) if user.active else None
    user = check_password(session, config, username, password)
    if user is not None:
        return user, SignInMethod.PASSWORD
    if unavailable is not None:
        raise unavailable
    return None


def find_user(session: Session, value: str, match: Match) -> User | None:
    """The one existing user an outside identity names, or None.

    Usernames match exactly (as the login form does); emails case-insensitively, and only
    when exactly one account has that address: two accounts sharing one would make the
    login a guess, so it is refused like an unknown identity.
    """
    value = value.strip()
    if not value:
        return None
    if match is Match.USERNAME:
        return session.exec(select(User).where(User.username == value)).first()
    users = session.exec(
        select(User).where(func.lower(col(User.email)) == value.lower()).limit(2)
    ).all()
    return users[0] if len(users) == 1 else None


def record_unknown(
    session: Session, method: SignInMethod, identity: str, *, ip: str | None
) -> None:
    """Audit a login by an identity that names no evalsys user (the caller commits)."""
    service.audit(
        session, "login.unknown", user_id=None, target=identity[:300], detail=method.value, ip=ip
    )


#: What the unknown-identity page says: no account, or one switched off...
UNKNOWN_IDENTITY_TITLE = _l("Your account is not set up in evalsys")
UNKNOWN_IDENTITY_TEXT = _l(
    "Your account is not set up in evalsys; ask the teaching-quality office."
)
SWITCHED_OFF_TITLE = _l("Your evalsys account is switched off")
SWITCHED_OFF_TEXT = _l("Your evalsys account is switched off; ask the teaching-quality office.")
#: ...and who said who the reader is.
UNKNOWN_IDENTITY_HOW = {
    SignInMethod.LDAP: _l("The directory accepted your username and password as %(identity)s."),
    SignInMethod.OIDC: _l("Your single sign-on account is %(identity)s."),
}


def unknown_identity_page(
    session: Session,
    method: SignInMethod,
    identity: str,
    *,
    ip: str | None,
    user: User | None = None,
) -> ResponseReturnValue:
    """The 403 page for an outside identity that names no usable evalsys account — none
    at all, or ``user`` switched off — audited (``login.unknown``, ``login.inactive``) and
    committed. Nobody is logged in and no account is made: who may use evalsys is decided
    by the people import, not by the directory or the provider."""
    if user is None:
        record_unknown(session, method, identity, ip=ip)
    else:
        service.audit(
            session,
            "login.inactive",
            user_id=None,
            target=user.username,
            detail=method.value,
            ip=ip,
        )
    session.commit()
    how = UNKNOWN_IDENTITY_HOW.get(method)
    off = user is not None
    page = render_template(
        "accounts/unknown_identity.html",
        title=SWITCHED_OFF_TITLE if off else UNKNOWN_IDENTITY_TITLE,
        text=SWITCHED_OFF_TEXT if off else UNKNOWN_IDENTITY_TEXT,
        how=how % {"identity": identity} if how is not None else None,
        method=method.value,
    )
    return page, 403


def finish(
    session: Session, user: User, method: SignInMethod, next_url: str
) -> ResponseReturnValue:
    """The first step passed: log ``user`` in, or, when they have a second factor (or the
    site requires one of them and they have none yet), park the login and ask for it.

    A parked login (``accounts.pending``) is not a login: the user is logged in by
    :func:`_complete` only after the code (``accounts.views_totp``).
    """
    from evalsys.accounts import pending, totp

    if totp.wanted(session, current_app.config, user):
        pending.begin(session, user, method, next_url)
        session.commit()
        where = "verify" if totp.enabled(user) else "enrol"
        return redirect(url_for(f"accounts.login_{where}"))
    return _complete(session, user, method, next_url)


def _complete(
    session: Session, user: User, method: SignInMethod, next_url: str
) -> ResponseReturnValue:
    """Log ``user`` in by ``method``: the server-side session, the audit event, the commit,
    and the redirect to ``next_url`` (a same-site path the caller checked).

    A completed login clears the username's failed tries (``security.ratelimit``): only
    here, not after the password alone, so wrong codes keep counting after a right one.
    """
    login_user(user)
    # The server-side record that logout, a password change or expiry ends.
    flask_session[sessions.SESSION_KEY] = sessions.start(session, user, method=method)
    ratelimit.record(session, username=user.username, ip=request.remote_addr or "", succeeded=True)
    # A password login is the default and says nothing more; the others name their way.
    how = None if method is SignInMethod.PASSWORD else method.value
    service.audit(session, "login", user_id=user.id, detail=how, ip=request.remote_addr)
    session.commit()
    return redirect(next_url)
