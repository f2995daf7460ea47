"""API tokens: create (shown once), find by hash, revoke, and note when each was last used.

A token is ``evs_`` followed by 43 URL-safe characters (``secrets.token_urlsafe(32)``,
256 random bits). Only its SHA-256 hex digest is stored: a copy of the database
gives nobody a usable token. Tokens are long random strings, so a plain hash is
enough (no salt, no slow hash); lookup is by the digest, so comparing a guess
never walks the stored secrets character by character.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.accounts.service import audit
from evalsys.api.models import ApiToken
from evalsys.clock import utcnow

#: Every token starts with this, so a leaked one is easy to recognise (and to grep for).
TOKEN_PREFIX = "evs_"
#: How many leading characters are kept in clear, to tell tokens apart in listings.
SHOWN_CHARS = 12
#: ``last_used_at`` is written at most this often per token (not once per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token operation that cannot be carried out; the message says why."""


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(
    session: Session, *, user: User, name: str = "", now: datetime | None = None
) -> tuple[ApiToken, str]:
    """Store a new token for ``user``; returns the row and the token itself (never stored)."""
    name = name.strip()
    if len(name) > 100:
        raise TokenError(f"the name has {len(name)} characters; at most 100")
    if not user.active:
        raise TokenError(f"the account '{user.username}' is deactivated")
    raw = new_token_value()
    token = ApiToken(
        user_id=user.id,  # type: ignore[arg-type]  # a stored row's id, never None
        name=name,
        token_hash=hash_token(raw),
        prefix=raw[:SHOWN_CHARS],
        created_at=now or utcnow(),
    )
    session.add(token)
    session.flush()
    audit(session, "token.create", user_id=None, target=user.username, detail=token.prefix)
    return token, raw


def find_token(session: Session, raw: str) -> tuple[ApiToken, User] | None:
    """The live token and its active user for a presented token; None for anything else."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = hash_token(raw)
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == digest)
    ).first()
    if row is None:
        return None
    token, user = row
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None or not user.active:
        return None
    return token, user


def note_use(session: Session, token: ApiToken, now: datetime | None = None) -> bool:
    """Set ``last_used_at`` unless it was set less than a minute ago; True if written.

    One conditional UPDATE, so concurrent requests never write it twice in a minute.
    The caller commits.
    """
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return False
    stmt = (
        update(ApiToken)
        .where(col(ApiToken.id) == token.id)
        .where(
            or_(
                col(ApiToken.last_used_at).is_(None),
                col(ApiToken.last_used_at) <= now - LAST_USED_RESOLUTION,
            )
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    written = session.exec(stmt).rowcount > 0
    if written:
        token.last_used_at = now
    return written


def list_tokens(session: Session, username: str | None = None) -> list[tuple[ApiToken, str]]:
    """Tokens with their owner's username, oldest first (of one user when given)."""
    stmt = (
        select(ApiToken, User.username)
        .join(User, col(User.id) == ApiToken.user_id)
        .order_by(col(ApiToken.created_at), col(ApiToken.id))
    )
    if username is not None:
        stmt = stmt.where(User.username == username)
    return [(token, name) for token, name in session.exec(stmt).all()]


def revoke_token(session: Session, ref: str, now: datetime | None = None) -> ApiToken:
    """Revoke the token with this id or prefix (the start shown by ``token list``)."""
    ref = ref.strip()
    if ref.isdigit():
        matches = list(session.exec(select(ApiToken).where(ApiToken.id == int(ref))).all())
    elif len(ref) >= len(TOKEN_PREFIX) + 4:
        pattern = ref[:SHOWN_CHARS].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = select(ApiToken).where(col(ApiToken.prefix).like(pattern + "%", escape="\\"))
        matches = list(session.exec(stmt).all())
        if len(ref) > SHOWN_CHARS:  # the whole token was given: match it exactly
            matches = [t for t in matches if hmac.compare_digest(t.token_hash, hash_token(ref))]
    else:
        raise TokenError(f"'{ref}' is neither a token id nor a token prefix (like evs_AbC1xYz9)")
    if not matches:
        raise TokenError(f"no token matches '{ref}'")
    if len(matches) > 1:
        ids = ", ".join(str(t.id) for t in matches)
        raise TokenError(f"'{ref}' matches several tokens (ids {ids}); give the id")
    token = matches[0]
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        session.add(token)
        session.flush()
        audit(session, "token.revoke", user_id=None, target=str(token.id), detail=token.prefix)
    return token
