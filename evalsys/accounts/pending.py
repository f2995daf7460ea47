"""A login waiting for its second factor: the first step passed, nobody is logged in yet.

Kept in Flask's session (a signed cookie) under :data:`KEY`: who, by which method, where
to go next, and when it began. It is **not** a login: Flask-Login knows nothing of it, so
every page but the two second-factor pages still sends the browser to the login page.

It ends after :data:`MAX_AGE`, and it is bound to the user's logins: it records the
newest login session the user had when it began, and is void as soon as a newer one
exists. Completing it makes one, so a copy of the cookie taken before (or the same
cookie sent again) opens nothing a second time; nor does one left in another browser
once the user has logged in elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import session as flask_session
from sqlalchemy import func
from sqlmodel import Session, select

from evalsys.accounts.models import SignInMethod, User, UserSession
from evalsys.clock import utcnow

#: Where the pending login lives in Flask's session.
KEY = "_pending_login"
#: How long the second step may take.
MAX_AGE = timedelta(minutes=5)


@dataclass(frozen=True)
class Pending:
    user: User
    method: SignInMethod
    next_url: str


def _newest_session(session: Session, user_id: int) -> int:
    stmt = select(func.max(UserSession.id)).where(UserSession.user_id == user_id)
    return int(session.exec(stmt).one() or 0)


def begin(session: Session, user: User, method: SignInMethod, next_url: str) -> None:
    """Park the login of ``user`` until the second step is done."""
    assert user.id is not None  # a stored user
    flask_session[KEY] = {
        "uid": user.id,
        "method": method.value,
        "next": next_url,
        "at": utcnow().timestamp(),
        "after": _newest_session(session, user.id),
    }


def current(session: Session) -> Pending | None:
    """The pending login of this browser while it holds: not expired, not used, for an
    active account. One that does not hold is dropped."""
    raw = flask_session.get(KEY)
    found = _read(session, raw) if isinstance(raw, dict) else None
    if found is None:
        drop()
    return found


def _read(session: Session, raw: dict) -> Pending | None:
    try:
        uid, started, after = int(raw["uid"]), float(raw["at"]), int(raw["after"])
        method, next_url = SignInMethod(raw["method"]), str(raw["next"])
    except (KeyError, TypeError, ValueError):
        return None
    age = utcnow().timestamp() - started
    if not 0 <= age < MAX_AGE.total_seconds():
        return None
    user = session.get(User, uid)
    if user is None or not user.active or _newest_session(session, uid) != after:
        return None
    return Pending(user, method, next_url)


def was_pending() -> bool:
    """Did this browser have a pending login (held or not)? For the "took too long" note."""
    return KEY in flask_session


def drop() -> None:
    flask_session.pop(KEY, None)
