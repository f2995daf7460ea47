"""Rendering reports on a task queue (RQ on Redis), when one machine is not enough.

With ``REPORT_QUEUE_URL`` set (``redis://host:6379/0``), ``evalsys report --queue`` and the
scheduler's rendering after a term's final aggregation put one job per unit and language
on the queue ``REPORT_QUEUE_NAME``; ``evalsys worker`` processes, on any machine that
reaches the database, the report storage and Redis, render them. Without it nothing here
is imported: a laptop renders in local worker processes (:mod:`evalsys.reports.workers`)
and needs no Redis.

Why RQ (docs/reports.md has the measurements): Redis only, no broker of its own; a job is
a plain function call; and each job runs in a **work horse forked** from the worker, which
the worker kills when the job outlives its time limit — the same outside-the-job limit the
local pool keeps (an exception raised into a running thread, as Dramatiq's time limit does,
is what issue 14 found swallowed). The fork is cheap because the worker has imported the
renderer, parsed the stylesheet and loaded the fonts before its first job
(:func:`evalsys.reports.queue_worker.preload`): each horse inherits them.

What the queue does not change: a job calls :func:`evalsys.reports.render.render_unit`,
which skips an unchanged report, writes the file atomically beside its ``report`` row, and
keeps the two in step across processes and machines (:mod:`evalsys.reports.store`);
deliveries are queued from the rows by the ``deliver-reports`` job, which sends each
version once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flask import Flask

from evalsys.reports.outcome import Outcome

#: Results are kept this long in Redis (seconds): enough for whoever waits on them.
RESULT_TTL = 24 * 3600
#: How many times a job is put back on the queue when its worker died mid-render (RQ
#: retries a job that failed, too: a report over its time limit is tried once more).
RETRIES = 2


class QueueUnavailable(RuntimeError):
    """The report queue cannot be used: Redis at REPORT_QUEUE_URL cannot be reached, or a
    queue setting is wrong (the message says which)."""


def queue_url(app: Flask) -> str | None:
    return app.config.get("REPORT_QUEUE_URL") or None


def open_queue(app: Flask) -> Any:
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue

    url = queue_url(app)
    if url is None:
        raise QueueUnavailable("REPORT_QUEUE_URL is not set")
    connection = Redis.from_url(url, socket_connect_timeout=5)
    try:
        connection.ping()
    except RedisError as err:
        raise QueueUnavailable(f"the report queue at {_safe(url)} is not reachable: {err}") from err
    return Queue(app.config.get("REPORT_QUEUE_NAME") or "evalsys-reports", connection=connection)


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def enqueue(
    app: Flask,
    *,
    term_code: str,
    items: Sequence[tuple[str, str]],
    out_dir: Path | None,
    force: bool,
) -> list[str]:
    """One job per (unit, language); returns the job ids, in the order of ``items``."""
    from rq import Retry

    queue = open_queue(app)
    timeout = int(float(app.config.get("REPORT_TIMEOUT_SECONDS") or 0)) or 3600
    where = str(out_dir) if out_dir else None
    jobs = []
    with queue.connection.pipeline() as pipe:
        for code, locale in items:
            jobs.append(
                queue.enqueue_call(
                    "evalsys.reports.queue_worker.render_job",
                    args=(term_code, code, where, force, locale),
                    timeout=timeout,
                    result_ttl=RESULT_TTL,
                    failure_ttl=RESULT_TTL,
                    description=f"report {term_code} {code} {locale}",
                    retry=Retry(max=RETRIES),
                    pipeline=pipe,
                )
            )
        pipe.execute()
    return [job.id for job in jobs]


def wait(
    app: Flask,
    job_ids: Sequence[str],
    items: Sequence[tuple[str, str]],
    *,
    progress: Callable[[Outcome], None] | None = None,
    poll: float = 0.5,
) -> list[Outcome]:
    """Outcomes as the jobs finish (a failed or killed job is a failed outcome)."""
    from rq.job import Job, JobStatus

    queue = open_queue(app)
    pending = dict(zip(job_ids, items, strict=True))
    outcomes: list[Outcome] = []
    while pending:
        jobs = Job.fetch_many(list(pending), connection=queue.connection)
        for job_id, job in zip(list(pending), jobs, strict=True):
            code, locale = pending[job_id]
            outcome: Outcome | None = None
            if job is None:  # expired or deleted from Redis
                outcome = Outcome(code, locale, "failed", error="the job is gone from the queue")
            else:
                status = job.get_status(refresh=False)
                if status == JobStatus.FINISHED:
                    value = job.return_value()
                    outcome = (
                        value
                        if isinstance(value, Outcome)
                        else Outcome(code, locale, "failed", error="no outcome")
                    )
                elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                    result = job.latest_result()
                    text = (result.exc_string if result is not None else "") or str(status)
                    outcome = Outcome(code, locale, "failed", error=_last_line(text))
            if outcome is not None:
                del pending[job_id]
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
        if pending:
            time.sleep(poll)
    return outcomes


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "failed"
