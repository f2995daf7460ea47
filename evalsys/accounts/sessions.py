"""Login sessions kept on the server, so that a session can end before its cookie does.

Flask's session is a signed cookie: logging out only makes the browser forget it,
and a copy taken before still reads as logged in. So each login gets a
:class:`UserSession` row; the cookie carries the row's random id, and the user
loader (``evalsys.web``) lets a request in only while the row is live: not ended,
used within ``SESSION_IDLE_MINUTES``, younger than ``SESSION_ABSOLUTE_HOURS``.

Rows end on logout (that one), on a password change, a deactivation or a role
taken away (all of the user's, through :func:`end_all`), and on expiry. Ended and
expired rows are deleted after :data:`KEEP` by the ``purge-sessions`` job.
API tokens are separate (``evalsys.api.tokens``) and unaffected.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from evalsys.accounts.models import SessionEnd, SignInMethod, User, UserSession
from evalsys.clock import utcnow

#: Where the raw session id lives in Flask's (signed) session.
SESSION_KEY = "_session_id"
#: last_seen_at is written at most this often, not on every request.
TOUCH_EVERY = timedelta(minutes=1)
#: Ended and expired rows are kept this long (who was logged in when), then purged.
KEEP = timedelta(days=30)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Lifetimes:
        return cls(
            idle=timedelta(minutes=float(config["SESSION_IDLE_MINUTES"])),
            absolute=timedelta(hours=float(config["SESSION_ABSOLUTE_HOURS"])),
        )


@dataclass(frozen=True)
class Verdict:
    """Whether a request's session is live; if not, why it ended (None: no session at all)."""

    live: bool
    reason: SessionEnd | None = None


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start(
    session: Session,
    user: User,
    *,
    method: SignInMethod = SignInMethod.PASSWORD,
    now: datetime | None = None,
) -> str:
    """A new session for ``user`` (the caller commits); returns the raw id for the cookie."""
    now = now or utcnow()
    raw = secrets.token_urlsafe(32)
    assert user.id is not None  # only a stored user logs in
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=digest(raw),
            created_at=now,
            last_seen_at=now,
            method=method.value,
        )
    )
    return raw


def end(session: Session, raw: str | None, reason: SessionEnd) -> None:
    """End one session (logout); an unknown or ended one is left as it is."""
    if raw:
        session.exec(
            update(UserSession)
            .where(col(UserSession.token_hash) == digest(raw), col(UserSession.ended_at).is_(None))
            .values(ended_at=utcnow(), end_reason=reason.value)
        )


def end_all(
    session: Session,
    user: User,
    *,
    reason: SessionEnd,
    keep: str | None = None,
    by: int | None = None,
) -> int:
    """End every open session of ``user`` but ``keep`` (a raw id); audited when any ended.

    The one place a password change, a deactivation or a role taken away logs
    the user out everywhere. ``keep`` spares the session that asked for the change
    (a user changing their own password stays logged in where they did it).
    """
    from evalsys.accounts.service import audit

    if user.id is None:
        return 0
    stmt = update(UserSession).where(
        col(UserSession.user_id) == user.id, col(UserSession.ended_at).is_(None)
    )
    if keep:
        stmt = stmt.where(col(UserSession.token_hash) != digest(keep))
    result = session.exec(stmt.values(ended_at=utcnow(), end_reason=reason.value))
    count = int(result.rowcount or 0)
    if count:
        noun = "session" if count == 1 else "sessions"
        detail = f"{count} {noun} ended ({reason.value})"
        audit(session, "sessions.end", user_id=by, target=user.username, detail=detail)
    return count


def check(
    session: Session,
    raw: str | None,
    *,
    user_id: int,
    lifetimes: Lifetimes,
    may_write: bool,
    now: datetime | None = None,
) -> Verdict:
    """Is the session behind ``raw`` live for ``user_id``? Notes use and expiry if it may.

    ``may_write`` says the session holds nothing of the caller's: then this commits
    its reads before it writes (a write after a read in one SQLite transaction fails
    if another process wrote in between) and commits the write. Otherwise it only
    reads; the next request does the writing.
    """
    if not raw:
        return Verdict(False)
    now = now or utcnow()
    record = session.exec(select(UserSession).where(UserSession.token_hash == digest(raw))).first()
    if record is None or record.user_id != user_id:
        return Verdict(False)
    if record.ended_at is not None:
        assert record.end_reason is not None  # the ended_with_reason check constraint
        return Verdict(False, SessionEnd(record.end_reason))
    idle_since, started = record.last_seen_at, record.created_at
    expired = now - idle_since >= lifetimes.idle or now - started >= lifetimes.absolute
    if not expired and now - idle_since < TOUCH_EVERY:
        return Verdict(True)
    if may_write:
        session.commit()
        values: dict[str, Any] = {"last_seen_at": now}
        if expired:
            values = {"ended_at": now, "end_reason": SessionEnd.EXPIRED.value}
        session.exec(
            update(UserSession)
            .where(col(UserSession.id) == record.id, col(UserSession.ended_at).is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return Verdict(False, SessionEnd.EXPIRED) if expired else Verdict(True)


def purge(session: Session, *, lifetimes: Lifetimes, now: datetime | None = None) -> int:
    """Delete the sessions that ended, or expired, more than :data:`KEEP` ago."""
    now = now or utcnow()
    cutoff = now - KEEP
    result = session.exec(
        delete(UserSession).where(
            or_(
                col(UserSession.ended_at) < cutoff,
                col(UserSession.last_seen_at) < cutoff - lifetimes.idle,
                col(UserSession.created_at) < cutoff - lifetimes.absolute,
            )
        )
    )
    return int(result.rowcount or 0)
