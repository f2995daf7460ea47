"""Fresh figures: the aggregate-fresh job runs an open term again when, and only when, its
feedback changed since the last run — a submission, an edit, a withdrawal through the
feedback service — leaves a term with a run under way alone, and a failed run leaves the
earlier figures (and is tried again at the next look)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from evalsys.aggregation import freshness
from evalsys.aggregation.jobs import FRESH, aggregate_fresh
from evalsys.aggregation.models import AggregateResult, AggregationRun, RunStatus
from evalsys.aggregation.service import aggregate_term
from evalsys.clock import utcnow
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback
from evalsys.feedback.writes import submit_feedback, update_feedback, withdraw_feedback
from tests.aggregation.helpers import snapshot


@pytest.fixture
def today(site_clock):
    """A day in T2 (2026-09-01 .. 2027-01-20) after its generated records (2026-10/11)."""
    day = date(2026, 12, 2)
    site_clock.on(day)
    return day


def _runs(session, term_id) -> list[AggregationRun]:
    session.rollback()
    return list(
        session.exec(
            select(AggregationRun)
            .where(AggregationRun.term_id == term_id)
            .order_by(AggregationRun.id)
        ).all()
    )


def _school_n(session, term_id) -> int:
    """The school's record count for the spot-check overall figure, as the last run left it."""
    session.rollback()
    return session.exec(
        select(func.max(AggregateResult.n)).where(
            AggregateResult.term_id == term_id,
            AggregateResult.level == "school",
            AggregateResult.kind == "spot_check",
        )
    ).one()


def _submitted(session, term_id, kind="spot_check") -> int:
    return session.exec(
        select(func.count()).where(
            Feedback.term_id == term_id, Feedback.status == "submitted", Feedback.kind == kind
        )
    ).one()


def _a_spot_check(uni, today) -> FeedbackInput:
    code = next(c for c in uni.sections if c.startswith("T2-SE1"))
    return FeedbackInput(
        kind="spot_check",
        section=code,
        date=today - timedelta(days=1),
        announced=False,
        enrolled=30,
        present=28,
        scores={i.code: i.scale_max for i in uni.item_codes("spot_v2")},
    )


def test_nothing_changed_no_run(app, session, uni, settings, today, queries):
    t2 = uni.terms["T2"]
    aggregate_term(session, term=t2.code, settings=settings)
    before = _runs(session, t2.id)
    with queries() as seen:
        summary = aggregate_fresh(session, app)
    assert summary == "no open term changed"
    assert _runs(session, t2.id) == before
    # A look costs a few queries per open term, not a run.
    assert len(seen) <= 6, seen


def test_a_submission_is_in_the_figures_after_the_next_look(app, session, uni, settings, today):
    t1, t2 = uni.terms["T1"], uni.terms["T2"]
    aggregate_term(session, term=t1.code, settings=settings)
    aggregate_term(session, term=t2.code, settings=settings)
    n_before = _school_n(session, t2.id)
    assert n_before == _submitted(session, t2.id)
    submit_feedback(session, user=uni.observers[0], data=_a_spot_check(uni, today), today=today)
    session.commit()
    t1_runs = _runs(session, t1.id)
    summary = aggregate_fresh(session, app)
    assert summary.startswith(f"{t2.code}: ")
    runs = _runs(session, t2.id)
    assert [r.trigger for r in runs][-1] == "job" and runs[-1].status == RunStatus.SUCCEEDED
    assert _school_n(session, t2.id) == n_before + 1 == _submitted(session, t2.id)
    assert _runs(session, t1.id) == t1_runs  # an ended term is not looked at
    # And then nothing more until the next change.
    assert aggregate_fresh(session, app) == "no open term changed"


