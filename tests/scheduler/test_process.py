"""Real scheduler processes against one database: one runs, a missed job runs once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from evalsys import ROOT
from evalsys.scheduler.models import JobRun, SchedulerLease


def _start(database_url, tmp_path, specs, *, stop_after, wait=False, lease_seconds=3):
    env = {
        **os.environ,
        "EVALSYS_DATABASE_URL": database_url,
        "EVALSYS_SECRET_KEY": "test",
        "EVALSYS_INSTANCE_PATH": str(tmp_path / "instance"),
        "EVALSYS_SCHEDULER_LEASE_SECONDS": str(lease_seconds),
        "EVALSYS_SCHEDULER_TIMEZONE": "UTC",
        "TEST_JOBS": json.dumps(specs),
        "TEST_STOP_AFTER": str(stop_after),
        "TEST_WAIT": "1" if wait else "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scheduler.run_scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _holds_lease(session, proc: subprocess.Popen) -> None:
    """Wait until the scheduler ``proc`` holds the lease, so that one started next finds it
    taken. A fixed sleep was not enough on a loaded machine: the first process can take
    longer to start than the second, which then took the lease and failed the test."""
    deadline = time.monotonic() + 60
    while True:
        session.rollback()  # a fresh snapshot each look
        if session.exec(select(SchedulerLease)).first() is not None:
            return
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the first scheduler never took the lease"
        time.sleep(0.05)


def _runs(session, job_id):
    session.rollback()  # end the read transaction: under WAL it would keep an old snapshot
    return session.exec(select(JobRun.status).where(JobRun.job_id == job_id)).all()


def test_second_scheduler_exits_and_the_job_runs_once(database_url, app, session, tmp_path):
    spec = {
        "id": "once",
        "title": "once",
        "func": "tests.scheduler.sample_jobs:slow_count",
        "trigger": "date",
        "trigger_args": {"run_date": _at(3)},
    }
    # A lease far longer than the test: on a loaded machine the first one's heartbeat can
    # be late by more than the usual 3 s, and the second would rightly take a stale lease.
    # The first runs until told to stop: however slowly the second starts on a loaded
    # machine, the first still holds the lease when it looks.
    first = _start(database_url, tmp_path, [spec], stop_after=300, lease_seconds=60)
    _holds_lease(session, first)
    second = _start(database_url, tmp_path, [spec], stop_after=6, lease_seconds=60)
    out2, _ = second.communicate(timeout=120)
    assert second.returncode == 2, out2
    assert "Another evalsys scheduler is running" in out2
    deadline = time.monotonic() + 60
    while _runs(session, "once") != ["succeeded"] and time.monotonic() < deadline:
        time.sleep(0.2)
    first.terminate()  # SIGTERM: the scheduler's clean stop
    out1, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out1
    assert _runs(session, "once") == ["succeeded"], out1


def test_waiting_scheduler_takes_over_without_rerunning(database_url, app, session, tmp_path):
    spec = {
        "id": "handover",
        "title": "handover",
        "func": "tests.scheduler.sample_jobs:slow_count",
        "trigger": "interval",
        "trigger_args": {"seconds": 4},
    }
    first = _start(database_url, tmp_path, [spec], stop_after=5)
    _holds_lease(session, first)
    second = _start(database_url, tmp_path, [spec], stop_after=5, wait=True)
    out1, _ = first.communicate(timeout=60)
    out2, _ = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, (out1, out2)
    # first runs at +4 s; second takes over at ~+5 s and runs at +8 s (how many runs each
    # makes depends on how fast a loaded machine starts them): every run succeeded, both
    # ran, never two at once, and never one from each for the same fire time.
    session.rollback()
    runs = session.exec(
        select(JobRun).where(JobRun.job_id == "handover").order_by(col(JobRun.started_at))
    ).all()
    shown = [(r.owner, r.status, r.started_at, r.finished_at) for r in runs]
    assert len(runs) >= 2 and {r.status for r in runs} == {"succeeded"}, (shown, out1, out2)
    owners = [r.owner for r in runs]
    assert len(set(owners)) == 2, shown  # the first, then the one that took over
    assert owners == sorted(owners, key=owners.index), shown  # no going back and forth
    for before, after in zip(runs, runs[1:], strict=False):
        assert before.finished_at is not None and before.finished_at <= after.started_at, shown
        if before.owner != after.owner:
            # At the handover: fire times are 4 s apart, so the first's last run and the
            # second's first run for one fire time would start together. (One scheduler's
            # own runs may come closer: a fire time missed while it waited runs at once.)
            assert (after.started_at - before.started_at).total_seconds() >= 2, shown


def test_missed_job_runs_once_after_restart(database_url, app, session, tmp_path):
    """Three fire times pass while no scheduler runs; the restart runs the job once.

    The trigger ends before the restart, so no later fire time can race the check.
    """
    # Far enough ahead that a slow start of the first scheduler (seen: 22 s on a machine
    # running two test suites and more) still stops before the first fire time.
    start = datetime.now(UTC) + timedelta(seconds=40)
    end = start + timedelta(seconds=4.5)
    spec = {
        "id": "nightly",
        "title": "nightly",
        "func": "tests.scheduler.sample_jobs:slow_count",
        "trigger": "interval",
        "trigger_args": {
            "seconds": 2,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
        },
    }
    proc = _start(database_url, tmp_path, [spec], stop_after=1)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    # The times are absolute, so a slow machine shows here rather than as a wrong count.
    assert datetime.now(UTC) < start, "the first scheduler outlived the first fire time"
    assert _runs(session, "nightly") == []  # stopped before the first fire time
    # Down over the fire times at start, +2 s and +4 s, and past the trigger's end.
    time.sleep((end - datetime.now(UTC)).total_seconds() + 0.5)
    proc = _start(database_url, tmp_path, [spec], stop_after=6)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert _runs(session, "nightly") == ["succeeded"], out
