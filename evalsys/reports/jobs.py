"""The report delivery job, registered at import.

``deliver-reports`` — every 30 minutes: queues the emails of the reports of the
terms finalised in the last CATCH_UP_DAYS days that are not queued yet (reports
rendered by hand after a failed hand-over), sends what is pending and retries
what failed (see :mod:`evalsys.reports.delivery`). Rendering and queueing
normally happen right after a term's final aggregation
(``evalsys.aggregation.jobs.after_final_aggregation``).

The scheduler imports this module when it is listed in
``scheduler.jobs.JOB_MODULES`` (or a site's SCHEDULER_EXTRA_JOB_MODULES).
"""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session

from evalsys.clock import utcnow
from evalsys.reports import delivery
from evalsys.scheduler.jobs import JobSpec, register

#: How long after a term's final run its reports are still queued by the job.
CATCH_UP_DAYS = 30

DELIVER = register(
    JobSpec(
        id="deliver-reports",
        title="Email the term reports (and retry failed sends)",
        func="evalsys.reports.jobs:deliver_reports",
        trigger="interval",
        trigger_args={"minutes": 30},
    )
)


def deliver_reports(session: Session, app: Flask) -> str:
    if not app.config.get("MAIL_SERVER"):
        return "MAIL_SERVER is not set: reports are not emailed"
    queued = delivery.queue_final_terms(session, now=utcnow(), days=CATCH_UP_DAYS)
    session.commit()
    counts = delivery.send_pending(session, app)
    late = f" ({queued} newly queued)" if queued else ""
    return f"{counts['sent']} sent, {counts['failed']} failed{late}"
