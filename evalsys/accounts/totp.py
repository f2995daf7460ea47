"""The second factor: an authenticator app (TOTP, RFC 6238) and one-time recovery codes.

Plain functions taking a session; the views commit. The rules that make a code worth
asking for:

- a code is accepted for the current 30-second step and one step either side (phones'
  clocks drift), but **never for a step at or before the last one accepted**
  (``User.totp_last_step``): a code seen over a shoulder, or replayed, does not work
  twice. The step is moved on by one conditional ``UPDATE``, so two requests racing
  with the same code cannot both win;
- time is read from :mod:`evalsys.clock` (tests move it), never from pyotp's own clock;
- a recovery code works once: it is spent by a conditional ``UPDATE`` on ``used_at``;
  only its SHA-256 is stored (the codes are random, 50 bits each, so no slow hash);
- the secret is stored as it is (base32, ``User.totp_secret``): whoever reads the
  database can make codes, so the database is to be guarded like ``SECRET_KEY``. A
  secret whose ``totp_enabled_at`` is empty is an enrolment not yet confirmed: it
  asks nothing at login.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

import pyotp
import segno
from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from evalsys.accounts import service, sessions
from evalsys.accounts.access import is_school_admin
from evalsys.accounts.models import RecoveryCode, SessionEnd, User
from evalsys.clock import utcnow

#: How many recovery codes a set has.
RECOVERY_CODES = 10
#: The name authenticator apps show beside the account.
ISSUER = "evalsys"
#: Recovery codes are written in these letters (no 0/o, 1/l/i to misread).
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_CODE = re.compile(r"^\d{6}$")


def required(session: Session, config: Mapping[str, Any], user: User) -> bool:
    """Must ``user`` have a second factor (a school admin, where the site asks for it)?"""
    return bool(config.get("ADMIN_TOTP_REQUIRED")) and is_school_admin(session, user)


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def wanted(session: Session, config: Mapping[str, Any], user: User) -> bool:
    """Does a login of ``user`` need a second step (a code, or enrolment first)?"""
    return enabled(user) or required(session, config, user)


# --- the authenticator app ------------------------------------------------------------


def pending_secret(session: Session, user: User) -> str:
    """The secret being enrolled: the unconfirmed one already stored, or a new one.

    Kept in the database rather than the session cookie (which is signed, not secret), and
    the same on every reload, so a user who scanned it and reloaded the page is not lost.
    """
    if user.totp_secret and user.totp_enabled_at is None:
        return user.totp_secret
    if enabled(user):
        raise service.AccountError("the second factor is on already")
    user.totp_secret = pyotp.random_base32()
    session.add(user)
    return user.totp_secret


def grouped(secret: str) -> str:
    """The secret in groups of four, as people type it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def uri(user: User, secret: str) -> str:
    """The ``otpauth://`` address the QR code carries."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def qr_svg(text: str, title: str) -> str:
    """The QR code of ``text`` as inline SVG (no style attribute: the CSP forbids them)."""
    qr = segno.make(text, error="m")
    svg = qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", title=title, omitsize=True)
    return str(svg).replace("<svg ", '<svg role="img" ', 1)


def clean_code(text: str) -> str:
    """What was typed, without the spaces and dashes people add."""
    return re.sub(r"[\s-]+", "", text or "")


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (now, or one either side) whose code is ``code``; None if none is."""
    code = clean_code(code)
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def _take_step(session: Session, user: User, step: int) -> bool:
    """Record ``step`` as used unless it, or a later one, was already: one UPDATE, so of
    two requests with the same code only one gets the row."""
    result = session.exec(
        update(User)
        .where(
            col(User.id) == user.id,
            or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return False
    user.totp_last_step = step
    return True


def check_code(session: Session, user: User, code: str) -> bool:
    """Is ``code`` the user's current code, not used before? If so it is now used."""
    if not enabled(user):
        return False
    assert user.totp_secret is not None  # enabled() says so
    step = _matching_step(user.totp_secret, code)
    if step is None:
        return False
    return _take_step(session, user, step)


def enable(session: Session, user: User, code: str, *, ip: str | None = None) -> list[str] | None:
    """Confirm the enrolment with the first code from the app: the second factor is on,
    and a first set of recovery codes is made and returned (to be shown once). None, and
    nothing changed, when the code is not the pending secret's."""
    if enabled(user) or not user.totp_secret:
        return None
    step = _matching_step(user.totp_secret, code)
    if step is None:
        return None
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    session.add(user)
    codes = _new_codes(session, user)
    service.audit(
        session,
        "totp.enable",
        user_id=user.id,
        target=user.username,
        detail=f"before: off; after: on, {len(codes)} recovery codes",
        ip=ip,
    )
    return codes


def _clear(session: Session, user: User) -> int:
    """Switch the second factor off: secret, step and recovery codes gone. Returns how many
    unused recovery codes there were."""
    left = remaining_codes(session, user)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.add(user)
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    return left


def disable(session: Session, user: User, *, ip: str | None = None) -> None:
    """The user switches their own second factor off (the view checked a code or the
    password, and that the site does not require it of them)."""
    left = _clear(session, user)
    service.audit(
        session,
        "totp.disable",
        user_id=user.id,
        target=user.username,
        detail=f"before: on, {left} recovery codes left; after: off",
        ip=ip,
    )


def reset(session: Session, user: User, *, by: int | None, ip: str | None = None) -> int:
    """An administrator clears ``user``'s second factor (a lost phone): secret and codes go,
    and every session of the user ends. Returns the number of sessions ended. The user sets
    a new one up at their next login (if required) or from their security page."""
    was_on = enabled(user)
    left = _clear(session, user)
    ended = sessions.end_all(session, user, reason=SessionEnd.SECOND_FACTOR, by=by)
    before = f"on, {left} recovery codes left" if was_on else "off"
    service.audit(
        session,
        "totp.reset",
        user_id=by,
        target=user.username,
        detail=f"before: {before}; after: off; {ended} sessions ended",
        ip=ip,
    )
    return ended


# --- recovery codes -------------------------------------------------------------------


def _digest(code: str) -> str:
    return hashlib.sha256(clean_code(code).lower().encode()).hexdigest()


def _new_codes(session: Session, user: User) -> list[str]:
    """Replace the user's recovery codes with a fresh set; the codes, shown once."""
    assert user.id is not None  # a stored user
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=_digest(code)))
    return codes


def regenerate_codes(session: Session, user: User, *, ip: str | None = None) -> list[str]:
    """A new set of recovery codes (the view checked a current code); the old set is void."""
    left = remaining_codes(session, user)
    codes = _new_codes(session, user)
    service.audit(
        session,
        "recovery_codes.regenerate",
        user_id=user.id,
        target=user.username,
        detail=f"before: {left} unused; after: {len(codes)} new",
        ip=ip,
    )
    return codes


def use_recovery_code(session: Session, user: User, code: str, *, ip: str | None = None) -> bool:
    """Spend one of the user's recovery codes; False if it is not one, or was used."""
    if not enabled(user) or not clean_code(code):
        return False
    result = session.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == _digest(code),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return False
    service.audit(
        session,
        "login.recovery_code",
        user_id=user.id,
        target=user.username,
        detail=f"{remaining_codes(session, user)} left",
        ip=ip,
    )
    return True


def remaining_codes(session: Session, user: User) -> int:
    stmt = (
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None))
    )
    return int(session.exec(stmt).one())
