"""Account emails: invitations and password resets, queued, sent and retried.

The same path as the loop's notices and the report delivery: a row (``account_mail``)
is queued in the transaction that calls for it, then *claimed* by an UPDATE only one
sender can win, committed, sent over SMTP with :func:`evalsys.mail.send` (the MAIL_*
settings), and marked sent; a failed send is retried by the ``account-mail`` job until
ACCOUNT_MAIL_MAX_ATTEMPTS. ``evalsys invite`` and the "forgot password" page send what
they queued at once (the page after its answer has gone out, see
``accounts.views_passwords``), and the job picks up whatever failed.

The set-password link is signed when the email is written (``accounts.links``), never
stored, so it is valid from the moment it is sent. Each email is written in its
reader's language (:func:`evalsys.i18n.locale_of`).
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from evalsys import mail
from evalsys.accounts import links
from evalsys.accounts.models import AccountMail, MailKind, MailStatus, User
from evalsys.clock import utcnow
from evalsys.i18n import fmt_datetime, in_locale, locale_of

DEFAULT_MAX_ATTEMPTS = 5
#: A claim older than this belongs to a sender that died mid-send: the row is taken again
#: (its email may then go twice, which for a set-password link is harmless).
STALE_CLAIM = timedelta(minutes=10)
#: Rows still to be sent (or retried).
WAITING = (MailStatus.PENDING.value, MailStatus.FAILED.value, MailStatus.SENDING.value)


def base_url(config: Mapping[str, Any]) -> str:
    """Where the links in account emails point: BASE_URL, else LOOP_BASE_URL ("" if neither)."""
    return str(config.get("BASE_URL") or config.get("LOOP_BASE_URL") or "").strip().rstrip("/")


def missing_settings(config: Mapping[str, Any]) -> list[str]:
    """The settings account emails need that the site has not set (none: they can be sent)."""
    missing = [] if config.get("MAIL_SERVER") else ["MAIL_SERVER"]
    return missing + ([] if base_url(config) else ["BASE_URL"])


def queue(session: Session, user: User, kind: MailKind) -> AccountMail | None:
    """Queue one email to ``user`` (the caller commits); None if they have no address.

    A second invitation while one is still waiting to be sent queues nothing new: the
    waiting one is returned (a re-run of ``evalsys invite`` sends it, not two).
    """
    if not user.email:
        return None
    if kind == MailKind.INVITE:
        waiting = session.exec(
            select(AccountMail).where(
                AccountMail.user_id == user.id,
                AccountMail.kind == kind.value,
                col(AccountMail.status).in_(WAITING),
            )
        ).first()
        if waiting is not None:
            return waiting
    assert user.id is not None  # a stored user
    row = AccountMail(user_id=user.id, kind=kind.value, email=user.email)
    session.add(row)
    session.flush()
    return row


def send_pending(
    session: Session,
    config: Mapping[str, Any],
    *,
    ids: Collection[int] | None = None,
    progress: Callable[[AccountMail], None] | None = None,
) -> dict[str, int]:
    """Send the waiting emails (only ``ids``, if given); commit after each one.

    Returns how many were sent, failed (retried later, or given up after the last
    attempt) and dropped (see :class:`MailStatus`). Needs an app context (the emails'
    language). Without MAIL_SERVER or a base URL nothing is sent: the rows wait.
    """
    counts = {"sent": 0, "failed": 0, "dropped": 0}
    if missing_settings(config):
        return counts
    limit = int(config.get("ACCOUNT_MAIL_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)
    session.commit()
    stmt = select(AccountMail.id).where(col(AccountMail.status).in_(WAITING))
    if ids is not None:
        stmt = stmt.where(col(AccountMail.id).in_(list(ids)))
    for mail_id in session.exec(stmt.order_by(col(AccountMail.id))).all():
        assert mail_id is not None
        if not _claim(session, mail_id, limit):
            continue  # another sender has it, or its attempts are used up
        row = session.get(AccountMail, mail_id, populate_existing=True)
        assert row is not None
        outcome = _send_one(session, config, row, limit)
        counts[outcome] += 1
        session.add(row)
        session.commit()
        if progress is not None:
            progress(row)
    return counts


def _claim(session: Session, mail_id: int, limit: int) -> bool:
    now = utcnow()
    claimable = or_(
        col(AccountMail.status).in_([MailStatus.PENDING.value, MailStatus.FAILED.value]),
        and_(
            col(AccountMail.status) == MailStatus.SENDING.value,
            col(AccountMail.claimed_at) < now - STALE_CLAIM,
        ),
    )
    claimed = session.exec(
        update(AccountMail)
        .where(col(AccountMail.id) == mail_id, claimable, col(AccountMail.attempts) < limit)
        .values(
            status=MailStatus.SENDING.value,
            attempts=col(AccountMail.attempts) + 1,
            claimed_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return claimed == 1


def _send_one(session: Session, config: Mapping[str, Any], row: AccountMail, limit: int) -> str:
    """Send one claimed row and set its status; returns the count it goes to."""
    user = session.get(User, row.user_id)
    kind = MailKind(row.kind)
    reason = _drop_reason(user, row, kind)
    if reason is not None or user is None:
        row.status = MailStatus.DROPPED.value
        row.last_error = reason
        return "dropped"
    try:
        mail.send(config, message(config, user, kind))
    except (OSError, smtplib.SMTPException) as err:
        row.status = MailStatus.GAVE_UP.value if row.attempts >= limit else MailStatus.FAILED.value
        row.last_error = f"{type(err).__name__}: {err}"[:2000]
        return "failed"
    row.status = MailStatus.SENT.value
    row.sent_at = utcnow()
    row.last_error = None
    return "sent"


def _drop_reason(user: User | None, row: AccountMail, kind: MailKind) -> str | None:
    if user is None or not user.active:
        return "the account is switched off"
    if (user.email or "").strip().lower() != row.email.strip().lower():
        return "the account's email address changed since this was queued"
    if kind == MailKind.INVITE and user.password_hash:
        return "the account has a password now"
    return None


def message(config: Mapping[str, Any], user: User, kind: MailKind) -> EmailMessage:
    """The email with a freshly signed link, in the user's language."""
    token = links.make_token(config, user, kind)
    link = links.url(base_url(config), token, kind)
    age = links.max_age(config, kind)
    until = utcnow() + age
    login = f"{base_url(config)}/login"
    with in_locale(locale_of(user)):
        if kind == MailKind.INVITE:
            days = max(1, round(age / timedelta(days=1)))
            subject = _("Your evalsys account: set your password")
            body = [
                _("Dear %(name)s,", name=user.name),
                "",
                _(
                    "An account in evalsys, the teaching-quality feedback system, is ready "
                    "for you. Your username is %(username)s.",
                    username=user.username,
                ),
                "",
                _("Choose your password here:"),
                link,
                "",
                ngettext(
                    "The link works once, for %(num)d day (until %(when)s).",
                    "The link works once, for %(num)d days (until %(when)s).",
                    days,
                    when=fmt_datetime(until),
                ),
                _("Then log in at %(url)s with your username and that password.", url=login),
            ]
        else:
            minutes = max(1, round(age / timedelta(minutes=1)))
            subject = _("Reset your evalsys password")
            body = [
                _("Dear %(name)s,", name=user.name),
                "",
                _(
                    "Someone, probably you, asked to reset the password of your evalsys "
                    "account (username %(username)s). Choose a new password here:",
                    username=user.username,
                ),
                link,
                "",
                ngettext(
                    "The link works once, for %(num)d minute (until %(when)s).",
                    "The link works once, for %(num)d minutes (until %(when)s).",
                    minutes,
                    when=fmt_datetime(until),
                ),
                _("If you did not ask for this, ignore this email: your password stays as it is."),
            ]
        body += ["", "-- evalsys"]
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = config.get("MAIL_SENDER") or "evalsys@localhost"
    msg["To"] = user.email or ""
    msg.set_content("\n".join(body) + "\n")
    return msg
