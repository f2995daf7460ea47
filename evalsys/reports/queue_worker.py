"""The worker's side of the report queue (:mod:`evalsys.reports.queue`): ``evalsys worker``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from sqlmodel import Session

from evalsys.db import get_engine
from evalsys.reports.outcome import Outcome
from evalsys.reports.queue import QueueUnavailable, open_queue
from evalsys.reports.render import _render_in_worker, _worker, collect_less, compile_templates
from evalsys.reports.workers import die_with_parent


def preload(app: Flask) -> None:
    """Before the first job: the renderer imported, its stylesheet parsed, its fonts found,
    jieba's dictionary loaded, the report's templates compiled, so that every forked work
    horse inherits them instead of paying for them (jieba alone is about a second a report,
    the templates a fifth of a department's)."""
    from evalsys.reports import charts, pdf
    from evalsys.themes import detect

    _worker["app"] = app

    pdf.render_pdf("<html><body><p>预热 warm-up</p></body></html>")
    detect.warm_up()  # every report lists its recurring themes
    with app.app_context():  # the chart's axis label is translated
        charts.warm_up()
        compile_templates(app)
    with Session(get_engine(app)) as session:  # the database answers before jobs come
        session.connection()
    get_engine(app).dispose()  # no connection crosses the fork
    collect_less()  # what is loaded, frozen before the horses fork


def render_job(
    term_code: str, unit_code: str, out_dir: str | None, force: bool, locale: str | None
) -> Outcome:
    """A queued job: one unit in one language, in a work horse of ``evalsys worker``."""
    # The horse dies with its worker. A horse left running after its worker was killed
    # would finish a job that, with no heartbeat from its dead worker, is put back on the
    # queue: the report rendered twice at once, two versions, two emails.
    die_with_parent(os.getppid())
    # A fresh engine in each horse: connections are never shared across a fork.
    get_engine(_worker["app"]).dispose(close=False)
    return _render_in_worker(term_code, unit_code, out_dir, force, locale)


def lost_after(app: Flask) -> tuple[int, int]:
    """(heartbeat interval, grace) in seconds from REPORT_QUEUE_LOST_SECONDS: a worker beats
    every interval; a job whose worker has not beaten for interval + grace is abandoned."""
    raw = app.config.get("REPORT_QUEUE_LOST_SECONDS") or 60
    try:
        lost = max(3, int(float(raw)))
    except (TypeError, ValueError):
        raise QueueUnavailable(
            f"REPORT_QUEUE_LOST_SECONDS must be a number of seconds, not {raw!r}"
        ) from None
    interval = max(1, min(30, lost // 3))
    return interval, lost - interval


def run_worker(app: Flask, *, burst: bool = False, name: str | None = None) -> bool:
    """Serve the queue until stopped (or, ``burst``, until it is empty).

    A job whose worker died mid-render (SIGKILL, its machine lost) stays "started" in Redis
    until its heartbeat runs out; the other workers look for such jobs every half of
    REPORT_QUEUE_LOST_SECONDS (RQ's maintenance) and put them back on the queue
    (:data:`evalsys.reports.queue.RETRIES`). RQ's own defaults would add a fixed minute to
    every heartbeat, look every ten minutes and keep an idle worker waiting on the queue
    for seven; here all three follow REPORT_QUEUE_LOST_SECONDS."""
    from rq import Worker

    interval, grace = lost_after(app)

    class ReportWorker(Worker):
        def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
            return max(1, super().get_heartbeat_ttl(job, working_time) - 60 + grace)

    queue = open_queue(app)
    preload(app)
    look = max(1, (interval + grace) // 2)
    worker = ReportWorker(
        [queue],
        connection=queue.connection,
        name=name,
        job_monitoring_interval=interval,
        maintenance_interval=look,
        # An idle worker waits on the queue for its TTL less 15 s before it looks again.
        worker_ttl=look + 15,
    )
    return bool(worker.work(burst=burst, logging_level="WARNING"))
