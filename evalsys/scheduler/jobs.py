"""The scheduled jobs: fixed ids, triggers, and the functions they run.

Job functions are named by "module:function" text so that APScheduler's
database job store can persist them; each runs inside :func:`run_job`, which
checks the lease, records a :class:`JobRun`, and gives the work a session.
Other areas add their jobs to :data:`JOBS` (aggregation, reports, reminders).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlmodel import Session

from evalsys.clock import utcnow
from evalsys.db import get_engine
from evalsys.scheduler import lease
from evalsys.scheduler.models import JobRun, RunStatus


@dataclass(frozen=True)
class JobSpec:
    id: str
    title: str
    #: "module:function"; the function takes (session, app) and returns a short summary.
    func: str
    trigger: str  # "cron" or "interval"
    trigger_args: dict[str, Any] = field(default_factory=dict)
    #: For an "interval" job the site times: the setting that holds its interval in minutes;
    #: 0 leaves the job unscheduled (it can still be run by hand).
    minutes_setting: str | None = None

    def schedule_args(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """The trigger's arguments on this site, or None when the site switched it off."""
        if self.minutes_setting is None:
            return dict(self.trigger_args)
        minutes = int(config.get(self.minutes_setting) or 0)
        if minutes <= 0:
            return None
        return {**self.trigger_args, "minutes": minutes}


#: Every scheduled job. Ids are fixed: a restarted scheduler replaces, never duplicates.
JOBS: list[JobSpec] = []

#: Modules whose import registers jobs (each calls :func:`register` at import).
#: A site adds its own through the config key SCHEDULER_EXTRA_JOB_MODULES.
JOB_MODULES: tuple[str, ...] = (
    "evalsys.aggregation.jobs",
    "evalsys.reports.jobs",
    "evalsys.loop.jobs",
    "evalsys.planner.jobs",
    "evalsys.accounts.jobs",
    "evalsys.bulletins.jobs",
)


def load_job_modules(app: Flask) -> None:
    """Import every job module once, so the scheduler, ``run-job`` and the admin page agree."""
    import importlib

    for name in (*JOB_MODULES, *app.config.get("SCHEDULER_EXTRA_JOB_MODULES", ())):
        importlib.import_module(name)


def register(spec: JobSpec) -> JobSpec:
    if len(spec.id) > 36:
        raise ValueError(f"job id {spec.id!r} is longer than 36 characters")
    if any(existing.id == spec.id for existing in JOBS):
        raise ValueError(f"job id {spec.id!r} registered twice")
    JOBS.append(spec)
    return spec


def job_spec(job_id: str) -> JobSpec:
    for spec in JOBS:
        if spec.id == job_id:
            return spec
    raise KeyError(f"no job {job_id!r}; jobs are {', '.join(s.id for s in JOBS) or 'none'}")


def resolve(ref: str) -> Callable[..., Any]:
    module_name, _, attr = ref.partition(":")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)


# --- the process-wide context the persisted jobs run in -------------------------

_context: dict[str, Any] = {}


def bind(app: Flask, owner: str) -> None:
    """Called once by the scheduler process before it starts."""
    _context["app"] = app
    _context["owner"] = owner


def scheduled(job_id: str) -> None:
    """What APScheduler calls (a plain module function, so the job store can pickle it)."""
    run_job(_context["app"], job_id, owner=_context["owner"], trigger="schedule")


def job_lock_name(job_id: str) -> str:
    return f"job:{job_id}"


def run_job(app: Flask, job_id: str, *, owner: str, trigger: str = "manual") -> JobRun:
    """Run one job now, recorded, never twice at once.

    Scheduled runs are skipped unless this process holds the scheduler lease;
    every run, scheduled or by hand, first takes the job's own lock row, so a
    run started from the admin page while the scheduler runs the same job is
    skipped rather than doubled.
    """
    spec = job_spec(job_id)
    engine = get_engine(app)
    lock = job_lock_name(spec.id)
    ttl = timedelta(seconds=app.config["SCHEDULER_JOB_LOCK_SECONDS"])
    reason = None
    if trigger == "schedule" and not lease.holds(engine, owner):
        reason = "this process does not hold the scheduler lease"
    elif not lease.try_acquire(engine, owner, ttl, name=lock):
        reason = "the job is already running in another process"
    with Session(engine, expire_on_commit=False) as session:
        run = JobRun(job_id=spec.id, trigger=trigger, owner=owner)
        if reason is not None:
            run.status = RunStatus.SKIPPED.value
            run.finished_at = utcnow()
            run.detail = reason
            session.add(run)
            session.commit()
            return run
        try:
            session.add(run)
            session.commit()
            try:
                with app.app_context():
                    summary = resolve(spec.func)(session, app)
                session.commit()
                run.status = RunStatus.SUCCEEDED.value
                run.detail = None if summary is None else str(summary)[:4000]
            except Exception:
                session.rollback()
                run.status = RunStatus.FAILED.value
                run.detail = traceback.format_exc()[-4000:]
                app.logger.exception("job %s failed", spec.id)
            run.finished_at = utcnow()
            session.add(run)
            session.commit()
        finally:
            lease.release(engine, owner, name=lock)
        return run
