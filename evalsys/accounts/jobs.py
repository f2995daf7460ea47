"""The accounts' scheduled jobs, registered at import (see ``scheduler.jobs.JOB_MODULES``).

``purge-sessions`` — every day at 04:00 (SCHEDULER_TIMEZONE): deletes the login
sessions that ended or expired more than 30 days ago (``accounts.sessions.KEEP``).
Safe to run again: what is left is what is still kept.

``account-mail`` — every 5 minutes: sends the invitation and password-reset emails
still waiting (``accounts.mails``): those whose first try, right after they were
queued, failed, until ACCOUNT_MAIL_MAX_ATTEMPTS. Each is claimed before it is sent,
so this job and the page or command that queued it never both send it.
"""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session

from evalsys.accounts import mails, sessions
from evalsys.scheduler.jobs import JobSpec, register

PURGE = register(
    JobSpec(
        id="purge-sessions",
        title="Delete old ended login sessions (daily)",
        func="evalsys.accounts.jobs:purge_sessions",
        trigger="cron",
        trigger_args={"hour": 4, "minute": 0},
    )
)
MAIL = register(
    JobSpec(
        id="account-mail",
        title="Email invitations and password-reset links (and retry failed sends)",
        func="evalsys.accounts.jobs:send_mail",
        trigger="interval",
        trigger_args={"minutes": 5},
    )
)


def purge_sessions(session: Session, app: Flask) -> str:
    deleted = sessions.purge(session, lifetimes=sessions.Lifetimes.of(app.config))
    return f"{deleted} old sessions deleted"


def send_mail(session: Session, app: Flask) -> str:
    missing = mails.missing_settings(app.config)
    if missing:
        return f"{' and '.join(missing)} not set: account emails wait"
    counts = mails.send_pending(session, app.config)
    return f"{counts['sent']} sent, {counts['failed']} failed, {counts['dropped']} dropped"
