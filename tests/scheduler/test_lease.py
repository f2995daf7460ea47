"""The scheduler lease: one holder, stale leases taken over, renewals by the holder only."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from evalsys.db import get_engine
from evalsys.scheduler import jobs, lease
from evalsys.scheduler.models import JobRun, SchedulerLease


def test_one_holder_at_a_time(app, session):
    engine = get_engine(app)
    ttl = timedelta(seconds=60)
    assert lease.try_acquire(engine, "a", ttl)
    assert lease.try_acquire(engine, "a", ttl)  # re-entrant for its holder
    assert not lease.try_acquire(engine, "b", ttl)
    assert lease.renew(engine, "a") and not lease.renew(engine, "b")
    assert lease.holder(engine).owner == "a"
    lease.release(engine, "b")  # not b's to release
    assert lease.holder(engine).owner == "a"
    lease.release(engine, "a")
    assert lease.try_acquire(engine, "b", ttl)


def test_stale_lease_is_taken_over(app, session):
    engine = get_engine(app)
    assert lease.try_acquire(engine, "dead", timedelta(seconds=60))
    row = session.get(SchedulerLease, lease.LEASE_NAME)
    row.heartbeat_at = row.heartbeat_at - timedelta(minutes=5)
    session.add(row)
    session.commit()
    assert lease.try_acquire(engine, "alive", timedelta(seconds=60))
    assert not lease.renew(engine, "dead")


def test_run_job_records_success_failure_and_skips_without_lease(app, session):
    jobs.register(jobs.JobSpec("t-ok", "ok", "tests.scheduler.sample_jobs:slow_count", "date"))
    jobs.register(jobs.JobSpec("t-fail", "fail", "tests.scheduler.sample_jobs:fail", "date"))
    try:
        ok = jobs.run_job(app, "t-ok", owner="me", trigger="manual")
        bad = jobs.run_job(app, "t-fail", owner="me", trigger="manual")
        skipped = jobs.run_job(app, "t-ok", owner="me", trigger="schedule")  # no lease held
    finally:
        jobs.JOBS[:] = [j for j in jobs.JOBS if not j.id.startswith("t-")]
    assert (ok.status, ok.detail) == ("succeeded", "counted")
    assert bad.status == "failed" and "deliberate failure" in bad.detail
    assert skipped.status == "skipped"
    rows = session.exec(select(JobRun.job_id, JobRun.status).order_by(JobRun.id)).all()
    assert rows == [("t-ok", "succeeded"), ("t-fail", "failed"), ("t-ok", "skipped")]
    assert all(r.finished_at is not None for r in session.exec(select(JobRun)))


def test_a_job_never_runs_twice_at_once(app, session):
    engine = get_engine(app)
    jobs.register(jobs.JobSpec("t-busy", "busy", "tests.scheduler.sample_jobs:slow_count", "date"))
    try:
        # Someone else (the scheduler, another click) is running it right now.
        assert lease.try_acquire(engine, "other", timedelta(hours=1), name="job:t-busy")
        busy = jobs.run_job(app, "t-busy", owner="me")
        lease.release(engine, "other", name="job:t-busy")
        free = jobs.run_job(app, "t-busy", owner="me")
    finally:
        jobs.JOBS[:] = [j for j in jobs.JOBS if not j.id.startswith("t-")]
    assert (busy.status, busy.detail) == (
        "skipped",
        "the job is already running in another process",
    )
    assert free.status == "succeeded"
    assert lease.holder(engine, name="job:t-busy") is None  # released after the run
