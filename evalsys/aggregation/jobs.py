"""The aggregation's scheduled jobs, registered at import (see ``scheduler.jobs.JOB_MODULES``).

* ``aggregate-open-terms`` — every night at 02:00 (SCHEDULER_TIMEZONE): every term
  whose end date is not past is aggregated again, so the pages show yesterday's state.
* ``aggregate-fresh`` — every ``FRESH_FIGURES_MINUTES`` (5; 0 switches it off): each open
  term whose feedback changed since its last run is aggregated again, so pages are
  minutes behind the records, not a night (:mod:`evalsys.aggregation.freshness`).
* ``aggregate-ended-terms`` — every day at 03:00: each term that has ended and has no
  successful *final* run yet gets its final aggregation, then
  :func:`after_final_aggregation` hands it on (report rendering, issue 5).

Both run through ``scheduler.jobs.run_job``: recorded as a JobRun, never twice at
once; each term's aggregation is further recorded as an AggregationRun.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlmodel import Session

from evalsys.aggregation import freshness, service
from evalsys.aggregation.flags import Settings
from evalsys.clock import local_today
from evalsys.org.models import Term
from evalsys.scheduler.jobs import JobSpec, register

OPEN_TERMS = register(
    JobSpec(
        id="aggregate-open-terms",
        title="Aggregate the open terms again (nightly)",
        func="evalsys.aggregation.jobs:aggregate_open_terms",
        trigger="cron",
        trigger_args={"hour": 2, "minute": 0},
    )
)
ENDED_TERMS = register(
    JobSpec(
        id="aggregate-ended-terms",
        title="Final aggregation of the terms that have ended",
        func="evalsys.aggregation.jobs:aggregate_ended_terms",
        trigger="cron",
        trigger_args={"hour": 3, "minute": 0},
    )
)


FRESH = register(
    JobSpec(
        id="aggregate-fresh",
        title="Aggregate the open terms whose feedback changed",
        func="evalsys.aggregation.jobs:aggregate_fresh",
        trigger="interval",
        minutes_setting="FRESH_FIGURES_MINUTES",
    )
)


def aggregate_fresh(session: Session, app: Flask) -> str:
    """Each open term whose feedback changed since its last run, again (see
    :mod:`evalsys.aggregation.freshness`); nothing, at the cost of a query a term, if none."""
    settings = Settings.from_config(app.config)
    busy_for = timedelta(seconds=app.config["SCHEDULER_JOB_LOCK_SECONDS"])
    terms = [
        t
        for t in service.open_terms(session, local_today(app.config))
        if freshness.needs_run(session, t.id, busy_for=busy_for)  # type: ignore[arg-type]
    ]
    session.rollback()  # end the read transaction before the runs take their own
    return _aggregate(session, app, terms, settings, final=False) or "no open term changed"


def aggregate_open_terms(session: Session, app: Flask) -> str:
    settings = Settings.from_config(app.config)
    terms = service.open_terms(session, local_today(app.config))
    return _aggregate(session, app, terms, settings, final=False) or "no open term"


def aggregate_ended_terms(session: Session, app: Flask) -> str:
    settings = Settings.from_config(app.config)
    terms = service.terms_to_finalise(session, local_today(app.config))
    return _aggregate(session, app, terms, settings, final=True) or "no term to finalise"


def _aggregate(
    session: Session, app: Flask, terms: list[Term], settings: Settings, *, final: bool
) -> str:
    """Each term in turn; one failing does not stop the others, but fails the job."""
    done: list[str] = []
    failed: list[str] = []
    for term in terms:
        code = term.code
        try:
            run = service.aggregate_term(
                session, term=term, settings=settings, final=final, trigger="job"
            )
        except service.AggregationError as err:
            failed.append(str(err))
            continue
        done.append(
            f"{code}{' (final)' if final else ''}: {run.record_count} records, "
            f"{run.result_count} results, {run.flag_count} flags"
        )
        if final:
            try:
                handed = after_final_aggregation(session, app, term)
            except Exception as err:  # the final run stands; the job fails so it is seen
                session.rollback()
                app.logger.exception("hand-over of %s failed", code)
                failed.append(
                    f"{code}: the final run succeeded but its reports failed ({err}); "
                    f"run `evalsys report --term {code}` to catch up"
                )
                continue
            if handed:
                done[-1] += f"; {handed}"
    if failed:
        raise RuntimeError("; ".join(failed + done))
    return "; ".join(done)


def after_final_aggregation(session: Session, app: Flask, term: Term) -> str:
    """Called once a term's final aggregation has committed: the hand-over to the reports.

    Renders the term's tree (school, colleges, departments; unchanged reports are
    skipped), queues one email per report version and person in charge, and sends
    what is pending (when MAIL_SERVER is set). All of it is idempotent and keeps its
    own record (``report``, ``report_delivery``). A term is finalised once and this
    is not called again for it if it fails: the job fails visibly, and a later
    ``evalsys report --term CODE`` renders what is missing, after which the
    ``deliver-reports`` job queues and sends it (see :mod:`evalsys.reports.jobs`).
    """
    from evalsys.reports import delivery  # the reports build on the aggregation, not back

    summary = delivery.render_and_queue(session, app, term)
    app.logger.info(summary)
    if not app.config.get("MAIL_SERVER"):
        return f"{summary}; MAIL_SERVER is not set: nothing emailed"
    counts = delivery.send_pending(session, app)
    return f"{summary}; {counts['sent']} emailed, {counts['failed']} failed (retried later)"
