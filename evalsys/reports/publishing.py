"""When a term's reports come out, and how far a rendering has got: what a page says to a
reader who finds a report missing, and what an administrator sees after starting one.

Reports come out by themselves after a term's final aggregation, which the
``aggregate-ended-terms`` job runs on its schedule once the term's last day is over
(``evalsys.aggregation.jobs``). The time is computed from that job's own trigger, so the
page and the scheduler cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.aggregation.jobs import ENDED_TERMS
from evalsys.clock import site_zone
from evalsys.org.models import OrgUnit, Term
from evalsys.reports.models import Report


def publication_time(config: Mapping[str, Any], term: Term) -> datetime:
    """The first run of the final aggregation after the term's last day (site time)."""
    zone = site_zone(config)
    trigger = CronTrigger(timezone=zone, **ENDED_TERMS.trigger_args)
    day_after = datetime.combine(term.end_date + timedelta(days=1), time(0), tzinfo=zone)
    fire: datetime = trigger.get_next_fire_time(None, day_after)
    return fire


@dataclass(frozen=True)
class Progress:
    """How many of the term's units have a PDF report, in any language."""

    units: int
    rendered: int
    last: datetime | None

    @property
    def done(self) -> bool:
        return self.units > 0 and self.rendered >= self.units


def progress(session: Session, term: Term) -> Progress:
    """Units with a report of ``term`` against all units (two counting queries)."""
    units = session.exec(select(func.count(col(OrgUnit.id)))).one()
    rendered, last = session.exec(
        select(func.count(func.distinct(Report.unit_id)), func.max(Report.generated_at)).where(
            Report.term_id == term.id
        )
    ).one()
    return Progress(units=int(units), rendered=int(rendered or 0), last=last)
