"""``evalsys aggregate``, ``evalsys export aggregates`` and the scheduled jobs."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from evalsys.aggregation import export, jobs, service
from evalsys.aggregation.models import AggregationRun
from evalsys.scheduler import jobs as scheduler_jobs
from evalsys.scheduler.models import JobRun


def _runs(session):
    session.rollback()
    return session.exec(select(AggregationRun).order_by(AggregationRun.id)).all()


# --- evalsys aggregate -----------------------------------------------------------------


def test_aggregate_shows_each_level_and_the_counts(cli, uni, session):
    result = cli("aggregate", "--term", uni.terms["T2"].code)
    assert result.exit_code == 0, result.output
    steps = [line.split()[0] for line in result.output.splitlines()[1:-1]]
    steps = [s for s in steps if s != "statistics"]  # PostgreSQL groups all levels at once
    assert steps == ["prepare", "school", "college", "department", "course", "section", "flags"]
    [run] = _runs(session)
    assert run.trigger == "cli" and run.status == "succeeded"
    assert f"{run.record_count} records" in result.output
    assert f"{run.result_count} results" in result.output


def test_aggregate_fails_with_a_message_and_a_status(cli, uni):
    result = cli("aggregate", "--term", "NOPE")
    assert result.exit_code == 1
    assert "no term 'NOPE'" in result.output
    assert cli("aggregate").exit_code == 2  # neither --term nor --all-open
    assert cli("aggregate", "--term", "X", "--all-open").exit_code == 2


def test_aggregate_refuses_a_bad_setting(cli, uni, app):
    app.config["FLAG_THRESHOLD"] = 150
    result = cli("aggregate", "--term", uni.terms["T2"].code)
    assert result.exit_code == 1 and "FLAG_THRESHOLD must be within 0-100" in result.output


def test_aggregate_all_open_takes_terms_not_yet_ended(cli, uni, session, site_clock):
    site_clock.on(date(2026, 10, 15))
    result = cli("aggregate", "--all-open")
    assert result.exit_code == 0, result.output
    assert [r.term_id for r in _runs(session)] == [uni.terms["T2"].id]
    site_clock.on(date(2027, 3, 1))
    result = cli("aggregate", "--all-open")
    assert result.exit_code == 0 and "No open term" in result.output


# --- evalsys export aggregates -----------------------------------------------------------


@pytest.fixture
def aggregated(uni, session):
    service.aggregate_term(session, term=uni.terms["T1"].code)
    service.aggregate_term(session, term=uni.terms["T2"].code)
    return uni


def test_export_json_has_one_row_per_result(cli, aggregated, session):
    term = aggregated.terms["T2"]
    result = cli("export", "aggregates", "--term", term.code, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["term"] == term.code and data["run"]["settings"]["min_n"] == 3
    rows = data["rows"]
    stored = _runs(session)[-1].result_count
    assert len(rows) == stored
    keys = {(r["level"], r["unit_code"], r["kind"], r["dimension"]) for r in rows}
    assert len(keys) == len(rows)
    assert rows[0]["level"] == "school" and rows[-1]["level"] == "section"
    first = rows[0]
    for name in (
        "n",
        "observers",
        "mean",
        "sd",
        "median",
        "min",
        "max",
        "insufficient",
        "parent_mean",
        "parent_diff",
        "parent_z",
        "prev_mean",
        "prev_change",
        "bands",
        "coverage",
        "flags",
        "unit_name",
        "parent_code",
    ):
        assert name in first
    flagged = [r for r in rows if r["flags"]]
    assert flagged and all(f["reason"] for r in flagged for f in r["flags"])
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "aggregates.export"))
    assert len(events.all()) == 1


def test_export_csv_to_a_file_below_a_unit(cli, aggregated, tmp_path):
    term = aggregated.terms["T2"]
    out = tmp_path / "cs.csv"
    result = cli(
        "export",
        "aggregates",
        "--term",
        term.code,
        "--format",
        "csv",
        "--unit",
        "CS",
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows and tuple(rows[0]) == export.CSV_FIELDS
    codes = {r["unit_code"] for r in rows if r["level"] in ("college", "department")}
    assert codes == {"CS", "CS-SE", "CS-AI"}
    assert not [r for r in rows if r["level"] == "school"]
    assert {r["level"] for r in rows} == {"college", "department", "course", "section"}
    sections = {r["unit_code"] for r in rows if r["level"] == "section"}
    assert sections and all(s.split("-")[1][:2] in ("SE", "AI", "SO") for s in sections)


def test_export_below_a_course_or_a_section(cli, aggregated):
    term = aggregated.terms["T2"]
    result = cli("export", "aggregates", "--term", term.code, "--unit", "SE1")
    rows = json.loads(result.output)["rows"]
    assert {r["level"] for r in rows} == {"course", "section"}
    assert {r["unit_code"] for r in rows if r["level"] == "course"} == {"SE1"}
    result = cli("export", "aggregates", "--term", term.code, "--unit", "T2-SOLO")
    rows = json.loads(result.output)["rows"]
    assert {(r["level"], r["unit_code"]) for r in rows} == {("section", "T2-SOLO")}


def test_export_needs_an_aggregated_term_and_a_known_unit(cli, uni):
    result = cli("export", "aggregates", "--term", uni.terms["T2"].code)
    assert result.exit_code == 1 and "has not been aggregated" in result.output
    assert "no term 'NOPE'" in cli("export", "aggregates", "--term", "NOPE").output
    service.aggregate_term(uni.session, term=uni.terms["T2"].code)
    result = cli("export", "aggregates", "--term", uni.terms["T2"].code, "--unit", "NOPE")
    assert result.exit_code == 1 and "no unit, course or section 'NOPE'" in result.output


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("软件工程系", "软件工程系"),
        ("a=b", "a=b"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(cell, written):
    assert export.neutralise(cell) == written


def test_csv_export_neutralises_unit_names(cli, aggregated, session):
    unit = aggregated.units["CS-SE"]
    unit.name = "=cmd|' /C calc'!A0"
    session.add(unit)
    session.commit()
    out = cli("export", "aggregates", "--term", aggregated.terms["T2"].code, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.output)))
    names = {r["unit_name"] for r in rows if r["unit_code"] == "CS-SE"}
    assert names == {"'=cmd|' /C calc'!A0"}
    # Numbers stay numbers, negative ones included.
    changes = [r["prev_change"] for r in rows if r["prev_change"]]
    assert any(c.startswith("-") for c in changes)
    assert all(float(c) == float(c) for c in changes)


# --- the scheduled jobs ---------------------------------------------------------------------


def test_jobs_are_registered_for_the_scheduler(app):
    scheduler_jobs.load_job_modules(app)
    spec = scheduler_jobs.job_spec("aggregate-open-terms")
    assert spec.trigger == "cron" and spec.trigger_args["hour"] == 2
    assert scheduler_jobs.job_spec("aggregate-ended-terms").trigger == "cron"


def test_nightly_job_aggregates_the_open_terms(app, uni, session, site_clock):
    site_clock.on(date(2026, 10, 15))
    run = scheduler_jobs.run_job(app, "aggregate-open-terms", owner="t", trigger="manual")
    assert run.status == "succeeded", run.detail
    assert run.detail.startswith(uni.terms["T2"].code + ":")
    [agg] = _runs(session)
    assert agg.term_id == uni.terms["T2"].id and agg.trigger == "job" and not agg.final


def test_ended_terms_get_one_final_run_and_are_handed_on(
    app, uni, session, monkeypatch, site_clock
):
    site_clock.on(date(2027, 2, 1))
    handed: list[str] = []
    monkeypatch.setattr(
        jobs, "after_final_aggregation", lambda session, app, term: handed.append(term.code)
    )
    run = scheduler_jobs.run_job(app, "aggregate-ended-terms", owner="t", trigger="manual")
    assert run.status == "succeeded", run.detail
    codes = [uni.terms["T1"].code, uni.terms["T2"].code]  # oldest first
    assert handed == codes
    assert [(r.term_id, r.final) for r in _runs(session)] == [
        (uni.terms["T1"].id, True),
        (uni.terms["T2"].id, True),
    ]
    # The next day: nothing left to finalise.
    run = scheduler_jobs.run_job(app, "aggregate-ended-terms", owner="t", trigger="manual")
    assert run.detail == "no term to finalise" and handed == codes
    assert len(_runs(session)) == 2


def test_a_failed_final_run_is_tried_again_the_next_day(app, uni, session, monkeypatch, site_clock):
    site_clock.on(date(2027, 2, 1))
    real = service.aggregate_term

    def flaky(session, *, term, **kw):
        if term.code == uni.terms["T1"].code:
            raise service.AggregationError(f"aggregation of {term.code} failed: boom")
        return real(session, term=term, **kw)

    monkeypatch.setattr(service, "aggregate_term", flaky)
    # The hand-over (rendering the reports) is tested in tests/reports/test_delivery.py.
    handed: list[str] = []
    monkeypatch.setattr(
        jobs, "after_final_aggregation", lambda session, app, term: handed.append(term.code)
    )
    run = scheduler_jobs.run_job(app, "aggregate-ended-terms", owner="t", trigger="manual")
    assert run.status == "failed" and "boom" in run.detail
    assert [r.term_id for r in _runs(session)] == [uni.terms["T2"].id]  # T2 still done
    monkeypatch.setattr(service, "aggregate_term", real)
    run = scheduler_jobs.run_job(app, "aggregate-ended-terms", owner="t", trigger="manual")
    assert run.status == "succeeded" and run.detail.startswith(uni.terms["T1"].code)
    session.rollback()
    statuses = session.exec(select(JobRun.status).where(JobRun.job_id == "aggregate-ended-terms"))
    assert statuses.all() == ["failed", "succeeded"]
    assert handed == [uni.terms["T2"].code, uni.terms["T1"].code]  # each once, when final


def test_a_failed_hand_over_fails_the_job_but_not_the_final_runs(
    app, uni, session, monkeypatch, site_clock
):
    """Reports failing for one term: the job fails and says how to catch up; the other term
    is still handed over; neither final run is undone, so neither is aggregated again."""
    site_clock.on(date(2027, 2, 1))
    handed: list[str] = []

    def hand_over(session, app, term):
        if term.code == uni.terms["T1"].code:
            raise RuntimeError("reports 2025-2026-2: 1 failed")
        handed.append(term.code)
        return "reports rendered"

    monkeypatch.setattr(jobs, "after_final_aggregation", hand_over)
    run = scheduler_jobs.run_job(app, "aggregate-ended-terms", owner="t", trigger="manual")
    t1, t2 = uni.terms["T1"].code, uni.terms["T2"].code
    assert run.status == "failed"
    assert f"run `evalsys report --term {t1}` to catch up" in run.detail
    assert f"{t2} (final): " in run.detail and "; reports rendered" in run.detail
    assert handed == [t2]
    assert [(r.term_id, r.final) for r in _runs(session)] == [
        (uni.terms["T1"].id, True),
        (uni.terms["T2"].id, True),
    ]
    run = scheduler_jobs.run_job(app, "aggregate-ended-terms", owner="t", trigger="manual")
    assert run.detail == "no term to finalise" and handed == [t2]


def test_export_xlsx_has_the_csv_rows_with_numbers_as_numbers(cli, aggregated, tmp_path):
    """Issue 8: the Excel export opens with the same figures as the CSV (read back here)."""
    from openpyxl import load_workbook

    term = aggregated.terms["T2"]
    path = tmp_path / "t2.xlsx"
    result = cli(
        "export", "aggregates", "--term", term.code, "--format", "xlsx", "--output", str(path)
    )
    assert result.exit_code == 0, result.output
    from_csv = list(
        csv.DictReader(
            io.StringIO(cli("export", "aggregates", "--term", term.code, "--format", "csv").output)
        )
    )
    sheet = load_workbook(path).active
    values = list(sheet.iter_rows(values_only=True))
    assert tuple(values[0]) == export.CSV_FIELDS
    assert len(values) - 1 == len(from_csv)
    numeric = ("n", "mean", "sd", "median", "min", "max", "parent_diff", "prev_change")
    for cells, expected in zip(values[1:], from_csv, strict=True):
        row = dict(zip(values[0], cells, strict=True))
        assert row["unit_code"] == expected["unit_code"] and row["kind"] == expected["kind"]
        for name in numeric:
            if expected[name] == "":
                assert row[name] is None, name
            else:
                assert isinstance(row[name], int | float), name
                assert float(expected[name]) == pytest.approx(row[name], abs=0.006), name
    assert cli("export", "aggregates", "--term", term.code, "--format", "xlsx").exit_code == 2
