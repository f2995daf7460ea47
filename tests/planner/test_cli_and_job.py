"""`evalsys plan draw|show` and the weekly job."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlmodel import Session, select

from evalsys.clock import local_today
from evalsys.planner import service, weeks
from evalsys.planner.draw import draw_week
from evalsys.planner.models import Assignment, AssignmentStatus, Draw
from evalsys.scheduler import jobs as scheduler_jobs
from evalsys.scheduler.models import RunStatus
from tests.factories import Factory
from tests.planner.conftest import Plan, add_sections


def test_cli_draws_with_a_recorded_seed_and_redraws_the_same(cli, session: Session, plan: Plan):
    result = cli("plan", "draw", "--term", plan.term.code, "--week", "3", "--seed", "77")
    assert result.exit_code == 0, result.output
    assert "Drew week 3 of 2026-2027-1 (2026-09-21) with seed 77: 4 assignments" in result.output
    shown = cli("plan", "show", "--term", plan.term.code, "--week", "3")
    assert shown.exit_code == 0 and "seed 77" in shown.output
    assert len([line for line in shown.output.splitlines() if "-sup" in line]) == 4

    again = cli("plan", "draw", "--term", plan.term.code, "--week", "3")
    assert again.exit_code == 1 and "drawn already (seed 77)" in again.output

    redo = cli("plan", "draw", "--term", plan.term.code, "--week", "3", "--seed", "77", "--replace")
    assert redo.exit_code == 0, redo.output
    assert (
        cli("plan", "show", "--term", plan.term.code, "--week", "3").output.splitlines()[1:]
        == shown.output.splitlines()[1:]
    )


def test_cli_refuses_bad_input_clearly(cli, plan: Plan):
    assert "no term 'NOPE'" in cli("plan", "draw", "--term", "NOPE").output
    out = cli("plan", "draw", "--term", plan.term.code, "--week", "40").output
    assert "has weeks 1 to 18; there is no week 40" in out
    assert cli("plan", "draw", "--term", plan.term.code, "--seed", "-1").exit_code == 2


def test_weekly_job_draws_next_week_once_and_marks_past_weeks_missed(
    app: Flask, session: Session, factory: Factory, plan: Plan
):
    today = local_today(app.config)
    term = factory.term("NOW", today - timedelta(days=21), today + timedelta(days=70))
    plan.term = term
    add_sections(factory, plan, "CS-SE", 4, prefix="NOW")
    service.save_settings(session, term=term, values={"visits_per_week": 1})
    session.commit()
    past = draw_week(session, term=term, week=weeks.week_of(term, today) - 1, seed=3)
    session.commit()
    assert past.parameters["assignments"] >= 1

    scheduler_jobs.load_job_modules(app)  # through JOB_MODULES, as the scheduler does
    assert scheduler_jobs.job_spec("plan-spot-checks").trigger_args["day_of_week"] == "fri"
    run = scheduler_jobs.run_job(app, "plan-spot-checks", owner="t", trigger="manual")
    assert run.status == RunStatus.SUCCEEDED, run.detail
    week = weeks.next_week_to_draw(term, today)
    assert f"NOW week {week}: " in (run.detail or "")
    session.expire_all()
    drawn = session.exec(select(Draw).where(Draw.term_id == term.id, Draw.week == week)).one()
    assert drawn.trigger == "job"
    statuses = {
        a.status for a in session.exec(select(Assignment).where(Assignment.draw_id == past.id))
    }
    assert statuses == {AssignmentStatus.MISSED}

    again = scheduler_jobs.run_job(app, "plan-spot-checks", owner="t", trigger="manual")
    assert again.status == RunStatus.SUCCEEDED and "drawn already" in (again.detail or "")
    count = len(session.exec(select(Draw).where(Draw.term_id == term.id)).all())
    assert count == 2
