"""The report queue's faults, on both databases: a worker killed mid-render, a unit deleted
after its report was queued, Redis out of reach. Real Redis, real ``evalsys worker``
processes (the helpers are tests/reports/test_queue.py's)."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

from sqlmodel import select

from evalsys.org.models import OrgUnit
from evalsys.reports import queue as report_queue
from evalsys.reports import store
from tests.reports.test_queue import TERM, _records, finished, workers

#: Seconds without its worker's heartbeat before a started job counts as abandoned.
LOST = 3


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.part"))


def _until(what, seconds: float, log: Path):
    deadline = time.monotonic() + seconds
    while not (found := what()):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.05)
    return found


def test_a_worker_killed_mid_render_leaves_its_report_to_another(
    queued_app, bare_aggregated, session, tmp_path
):
    """SIGKILL the worker while its horse is between writing the PDF and recording it: the
    horse dies with it, the job is put back once its heartbeat runs out, and the other
    worker renders it — one row, its file whole, nothing of the dead one's left after the
    next settle."""
    from rq.job import Job, JobStatus

    queued_app.config.update(REPORT_QUEUE_LOST_SECONDS=LOST)
    out = Path(queued_app.config["REPORT_DIR"]) / TERM
    out.mkdir(parents=True)
    [job_id] = report_queue.enqueue(
        queued_app, term_code=TERM, items=[("U", "en")], out_dir=None, force=True
    )
    connection = report_queue.open_queue(queued_app).connection
    log = tmp_path / "workers.log"
    # The directory's lock held here: the horse writes its part, then waits for the lock to
    # record it — mid-render, deterministically.
    with store.directory_lock(out), workers(queued_app, 1, tmp_path / "first.log") as [first]:
        [part] = _until(lambda: _parts(out), 120, tmp_path / "first.log")
        job = Job.fetch(job_id, connection=connection)
        assert job.get_status() == JobStatus.STARTED
        killed = job.worker_name
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        # Its horse died with it: the part's lock is free (a live writer holds it).
        fd = os.open(part, os.O_RDONLY)
        try:
            _until(lambda: _flock_free(fd), 10, tmp_path / "first.log")
        finally:
            os.close(fd)
    assert _records(session) == []
    with workers(queued_app, 1, log):
        [outcome] = finished(queued_app, [job_id], [("U", "en")], log)
    assert outcome.status == "rendered", outcome
    job = Job.fetch(job_id, connection=connection)
    assert job.worker_name != killed and job.retries_left == report_queue.RETRIES - 1
    [record] = _records(session)  # one version: one email to each recipient, never two
    target = Path(record.path)
    assert target.parent == out and record.size == target.stat().st_size
    assert store.sha256_of(target) == record.sha256
    store.settle(session, out)
    assert _parts(out) == []  # the dead horse's part deleted, nothing else touched
    assert store.sha256_of(target) == record.sha256


def _flock_free(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def test_a_report_of_a_unit_deleted_after_it_was_queued_is_skipped_with_a_message(
    queued_app, bare_aggregated, session, tmp_path
):
    college = session.exec(select(OrgUnit).where(OrgUnit.code == "CS")).one()
    gone = OrgUnit(code="CS-GONE", name="Gone", kind="department", parent_id=college.id)
    session.add(gone)
    session.commit()
    ids = report_queue.enqueue(
        queued_app,
        term_code=TERM,
        items=[("CS-GONE", "en"), ("CS", "en")],
        out_dir=None,
        force=False,
    )
    session.delete(gone)
    session.commit()
    with workers(queued_app, 1, tmp_path / "workers.log", burst=True):
        outcomes = finished(
            queued_app, ids, [("CS-GONE", "en"), ("CS", "en")], tmp_path / "workers.log"
        )
    by_unit = {o.unit: o for o in outcomes}
    assert by_unit["CS-GONE"].status == "skipped"
    assert by_unit["CS-GONE"].error == "the unit CS-GONE no longer exists"
    assert by_unit["CS"].status == "rendered"  # the others go on
    assert [Path(r.path).name for r in _records(session)] == ["CS.en.pdf"]


def test_without_redis_the_commands_say_so_and_record_nothing(
    app, bare_aggregated, cli, session, tmp_path
):
    result = cli("report", "--term", TERM, "--queue")
    assert result.exit_code != 0 and "REPORT_QUEUE_URL" in result.output
    app.config.update(REPORT_QUEUE_URL="redis://127.0.0.1:1/0", REPORT_DIR=str(tmp_path))
    result = cli("report", "--term", TERM, "--queue")
    assert result.exit_code == 1 and "is not reachable" in result.output, result.output
    assert _records(session) == [] and not any(tmp_path.rglob("*.pdf"))  # nothing half-done
    result = cli("worker", "--burst")
    assert result.exit_code == 1 and "is not reachable" in result.output, result.output
    app.config.update(REPORT_QUEUE_LOST_SECONDS="soon")
    result = cli("worker", "--burst")
    assert result.exit_code == 1, result.output
    assert "REPORT_QUEUE_LOST_SECONDS must be a number of seconds, not 'soon'" in result.output
