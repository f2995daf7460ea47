"""Fresh figures: a term is aggregated again within minutes of a change to its feedback.

A dean who looks at noon should see the morning's inspections, not last night's run. The
``aggregate-fresh`` job (every ``FRESH_FIGURES_MINUTES``) looks at each open term and
aggregates it again only when its feedback is not as the last successful run found it.

"As found" is :func:`feedback_state`: the number of the term's submitted records, of its
withdrawn ones, and the latest change to any of them — one indexed aggregate query per
term. Every way a record changes moves it: a submission or an import adds a record, an
edit moves ``updated_at`` (the feedback service sets it on every write), a withdrawal
moves a record from one count to the other, a record moved to another term leaves one
count and joins the other term's. The state is read *before* the run reads the data, so a
record sent meanwhile makes the next look differ (one run too many, never one too few).
The one change it can miss: an edit whose transaction commits after a later edit of
another record of the term (its ``updated_at`` is then not the latest); the nightly
``aggregate-open-terms`` run still takes it in.

A term with a run under way is left alone (that run, or the next look, takes the change
in), so many submissions in a short time never queue runs behind each other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.aggregation.models import AggregationRun, RunStatus
from evalsys.clock import as_utc, utcnow
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FeedbackStatus


def feedback_state(session: Session, term_id: int) -> str:
    """The term's feedback in a few figures: equal states, equal inputs to a run."""
    status = col(Feedback.status)
    row = session.exec(
        select(
            func.count().filter(status == FeedbackStatus.SUBMITTED.value),
            func.count().filter(status == FeedbackStatus.WITHDRAWN.value),
            func.max(Feedback.updated_at),
        ).where(Feedback.term_id == term_id, status != FeedbackStatus.DRAFT.value)
    ).one()
    latest: datetime | None = row[2]
    when = as_utc(latest).isoformat(timespec="microseconds") if latest is not None else "-"
    return f"{row[0]}/{row[1]}/{when}"


def last_run(session: Session, term_id: int) -> AggregationRun | None:
    """The term's latest run of any outcome (one query)."""
    return session.exec(
        select(AggregationRun)
        .where(AggregationRun.term_id == term_id)
        .order_by(col(AggregationRun.id).desc())
        .limit(1)
    ).first()


def last_success(session: Session, term_id: int) -> AggregationRun | None:
    return session.exec(
        select(AggregationRun)
        .where(
            AggregationRun.term_id == term_id,
            AggregationRun.status == RunStatus.SUCCEEDED.value,
        )
        .order_by(col(AggregationRun.id).desc())
        .limit(1)
    ).first()


def needs_run(session: Session, term_id: int, *, busy_for: timedelta) -> bool:
    """Has the term's feedback changed since its last successful run, with no run under way?

    A run started less than ``busy_for`` ago and still running counts as under way; an
    older one is taken for dead (the aggregation's own lock does the same).
    """
    latest = last_run(session, term_id)
    if (
        latest is not None
        and latest.status == RunStatus.RUNNING.value
        and utcnow() - as_utc(latest.started_at) < busy_for
    ):
        return False
    done = latest if latest is not None and latest.status == RunStatus.SUCCEEDED.value else None
    done = done or last_success(session, term_id)
    if done is None:
        return True
    return done.source_state != feedback_state(session, term_id)
