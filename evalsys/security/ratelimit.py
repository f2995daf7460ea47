"""The login rate limit: too many failures for one username, or from one address, and
logins are refused for a while with a 429.

Counts live in the ``login_attempt`` table, so the limit holds across gunicorn
workers and restarts. The username is counted whether or not an account has it,
and a blocked try never checks the password: the answer reveals neither whether
an account exists nor whether a password was right. Two concurrent tries may both
pass the check before either is written, so the limit can be overshot by the
number of workers at most; that is enough to stop password guessing.

"Forgot password" requests are limited the same way, counted apart (``kind`` reset,
:meth:`Limits.for_resets`): every request counts, per email address as typed and per
client address, whether or not an account has that address, so the 429 tells nothing
either. A wrong current password on the "change password" page counts as a failed
login of that username: a borrowed session is no way round the login limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from evalsys.clock import as_utc, utcnow
from evalsys.security.models import AttemptKind, LoginAttempt

#: Attempt rows are kept this long (the window is never longer in practice).
KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    per_user: int
    per_address: int
    window: timedelta
    kind: AttemptKind = AttemptKind.LOGIN

    @classmethod
    def of(cls, app: Flask) -> Limits:
        return cls(
            per_user=int(app.config["LOGIN_MAX_FAILURES_PER_USER"]),
            per_address=int(app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
            window=timedelta(seconds=int(app.config["LOGIN_FAILURE_WINDOW_SECONDS"])),
        )

    @classmethod
    def for_resets(cls, app: Flask) -> Limits:
        """ "Forgot password" requests per email address and per client address."""
        return cls(
            per_user=int(app.config["PASSWORD_RESET_MAX_PER_EMAIL"]),
            per_address=int(app.config["PASSWORD_RESET_MAX_PER_ADDRESS"]),
            window=timedelta(seconds=int(app.config["LOGIN_FAILURE_WINDOW_SECONDS"])),
            kind=AttemptKind.RESET,
        )


def _key(username: str) -> str:
    return username.strip().lower()[:80]


def retry_after(
    session: Session, *, username: str, ip: str, limits: Limits, now: datetime | None = None
) -> int | None:
    """Seconds until a login for ``username`` from ``ip`` may be tried; None if it may now.

    (A reset request, with :meth:`Limits.for_resets`: ``username`` is the email address.)
    """
    now = now or utcnow()
    since = now - limits.window
    kind = limits.kind.value
    last_success = (
        select(func.max(LoginAttempt.at))
        .where(
            LoginAttempt.kind == kind,
            LoginAttempt.username == _key(username),
            col(LoginAttempt.succeeded),
        )
        .scalar_subquery()
    )
    by_user = (
        select(LoginAttempt.at)
        .where(
            LoginAttempt.kind == kind,
            LoginAttempt.username == _key(username),
            col(LoginAttempt.succeeded).is_(False),
            LoginAttempt.at > since,
            LoginAttempt.at > func.coalesce(last_success, since),
        )
        .order_by(col(LoginAttempt.at).desc())
        .limit(limits.per_user)
    )
    by_ip = (
        select(LoginAttempt.at)
        .where(LoginAttempt.kind == kind, LoginAttempt.ip == ip[:64])
        .where(col(LoginAttempt.succeeded).is_(False))
        .where(LoginAttempt.at > since)
        .order_by(col(LoginAttempt.at).desc())
        .limit(limits.per_address)
    )
    waits = []
    for stmt, limit in ((by_user, limits.per_user), (by_ip, limits.per_address)):
        times = list(session.exec(stmt).all())
        if len(times) >= limit:
            # Blocked until the oldest of the last `limit` failures leaves the window.
            oldest = as_utc(times[-1])
            waits.append(max(1, int((oldest + limits.window - now).total_seconds()) + 1))
    return max(waits) if waits else None


def record(
    session: Session,
    *,
    username: str,
    ip: str,
    succeeded: bool,
    kind: AttemptKind = AttemptKind.LOGIN,
) -> None:
    """Note one attempt (the caller commits) and forget those older than a day.

    A reset request is recorded as not succeeded: every one counts against the limit.
    """
    now = utcnow()
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.at) < now - KEEP))
    session.add(
        LoginAttempt(
            at=now, username=_key(username), ip=ip[:64], succeeded=succeeded, kind=kind.value
        )
    )


def minutes(seconds: int) -> str:
    from flask_babel import ngettext

    mins = max(1, -(-seconds // 60))
    return ngettext("%(num)d minute", "%(num)d minutes", mins)
