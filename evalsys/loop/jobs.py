"""The loop's scheduled jobs, registered at import (see ``scheduler.jobs.JOB_MODULES``).

* ``loop-reminders`` — every day at 08:00 (SCHEDULER_TIMEZONE): queues a reminder
  for each live action due within LOOP_REMINDER_DAYS_BEFORE days (or overdue) that
  has had none for its owner and due date, then sends what is pending.
* ``loop-mail`` — every 10 minutes: sends the pending notices, so an owner hears
  of an assignment soon after it is made, and retries failed sends.

Both are idempotent: a notice is queued once (unique key) and claimed before it
is sent, so the two jobs never send the same email twice.
"""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session

from evalsys.clock import local_today
from evalsys.loop import notices
from evalsys.scheduler.jobs import JobSpec, register

REMINDERS = register(
    JobSpec(
        id="loop-reminders",
        title="Remind action owners of what is due (daily)",
        func="evalsys.loop.jobs:remind_owners",
        trigger="cron",
        trigger_args={"hour": 8, "minute": 0},
    )
)
MAIL = register(
    JobSpec(
        id="loop-mail",
        title="Email action owners their assignments (and retry failed sends)",
        func="evalsys.loop.jobs:send_mail",
        trigger="interval",
        trigger_args={"minutes": 10},
    )
)


def remind_owners(session: Session, app: Flask) -> str:
    today = local_today(app.config)
    days = int(app.config.get("LOOP_REMINDER_DAYS_BEFORE", 1))
    queued = notices.queue_reminders(session, today=today, days_before=days)
    session.commit()
    if not app.config.get("MAIL_SERVER"):
        return f"{queued} reminders queued; MAIL_SERVER is not set: nothing sent"
    counts = notices.send_notices(session, app.config, today=today)
    return f"{queued} reminders queued; {counts['sent']} sent, {counts['failed']} failed"


def send_mail(session: Session, app: Flask) -> str:
    if not app.config.get("MAIL_SERVER"):
        return "MAIL_SERVER is not set: owners are not emailed"
    counts = notices.send_notices(session, app.config, today=local_today(app.config))
    return f"{counts['sent']} sent, {counts['failed']} failed"
