"""Set-password links: signed, expiring, and dead once used, with no table behind them.

An invitation and a password reset both email a link to ``/password/set/TOKEN`` or
``/password/reset/TOKEN``. The token is an itsdangerous ``URLSafeTimedSerializer``
payload signed with ``SECRET_KEY`` and a salt per purpose (an invitation's token does
not open the reset page, nor the reverse) carrying:

- the user's id, and
- a *fingerprint* of the user's current password hash (an HMAC of it under the
  secret key; None, for an account without a password, has one too).

Setting a password changes the hash, so every link sent before stops matching: a link
works once, and a reset link dies as soon as the password is changed by any means.
Nothing is stored: re-sending an invitation does not invalidate the first one (both
work until one is used or they expire), and a stolen database holds no link.

The time a token was signed is read from :mod:`evalsys.clock` (not ``time.time()``),
so tests move the site's clock to see a link expire. Changing ``SECRET_KEY`` ends every
link (and every login session).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session

from evalsys.accounts.models import MailKind, User
from evalsys.clock import utcnow

#: The address of each kind of link (the views route these; emails write them).
PATHS: dict[MailKind, str] = {
    MailKind.INVITE: "/password/set/",
    MailKind.RESET: "/password/reset/",
}
#: Longest token the pages read: a real one is about 90 characters.
MAX_TOKEN = 400


class LinkProblem(StrEnum):
    """Why a link does not work (each has its own page and audit detail)."""

    #: Not a token we signed for this purpose (altered, cut short, or for another page).
    BAD = "bad"
    #: Older than its purpose's lifetime.
    EXPIRED = "expired"
    #: Signed by us, but the password has been set or changed since: used already.
    USED = "used"
    #: The account is gone or switched off.
    NO_ACCOUNT = "no_account"


class LinkError(Exception):
    def __init__(self, problem: LinkProblem, user: User | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        #: The account the link names, when its signature was good (for the audit log).
        self.user = user


@dataclass(frozen=True)
class LinkHolder:
    """Who a working link is for, and the password hash it was made against."""

    user: User
    #: What ``service.set_password(replacing=...)`` must still find (None: no password).
    password_hash: str | None


class _SiteClockSigner(TimestampSigner):
    """itsdangerous' timestamp signer, reading the time from the site's one clock."""

    def get_timestamp(self) -> int:
        return int(utcnow().timestamp())


def max_age(config: Mapping[str, Any], kind: MailKind) -> timedelta:
    if kind == MailKind.INVITE:
        return timedelta(days=float(config["INVITATION_MAX_AGE_DAYS"]))
    return timedelta(minutes=float(config["PASSWORD_RESET_MAX_AGE_MINUTES"]))


def _serializer(config: Mapping[str, Any], kind: MailKind) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        config["SECRET_KEY"], salt=f"evalsys.password-link.{kind.value}", signer=_SiteClockSigner
    )


def fingerprint(config: Mapping[str, Any], user: User) -> str:
    """A short keyed digest of the user's current password hash (changes with it)."""
    key = str(config["SECRET_KEY"]).encode()
    message = f"{user.id}:{user.password_hash or ''}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def make_token(config: Mapping[str, Any], user: User, kind: MailKind) -> str:
    """A token for ``user``'s link of this kind, valid until used or :func:`max_age` old."""
    return str(_serializer(config, kind).dumps([user.id, fingerprint(config, user)]))


def url(base: str, token: str, kind: MailKind) -> str:
    """The full link, under the site's configured address (never a request's Host)."""
    return f"{base.rstrip('/')}{PATHS[kind]}{token}"


def read_token(
    session: Session, config: Mapping[str, Any], token: str, kind: MailKind
) -> LinkHolder:
    """Who the link is for, or :class:`LinkError` saying why it does not work.

    The signature is checked before anything is read from the database, and the
    fingerprint compared in constant time.
    """
    if not token or len(token) > MAX_TOKEN:
        raise LinkError(LinkProblem.BAD)
    serializer = _serializer(config, kind)
    seconds = int(max_age(config, kind).total_seconds())
    try:
        payload = serializer.loads(token, max_age=seconds)
    except SignatureExpired as err:
        # Signed by us, so its payload is ours: name the account in the audit log.
        user = None
        if isinstance(err.payload, bytes):
            try:
                user = _user_of(session, serializer.load_payload(err.payload))
            except BadData:
                user = None
        raise LinkError(LinkProblem.EXPIRED, user) from None
    except BadData:
        raise LinkError(LinkProblem.BAD) from None
    user = _user_of(session, payload)
    if user is None or not user.active:
        raise LinkError(LinkProblem.NO_ACCOUNT, user)
    seen = payload[1] if isinstance(payload, list) and len(payload) == 2 else ""
    if not isinstance(seen, str) or not hmac.compare_digest(seen, fingerprint(config, user)):
        raise LinkError(LinkProblem.USED, user)
    return LinkHolder(user=user, password_hash=user.password_hash)


def _user_of(session: Session, payload: Any) -> User | None:
    """The user a (signed) payload names; None if it names none."""
    if not isinstance(payload, list) or len(payload) != 2:
        return None
    user_id = payload[0]
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2**31:
        return None
    return session.get(User, user_id)
