"""The scheduler process: take the lease, register the jobs, run until stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from evalsys.clock import utcnow
from evalsys.db import get_engine
from evalsys.scheduler import jobs, lease

_TRIGGERS = {"cron": CronTrigger, "interval": IntervalTrigger, "date": DateTrigger}


def make_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler whose jobs persist in the app's database, missed runs coalesced into one."""
    tz = app.config["SCHEDULER_TIMEZONE"]
    return BackgroundScheduler(
        jobstores={
            # One job store per database and one scheduler per job store (the lease).
            "default": SQLAlchemyJobStore(engine=get_engine(app), tablename="apscheduler_jobs"),
            "memory": MemoryJobStore(),
        },
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,  # a scheduler that was down runs a missed job once, not N times
            "max_instances": 1,
            "misfire_grace_time": app.config["SCHEDULER_MISFIRE_GRACE_SECONDS"],
        },
        timezone=tz,
    )


def sync_jobs(scheduler: BackgroundScheduler, tz: str, config: Mapping[str, Any]) -> None:
    """Add the registered jobs, keeping a stored job whose trigger did not change.

    Replacing an unchanged job would recompute its next run time from now and
    silently drop a run missed while the scheduler was down; keeping it lets
    APScheduler run the missed job (once, coalesced) when it resumes. A job the
    site switched off (:meth:`JobSpec.schedule_args` None) is taken out of the store.
    """
    for spec in jobs.JOBS:
        args = spec.schedule_args(config)
        stored = scheduler.get_job(spec.id, jobstore="default")
        if args is None:
            if stored is not None:
                scheduler.remove_job(spec.id, jobstore="default")
            continue
        trigger = _TRIGGERS[spec.trigger](timezone=tz, **args)
        if stored is not None and str(stored.trigger) == str(trigger):
            continue
        scheduler.add_job(
            jobs.scheduled,
            trigger,
            args=[spec.id],
            id=spec.id,
            name=spec.title,
            jobstore="default",
            replace_existing=True,
        )


def run(
    app: Flask,
    *,
    wait: bool = False,
    echo: Callable[[str], None] = print,
    stop_after: float | None = None,
) -> int:
    """Run the scheduler in this process until stopped. Returns an exit status.

    ``stop_after`` (seconds) ends the process by itself: for tests and one-shot catch-ups.
    """
    engine = get_engine(app)
    owner = lease.new_owner()
    ttl = timedelta(seconds=app.config["SCHEDULER_LEASE_SECONDS"])
    stop = threading.Event()
    while not lease.try_acquire(engine, owner, ttl):
        current = lease.holder(engine)
        who = (
            f"{current.owner}, alive at {current.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
            if current
            else "?"
        )
        if not wait:
            echo(
                f"Another evalsys scheduler is running ({who}); exiting. "
                "Use --wait to take over when it stops."
            )
            return 2
        if stop.wait(max(0.5, ttl.total_seconds() / 3)):
            return 0

    jobs.load_job_modules(app)
    jobs.bind(app, owner)
    scheduler = make_scheduler(app)
    status = 0

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    scheduler.start(paused=True)
    try:
        sync_jobs(scheduler, app.config["SCHEDULER_TIMEZONE"], app.config)
        scheduler.resume()
        echo(f"evalsys scheduler {owner} running {len(jobs.JOBS)} job(s); Ctrl-C stops it.")
        deadline = None if stop_after is None else utcnow() + timedelta(seconds=stop_after)
        beat = max(0.5, ttl.total_seconds() / 3)
        next_beat = utcnow() + timedelta(seconds=beat)
        # The heartbeat lives on this thread, not in the job pool, so a long job
        # (a whole term's aggregation) cannot starve it and lose the lease.
        while not stop.wait(0.2):
            now = utcnow()
            if deadline is not None and now >= deadline:
                break
            if now >= next_beat:
                next_beat = now + timedelta(seconds=beat)
                if not lease.renew(engine, owner):
                    echo("Lost the scheduler lease to another process; stopping.")
                    status = 3
                    break
    finally:
        scheduler.shutdown(wait=True)
        lease.release(engine, owner)
    return status
