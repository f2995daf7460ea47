"""Rendering on the report queue: RQ on the real Redis at 127.0.0.1:6379 (EVALSYS_TEST_REDIS_URL
to change it), real ``evalsys worker`` processes, the real database. Each test has a queue
of its own. Outside CI a missing Redis skips these; in CI it fails them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import select

from evalsys.org.models import Term
from evalsys.reports import queue as report_queue
from evalsys.reports import store
from evalsys.reports.delivery import render_and_queue
from evalsys.reports.models import Report

pytestmark = pytest.mark.once(
    "the queue carries the same render_unit as the local workers, whose rows and files run"
    " on both databases in tests/reports/test_cli_and_views.py"
)

TERM = "2026-2027-1"
TREE = ["U", "ART", "CS", "MATH", "ART-DES", "CS-AI", "CS-SE", "MATH-APP", "MATH-PURE"]


def _worker_env(app) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALSYS_")}
    env.update(
        EVALSYS_DATABASE_URL=app.config["DATABASE_URL"],
        EVALSYS_INSTANCE_PATH=app.instance_path,
        EVALSYS_SECRET_KEY=app.config["SECRET_KEY"],
        EVALSYS_DEFAULT_LOCALE=app.config["DEFAULT_LOCALE"],
        EVALSYS_REPORT_QUEUE_URL=app.config["REPORT_QUEUE_URL"],
        EVALSYS_REPORT_QUEUE_NAME=app.config["REPORT_QUEUE_NAME"],
        EVALSYS_REPORT_QUEUE_LOST_SECONDS=str(app.config["REPORT_QUEUE_LOST_SECONDS"]),
        EVALSYS_REPORT_DIR=app.config["REPORT_DIR"],
    )
    return env


@contextmanager
def workers(app, count: int, log: Path, *, burst: bool = False) -> Iterator[list[subprocess.Popen]]:
    """``count`` ``evalsys worker`` processes serving the test's queue until the block ends
    (``burst``: each ends by itself once the queue is empty)."""
    procs = []
    with log.open("wb") as out:
        for i in range(count):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "evalsys.cli",
                        "worker",
                        "--name",
                        f"w{i}-{uuid.uuid4().hex[:6]}",
                        *(["--burst"] if burst else []),
                    ],
                    env=_worker_env(app),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        try:
            yield procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)  # RQ's warm shutdown
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def finished(app, job_ids, items, log: Path, seconds: float = 180):
    """``report_queue.wait``, but a test that would wait for ever fails instead, with the
    workers' log (the command itself waits as long as it takes)."""
    from rq.job import Job, JobStatus

    connection = report_queue.open_queue(app).connection
    done = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
    deadline = time.monotonic() + seconds
    while not all(
        job is not None and job.get_status(refresh=False) in done
        for job in Job.fetch_many(list(job_ids), connection=connection)
    ):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.1)
    return report_queue.wait(app, job_ids, items)


def _records(session) -> list[Report]:
    session.rollback()
    return list(session.exec(select(Report).order_by(Report.id)).all())


def test_the_scheduler_and_the_command_put_reports_on_the_queue_and_workers_render_them(
    queued_app, bare_aggregated, cli, session, tmp_path
):
    log = tmp_path / "workers.log"
    term = session.exec(select(Term).where(Term.code == TERM)).one()
    # After a final aggregation: the tree goes on the queue, nobody has rendered it yet.
    summary = render_and_queue(session, queued_app, term)
    assert "9 on the queue" in summary and "0 rendered" in summary
    assert _records(session) == []
    out = Path(queued_app.config["REPORT_DIR"]) / TERM
    expected = sorted(f"{code}.en.pdf" for code in TREE)
    with workers(queued_app, 2, log):
        deadline = time.monotonic() + 180
        while len(_records(session)) < 9:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        files = sorted(p.name for p in out.iterdir() if p.name != store.LOCK_NAME)
        assert files == expected  # no temporary file left
        records = _records(session)
        assert sorted(Path(r.path).name for r in records) == expected  # one row per report
        for record in records:
            path = Path(record.path)
            assert path.read_bytes().startswith(b"%PDF") and record.size == path.stat().st_size
        # The command: nothing changed, decided before the queue, nothing is put on it.
        again = cli("report", "--term", TERM, "--queue")
        assert again.exit_code == 0, again.output
        assert "on the report queue" in again.output
        assert "0 rendered, 9 unchanged" in again.output
        # Forced: rendered again by a worker, followed to the end; a new row.
        forced = cli("report", "--term", TERM, "--unit", "CS", "--queue", "--force")
        assert forced.exit_code == 0, forced.output + log.read_text()
        assert "1 rendered, 0 unchanged, 0 failed" in forced.output
        assert len(_records(session)) == 10
        # --no-wait: on the queue and back at once.
        left = cli("report", "--term", TERM, "--unit", "ART", "--queue", "--force", "--no-wait")
        assert left.exit_code == 0 and "1 queued" in left.output, left.output


def test_a_job_over_its_time_limit_is_killed_and_reported_failed(queued_app, tmp_path):
    queue = report_queue.open_queue(queued_app)
    job = queue.enqueue_call("time.sleep", args=(60,), timeout=1)
    started = time.monotonic()
    with workers(queued_app, 1, tmp_path / "workers.log", burst=True):
        (outcome,) = finished(queued_app, [job.id], [("CS", "en")], tmp_path / "workers.log")
    assert outcome.status == "failed" and outcome.unit == "CS"
    assert "timeout" in (outcome.error or "").lower(), outcome.error
    assert time.monotonic() - started < 50  # killed, not slept out


def test_without_redis_the_scheduler_renders_here(app, bare_aggregated, session, tmp_path):
    """The commands' messages, and that they record nothing, are in test_queue_faults.py."""
    app.config.update(REPORT_QUEUE_URL="redis://127.0.0.1:1/0", REPORT_DIR=str(tmp_path))
    term = session.exec(select(Term).where(Term.code == TERM)).one()
    summary = render_and_queue(session, app, term)
    assert "9 rendered" in summary and "not reachable: rendered here" in summary
