"""The bulletin jobs, registered at import (listed in ``scheduler.jobs.JOB_MODULES``).

``weekly-bulletins`` — Monday 07:30 site time (the scheduler runs its cron triggers in
SCHEDULER_TIMEZONE): for the week just ended, renders the school's and every college's
bulletin in each language its readers need (a rendering already there is kept: the job is
safe to run again), queues one email per reader and sends them.
``deliver-bulletins`` — every 30 minutes: retries what failed (nothing to do, no work).
"""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session

from evalsys.bulletins import delivery
from evalsys.bulletins.data import bulletin_units
from evalsys.bulletins.render import latest_bulletin, render_bulletin
from evalsys.bulletins.weeks import IsoWeek, week_just_ended
from evalsys.i18n import default_locale
from evalsys.scheduler.jobs import JobSpec, register

WEEKLY = register(
    JobSpec(
        id="weekly-bulletins",
        title="Render and email the weekly supervision bulletins",
        func="evalsys.bulletins.jobs:weekly_bulletins",
        trigger="cron",
        trigger_args={"day_of_week": "mon", "hour": 7, "minute": 30},
    )
)
RETRY = register(
    JobSpec(
        id="deliver-bulletins",
        title="Retry the weekly bulletins' failed emails",
        func="evalsys.bulletins.jobs:deliver_bulletins",
        trigger="interval",
        trigger_args={"minutes": 30},
    )
)


def weekly_bulletins(session: Session, app: Flask, week: IsoWeek | None = None) -> str:
    week = week or week_just_ended(app.config)
    with app.app_context():
        site = default_locale()
    rendered = queued = 0
    for unit in bulletin_units(session):
        assert unit.id is not None  # loaded
        wanted = {site} | {
            delivery.reader_locale(u, site) for u in delivery.readers(session, unit.id)
        }
        for locale in sorted(wanted):
            if latest_bulletin(session, unit.id, week.label, locale) is None:
                render_bulletin(session, app, unit_code=unit.code, week=week, locale=locale)
                rendered += 1
        queued += delivery.queue(session, unit_id=unit.id, week=week.label, site=site)
        session.commit()
    counts = delivery.send_pending(session, app)
    return (
        f"bulletins {week.label}: {rendered} rendered, {queued} emails queued, "
        f"{counts['sent']} sent, {counts['failed']} failed"
    )


def deliver_bulletins(session: Session, app: Flask) -> str:
    if not app.config.get("MAIL_SERVER"):
        return "MAIL_SERVER is not set: bulletins are not emailed"
    counts = delivery.send_pending(session, app)
    return f"{counts['sent']} sent, {counts['failed']} failed"
