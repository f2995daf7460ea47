"""The planner's scheduled job, registered at import (see ``scheduler.jobs.JOB_MODULES``).

``plan-spot-checks`` — every Friday at 18:00 (SCHEDULER_TIMEZONE): marks the
assignments of weeks that have ended as missed, then draws next week for every
running (or coming) term whose plan settings are active and whose next week is not
drawn yet. Safe to run again: a drawn week is left as it is.
"""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session, col, select

from evalsys.clock import local_today
from evalsys.org.models import Term
from evalsys.planner import link, weeks
from evalsys.planner.draw import DrawError, draw_week
from evalsys.planner.models import Draw, DrawTrigger, PlanSetting
from evalsys.scheduler.jobs import JobSpec, register

DRAW = register(
    JobSpec(
        id="plan-spot-checks",
        title="Draw next week's spot-check assignments",
        func="evalsys.planner.jobs:draw_next_week",
        trigger="cron",
        trigger_args={"day_of_week": "fri", "hour": 18, "minute": 0},
    )
)


def draw_next_week(session: Session, app: Flask) -> str:
    today = local_today(app.config)
    missed = link.mark_missed(session, today=today)
    session.commit()
    terms = session.exec(
        select(Term)
        .join(PlanSetting, col(PlanSetting.term_id) == Term.id)
        .where(PlanSetting.active == True, Term.end_date >= today)  # noqa: E712
        .order_by(col(Term.start_date))
    ).all()
    done, failed = [], []
    for term in terms:
        week = weeks.next_week_to_draw(term, today)
        if week > weeks.last_week(term):
            continue
        drawn = session.exec(select(Draw.id).where(Draw.term_id == term.id, Draw.week == week))
        if drawn.first() is not None:
            done.append(f"{term.code} week {week}: drawn already")
            continue
        try:
            draw = draw_week(session, term=term, week=week, trigger=DrawTrigger.JOB)
        except DrawError as err:
            session.rollback()
            failed.append(str(err))
            continue
        session.commit()
        done.append(
            f"{term.code} week {week}: {draw.parameters['assignments']} assignments "
            f"(seed {draw.seed})"
        )
    summary = "; ".join([f"{missed} marked missed", *done])
    if failed:
        raise RuntimeError("; ".join([*failed, summary]))
    return summary
