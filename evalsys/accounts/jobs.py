"""The accounts' scheduled job, registered at import (see ``scheduler.jobs.JOB_MODULES``).

``purge-sessions`` — every day at 04:00 (SCHEDULER_TIMEZONE): deletes the login
sessions that ended or expired more than 30 days ago (``accounts.sessions.KEEP``).
Safe to run again: what is left is what is still kept.
"""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session

from evalsys.accounts import sessions
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


def purge_sessions(session: Session, app: Flask) -> str:
    deleted = sessions.purge(session, lifetimes=sessions.Lifetimes.of(app.config))
    return f"{deleted} old sessions deleted"
