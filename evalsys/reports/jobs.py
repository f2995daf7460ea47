"""The report delivery job, registered at import.

``deliver-reports`` — every 30 minutes: sends the queued report emails that are
pending, and retries the failed ones (see :mod:`evalsys.reports.delivery`).
Rendering and queueing happen after a term's final aggregation
(``evalsys.aggregation.jobs.after_final_aggregation``).

The scheduler imports this module when it is listed in
``scheduler.jobs.JOB_MODULES`` (or a site's SCHEDULER_EXTRA_JOB_MODULES).
"""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session

from evalsys.reports import delivery
from evalsys.scheduler.jobs import JobSpec, register

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
    counts = delivery.send_pending(session, app.config)
    return f"{counts['sent']} sent, {counts['failed']} failed"