def test_an_edit_and_a_withdrawal_each_bring_a_run(app, session, uni, settings, today):
    t2 = uni.terms["T2"]
    record = submit_feedback(
        session, user=uni.observers[0], data=_a_spot_check(uni, today), today=today
    )
    session.commit()
    aggregate_term(session, term=t2.code, settings=settings)
    before = snapshot(session, t2.id)
    lower = _a_spot_check(uni, today)
    lower.scores = {i.code: i.scale_min for i in uni.item_codes("spot_v2")}
    # (The site's clock stands still in these tests: each change is a second later.)
    update_feedback(
        session,
        user=uni.observers[0],
        feedback=record,
        data=lower,
        today=today,
        now=utcnow() + timedelta(seconds=1),
    )
    session.commit()
    aggregate_fresh(session, app)
    after_edit = snapshot(session, t2.id)
    assert after_edit != before  # the record's lower scores are in the figures
    n = _school_n(session, t2.id)
    withdraw_feedback(
        session, user=uni.observers[0], feedback=record, now=utcnow() + timedelta(seconds=2)
    )
    session.commit()
    aggregate_fresh(session, app)
    assert _school_n(session, t2.id) == n - 1 == _submitted(session, t2.id)


def test_a_term_with_a_run_under_way_is_left_alone(app, session, uni, settings, today):
    t2 = uni.terms["T2"]
    aggregate_term(session, term=t2.code, settings=settings)
    submit_feedback(session, user=uni.observers[0], data=_a_spot_check(uni, today), today=today)
    under_way = AggregationRun(term_id=t2.id, status=RunStatus.RUNNING.value)
    session.add(under_way)
    session.commit()
    assert aggregate_fresh(session, app) == "no open term changed"
    # A run "under way" for longer than a job's lock is taken for dead: the term runs.
    session.refresh(under_way)
    under_way.started_at = utcnow() - timedelta(
        seconds=app.config["SCHEDULER_JOB_LOCK_SECONDS"] + 1
    )
    session.add(under_way)
    session.commit()
    assert aggregate_fresh(session, app).startswith(f"{t2.code}: ")


def test_a_failed_run_keeps_the_figures_and_the_next_look_tries_again(
    app, session, uni, settings, today, monkeypatch
):
    from evalsys.aggregation import service

    t2 = uni.terms["T2"]
    aggregate_term(session, term=t2.code, settings=settings)
    before = snapshot(session, t2.id)
    submit_feedback(session, user=uni.observers[0], data=_a_spot_check(uni, today), today=today)
    session.commit()
    real = service._compute

    def broken(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(service, "_compute", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        aggregate_fresh(session, app)
    assert snapshot(session, t2.id) == before
    assert _runs(session, t2.id)[-1].status == RunStatus.FAILED
    monkeypatch.setattr(service, "_compute", real)
    assert aggregate_fresh(session, app).startswith(f"{t2.code}: ")
    assert _school_n(session, t2.id) == _submitted(session, t2.id)


def test_the_state_differs_for_every_kind_of_change(session, uni, today):
    t2 = uni.terms["T2"]
    states = [freshness.feedback_state(session, t2.id)]
    record = submit_feedback(
        session, user=uni.observers[0], data=_a_spot_check(uni, today), today=today
    )
    session.commit()
    states.append(freshness.feedback_state(session, t2.id))
    lower = _a_spot_check(uni, today)
    lower.scores = {i.code: i.scale_min for i in uni.item_codes("spot_v2")}
    update_feedback(
        session,
        user=uni.observers[0],
        feedback=record,
        data=lower,
        today=today,
        now=utcnow() + timedelta(seconds=1),
    )
    session.commit()
    states.append(freshness.feedback_state(session, t2.id))
    withdraw_feedback(
        session, user=uni.observers[0], feedback=record, now=utcnow() + timedelta(seconds=2)
    )
    session.commit()
    states.append(freshness.feedback_state(session, t2.id))
    assert len(set(states)) == 4, states
    # A draft is no change to the figures.
    draft = submit_feedback(
        session, user=uni.observers[1], data=_a_spot_check(uni, today), draft=True, today=today
    )
    session.commit()
    assert draft.status == "draft"
    assert freshness.feedback_state(session, t2.id) == states[-1]


def test_the_interval_is_the_sites_and_zero_switches_it_off(app):
    assert FRESH.schedule_args({"FRESH_FIGURES_MINUTES": 5}) == {"minutes": 5}
    assert FRESH.schedule_args({"FRESH_FIGURES_MINUTES": 0}) is None
    assert FRESH.schedule_args(app.config) == {"minutes": app.config["FRESH_FIGURES_MINUTES"]}
