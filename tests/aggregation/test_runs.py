"""Runs: recorded, idempotent, all or nothing — even when the process is killed half-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text
from sqlmodel import select

from evalsys import ROOT
from evalsys.aggregation.models import AggregationRun, RunStatus
from evalsys.aggregation.service import AggregationError, aggregate_term
from tests.aggregation.helpers import snapshot


def _runs(session, term_id):
    session.rollback()
    return session.exec(
        select(AggregationRun).where(AggregationRun.term_id == term_id).order_by(AggregationRun.id)
    ).all()


def _more_feedback(uni):
    """Change the data, so that a new run would give other rows than the last one."""
    code = next(c for c in uni.sections if c.startswith("T2-AI1"))
    for observer in uni.observers[:3]:
        uni.add(
            "spot_check",
            observer=observer,
            section=code,
            scores={i.code: i.scale_min for i in uni.item_codes("spot_check")},
        )
    uni.session.commit()


def test_a_run_is_recorded_with_its_counts(session, uni, settings):
    term = uni.terms["T2"]
    run = aggregate_term(session, term=term.code, settings=settings, trigger="cli")
    [stored] = _runs(session, term.id)
    assert stored.id == run.id and stored.status == RunStatus.SUCCEEDED
    assert stored.trigger == "cli" and not stored.final
    assert stored.finished_at is not None and stored.finished_at >= stored.started_at
    assert stored.record_count > 0 and stored.value_count > stored.record_count
    counts = session.execute(
        text(
            "SELECT (SELECT COUNT(*) FROM aggregate_result WHERE term_id = :t),"
            " (SELECT COUNT(*) FROM aggregate_coverage WHERE term_id = :t),"
            " (SELECT COUNT(*) FROM aggregate_flag WHERE term_id = :t)"
        ),
        {"t": term.id},
    ).one()
    assert (stored.result_count, stored.coverage_count, stored.flag_count) == tuple(counts)
    assert stored.error is None


def test_running_again_gives_identical_rows(session, uni, settings):
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    first = snapshot(session)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    assert snapshot(session) == first
    assert all(len(rows) > 0 for rows in first.values())


def test_a_term_is_replaced_and_other_terms_are_left_alone(session, uni, settings):
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    t1 = snapshot(session, uni.terms["T1"].id)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    before = snapshot(session, uni.terms["T2"].id)
    _more_feedback(uni)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    assert snapshot(session, uni.terms["T2"].id) != before
    assert snapshot(session, uni.terms["T1"].id) == t1


def test_a_failed_run_leaves_the_earlier_results_and_is_recorded(session, uni, settings):
    term = uni.terms["T2"]
    aggregate_term(session, term=term.code, settings=settings)
    before = snapshot(session, term.id)
    _more_feedback(uni)

    def fail_half_way(step, detail):
        if step == "course":
            raise RuntimeError("disk full (simulated)")

    with pytest.raises(AggregationError, match="disk full") as info:
        aggregate_term(session, term=term.code, settings=settings, progress=fail_half_way)
    assert info.value.run is not None and info.value.run.status == RunStatus.FAILED
    assert snapshot(session, term.id) == before
    runs = _runs(session, term.id)
    assert [r.status for r in runs] == ["succeeded", "failed"]
    assert "disk full (simulated)" in runs[-1].error and runs[-1].finished_at is not None
    assert runs[-1].result_count is None
    # And the next run works.
    aggregate_term(session, term=term.code, settings=settings)
    assert snapshot(session, term.id) != before


def test_an_unknown_term_is_refused(session, uni, settings):
    with pytest.raises(AggregationError, match="no term 'NOPE'"):
        aggregate_term(session, term="NOPE", settings=settings)


def _start_slow_run(database_url, tmp_path, term_code, pause):
    env = {
        **os.environ,
        "EVALSYS_DATABASE_URL": database_url,
        "EVALSYS_SECRET_KEY": "test",
        "EVALSYS_INSTANCE_PATH": str(tmp_path / "instance"),
        "EVALSYS_AGGREGATION_PAUSE_SECONDS": str(pause),
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from evalsys.cli import main; main()",
            "aggregate",
            "--term",
            term_code,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_run_killed_half_way_changes_nothing_and_a_rerun_is_clean(
    database_url, session, uni, settings, tmp_path
):
    term = uni.terms["T2"]
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(session, term=term.code, settings=settings)
    before = snapshot(session)
    _more_feedback(uni)

    proc = _start_slow_run(database_url, tmp_path, term.code, pause=3)
    seen: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if line.strip().startswith("department"):  # school, college, department written
            break
        assert time.monotonic() < deadline, seen
    # Mid-transaction: three levels inserted, the old rows deleted, nothing committed.
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, seen + [rest]
    assert "Aggregated" not in rest

    assert snapshot(session) == before  # the earlier results, untouched
    runs = _runs(session, term.id)
    assert [r.status for r in runs] == ["succeeded", "running"]  # the dead run, as it was

    aggregate_term(session, term=term.code, settings=settings)
    rerun = snapshot(session)
    assert rerun != before
    assert [r.status for r in _runs(session, term.id)] == ["succeeded", "interrupted", "succeeded"]
    # Identical to a clean run: every aggregate of the term deleted, then computed afresh.
    for table in ("aggregate_flag", "aggregate_result", "aggregate_coverage"):
        session.execute(text(f"DELETE FROM {table} WHERE term_id = :t"), {"t": term.id})
    session.commit()
    aggregate_term(session, term=term.code, settings=settings)
    assert snapshot(session) == rerun
