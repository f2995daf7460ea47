"""Emails to action owners: when assigned, and a reminder when the action is due.

A notice is a row (``loop_notice``) queued in the same transaction as the change
that calls for it; its unique key (action, kind, owner, due date) means it is
queued — so sent — once. The ``loop-mail`` job sends what is pending: each row is
first *claimed* by an UPDATE that only one sender can win, and committed, then
sent over SMTP with the reports' sender (MAIL_* settings), then marked sent.
Each email is written in its owner's language (:func:`evalsys.i18n.locale_of`).
A failed send is retried until LOOP_MAIL_MAX_ATTEMPTS.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import exists, update
from sqlmodel import Session, col, select

from evalsys import mail
from evalsys.accounts.models import User
from evalsys.clock import utcnow
from evalsys.i18n import fmt_date, in_locale, locale_of, localized
from evalsys.loop.models import (
    LIVE_ACTIONS,
    Action,
    ActionNotice,
    NoticeKind,
    NoticeStatus,
    Problem,
)
from evalsys.org.models import OrgUnit

DEFAULT_MAX_ATTEMPTS = 5


def queue_assigned(session: Session, action: Action) -> bool:
    """Queue the assignment email to the action's owner (once per owner and due date)."""
    owner = session.get(User, action.owner_id)
    if owner is None or not owner.active or not owner.email:
        return False
    return _queue(session, action, NoticeKind.ASSIGNED, owner)


def _queue(session: Session, action: Action, kind: NoticeKind, owner: User) -> bool:
    already = session.exec(
        select(ActionNotice.id).where(
            ActionNotice.action_id == action.id,
            ActionNotice.kind == kind.value,
            ActionNotice.user_id == owner.id,
            ActionNotice.due_date == action.due_date,
        )
    ).first()
    if already is not None:
        return False
    session.add(
        ActionNotice(
            action_id=action.id,  # type: ignore[arg-type]
            kind=kind.value,
            user_id=owner.id,  # type: ignore[arg-type]
            email=owner.email,  # type: ignore[arg-type]
            due_date=action.due_date,
        )
    )
    session.flush()
    return True


def queue_reminders(session: Session, *, today: date, days_before: int = 1) -> int:
    """Queue a reminder for each live action due within ``days_before`` days (or overdue).

    One query finds the actions that have no reminder for their current owner
    and due date yet.
    """
    horizon = today + timedelta(days=days_before)
    reminded = exists().where(
        ActionNotice.action_id == Action.id,
        ActionNotice.kind == NoticeKind.REMINDER.value,
        ActionNotice.user_id == Action.owner_id,
        ActionNotice.due_date == Action.due_date,
    )
    rows = session.exec(
        select(Action, User)
        .join(User, col(User.id) == Action.owner_id)
        .where(
            col(Action.status).in_(LIVE_ACTIONS),
            col(Action.due_date) <= horizon,
            User.active == True,  # noqa: E712
            col(User.email).is_not(None),
            ~reminded,
        )
        .order_by(Action.id)
    ).all()
    for action, owner in rows:
        _queue(session, action, NoticeKind.REMINDER, owner)
    return len(rows)


def send_notices(session: Session, config: Mapping[str, Any], *, today: date) -> dict[str, int]:
    """Send every pending (or failed, with attempts left) notice; commit after each one."""
    counts = {"sent": 0, "failed": 0}
    if not config.get("MAIL_SERVER"):
        return counts
    limit = int(config.get("LOOP_MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    session.commit()
    ids = session.exec(
        select(ActionNotice.id)
        .where(
            col(ActionNotice.status).in_([NoticeStatus.PENDING.value, NoticeStatus.FAILED.value]),
            ActionNotice.attempts < limit,
        )
        .order_by(ActionNotice.id)
    ).all()
    for notice_id in ids:
        claimed = session.execute(
            update(ActionNotice)
            .where(
                col(ActionNotice.id) == notice_id,
                col(ActionNotice.status).in_(
                    [NoticeStatus.PENDING.value, NoticeStatus.FAILED.value]
                ),
            )
            .values(status=NoticeStatus.SENDING.value, attempts=ActionNotice.attempts + 1)
        ).rowcount
        session.commit()
        if claimed != 1:
            continue  # another sender has it
        notice = session.get(ActionNotice, notice_id, populate_existing=True)
        assert notice is not None
        try:
            mail.send(config, _message(session, config, notice, today))
        except (OSError, smtplib.SMTPException) as err:
            notice.status = (
                NoticeStatus.GAVE_UP.value
                if notice.attempts >= limit
                else NoticeStatus.FAILED.value
            )
            notice.last_error = f"{type(err).__name__}: {err}"[:2000]
            counts["failed"] += 1
        else:
            notice.status = NoticeStatus.SENT.value
            notice.sent_at = utcnow()
            notice.last_error = None
            counts["sent"] += 1
        session.add(notice)
        session.commit()
    return counts


def _message(
    session: Session, config: Mapping[str, Any], notice: ActionNotice, today: date
) -> EmailMessage:
    action = session.get(Action, notice.action_id)
    assert action is not None
    problem = session.get(Problem, action.problem_id)
    assert problem is not None
    unit = session.get(OrgUnit, problem.unit_id)
    owner = session.get(User, notice.user_id)
    base = (config.get("LOOP_BASE_URL") or "").rstrip("/")
    link = f"{base}/loop/actions/{action.id}"
    msg = EmailMessage()
    # In the owner's language (their choice, else the site's), dates as they write them.
    with in_locale(locale_of(owner)):
        due = fmt_date(notice.due_date)
        if notice.kind == NoticeKind.ASSIGNED:
            subject = _("Action assigned to you: %(title)s", title=action.title)
            lead = _("You are responsible for this action.")
        elif notice.due_date < today:
            subject = _("Overdue since %(date)s: %(title)s", date=due, title=action.title)
            lead = _("This action was due on %(date)s and is not done yet.", date=due)
        else:
            subject = _("Due on %(date)s: %(title)s", date=due, title=action.title)
            lead = _("This action is due on %(date)s.", date=due)
        lines = [
            _("Dear %(name)s,", name=owner.name if owner else ""),
            "",
            lead,
            "",
            _("Action: %(title)s", title=action.title),
            _("Due: %(date)s", date=fmt_date(action.due_date)),
            _("Problem: %(title)s", title=problem.title),
            _(
                "Unit: %(name)s (%(code)s)",
                name=localized(unit, "name") if unit else "",
                code=unit.code if unit else "",
            ),
            "",
            _("Open it, record progress and mark it done: %(link)s", link=link),
            "",
            "-- evalsys",
        ]
    msg["Subject"] = subject[:200]
    msg["From"] = config.get("MAIL_SENDER") or "evalsys@localhost"
    msg["To"] = notice.email
    msg.set_content("\n".join(lines) + "\n")
    return msg
