"""Delivery through a real SMTP server on 127.0.0.1: one email per report version and person,
a failed send retried, none sent twice."""

from __future__ import annotations

import email
import email.header
from pathlib import Path

from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from evalsys.feedback.models import Feedback
from evalsys.reports import delivery
from evalsys.reports.jobs import deliver_reports
from evalsys.reports.models import ReportDelivery
from evalsys.reports.render import render_unit

TERM = "2026-2027-1"


def _deliveries(session) -> list[ReportDelivery]:
    session.rollback()
    return list(session.exec(select(ReportDelivery).order_by(ReportDelivery.id)).all())


def test_deliver_once_retry_failures_never_twice(aggregated, session, app, factory, smtp):
    factory.user("dean_cs", "dean@CS", name="计算机院长")
    factory.user("head_se", "head@CS-SE", name="软件系主任")
    factory.user("leader_u", "leader@U", name="校领导")
    factory.user("teacher_x", "teacher@CS-SE")  # gets nothing
    for code in ("U", "CS", "CS-SE", "MATH"):
        render_unit(session, app, term_code=TERM, unit_code=code)
    assert delivery.queue_deliveries(session, term_code=TERM) == 3
    session.commit()
    smtp.refuse = {"head_se@example.edu"}  # the department head's server is busy

    counts = delivery.send_pending(session, app)
    assert counts == {"sent": 2, "failed": 1, "skipped": 0}
    got = {m["To"]: m for m in smtp.messages}
    assert set(got) == {"dean_cs@example.edu", "leader_u@example.edu"}
    pdfs = [
        p for p in got["dean_cs@example.edu"].walk() if p.get_content_type() == "application/pdf"
    ]
    assert len(pdfs) == 1 and pdfs[0].get_payload(decode=True).startswith(b"%PDF")
    assert pdfs[0].get_filename() == f"CS-{TERM}-en.pdf"
    failed = [d for d in _deliveries(session) if d.status == "failed"]
    assert [(d.email, d.attempts) for d in failed] == [("head_se@example.edu", 1)]
    assert "451" in failed[0].last_error

    # The job, later: the failed one is retried and sent; nothing else goes out again.
    smtp.refuse = set()
    assert deliver_reports(session, app) == "1 sent, 0 failed"
    assert sorted(m["To"] for m in smtp.messages) == [
        "dean_cs@example.edu",
        "head_se@example.edu",
        "leader_u@example.edu",
    ]
    assert deliver_reports(session, app) == "0 sent, 0 failed"
    # Queueing again (the same report versions) and re-rendering unchanged: nothing new.
    for code in ("U", "CS", "CS-SE"):
        render_unit(session, app, term_code=TERM, unit_code=code, force=True)
    assert delivery.queue_deliveries(session, term_code=TERM) == 0
    session.commit()
    assert delivery.send_pending(session, app)["sent"] == 0
    assert len(smtp.messages) == 3
    assert {d.status for d in _deliveries(session)} == {"sent"}

    # A new version of the department's report (a changed comment) is sent again, once.
    record = session.exec(
        select(Feedback).where(
            Feedback.department_id == aggregated.units["CS-SE"].id,
            Feedback.term_id == aggregated.terms["T2"].id,
            Feedback.status == "submitted",
        )
    ).first()
    record.problems = "新问题"
    session.add(record)
    session.commit()
    assert render_unit(session, app, term_code=TERM, unit_code="CS-SE").status == "rendered"
    assert delivery.queue_deliveries(session, term_code=TERM) == 1
    session.commit()
    assert delivery.send_pending(session, app)["sent"] == 1
    assert [m["To"] for m in smtp.messages[3:]] == ["head_se@example.edu"]
    # Every report that left by mail is in the audit log, once, with its addressee.
    sent = session.exec(select(AuditEvent).where(AuditEvent.action == "report.email")).all()
    assert sorted(e.detail.rsplit("<", 1)[1].rstrip(">") for e in sent) == sorted(
        m["To"] for m in smtp.messages
    )


def test_gives_up_after_the_configured_attempts(aggregated, session, app, factory, smtp):
    factory.user("dean_cs", "dean@CS")
    render_unit(session, app, term_code=TERM, unit_code="CS")
    delivery.queue_deliveries(session, term_code=TERM)
    session.commit()
    app.config["REPORT_DELIVERY_MAX_ATTEMPTS"] = 2
    smtp.refuse = {"dean_cs@example.edu"}
    delivery.send_pending(session, app)
    delivery.send_pending(session, app)
    assert delivery.send_pending(session, app) == {"sent": 0, "failed": 0, "skipped": 0}
    [row] = _deliveries(session)
    assert row.status == "gave_up" and row.attempts == 2 and smtp.messages == []


def test_no_mail_server_no_mail(aggregated, session, app):
    app.config["MAIL_SERVER"] = None
    assert deliver_reports(session, app).startswith("MAIL_SERVER is not set")


def test_the_final_aggregation_renders_the_tree_and_emails_it(
    bare_uni, session, app, factory, smtp, site_clock
):
    """The scheduler's final run of an ended term hands over: every unit's report is rendered
    from the final results (in worker processes), each person in charge gets theirs by email,
    and the ``deliver-reports`` job later sends nothing again but does catch up on a head
    appointed since."""
    from datetime import date

    from evalsys.aggregation.models import AggregationRun
    from evalsys.org.models import OrgUnit
    from evalsys.reports.models import Report
    from evalsys.scheduler import jobs as scheduler_jobs

    factory.user("dean_cs", "dean@CS", name="计算机院长")
    factory.user("leader_u", "leader@U", name="校领导")
    t1 = bare_uni.terms["T1"]  # ended 2026-07-05; T2 is still open on the day below
    scheduler_jobs.load_job_modules(app)
    site_clock.on(date(2026, 10, 15))
    run = scheduler_jobs.run_job(app, "aggregate-ended-terms", owner="t", trigger="manual")
    assert run.status == "succeeded", run.detail
    assert f"reports {t1.code}: 9 rendered, 0 unchanged, 0 failed; 2 deliveries queued" in (
        run.detail
    )
    assert run.detail.endswith("2 emailed, 0 failed (retried later)")
    session.rollback()
    [final] = session.exec(select(AggregationRun)).all()
    assert final.final and final.term_id == t1.id
    reports = session.exec(
        select(OrgUnit.code, Report).join(Report, Report.unit_id == OrgUnit.id)
    ).all()
    assert sorted(code for code, _ in reports) == sorted(
        ["U", "ART", "CS", "MATH", "ART-DES", "CS-AI", "CS-SE", "MATH-APP", "MATH-PURE"]
    )
    for _, report in reports:
        assert report.term_id == t1.id and report.generated_at >= final.finished_at
        assert Path(report.path).read_bytes().startswith(b"%PDF-")
    got = {m["To"]: m for m in smtp.messages}
    assert set(got) == {"dean_cs@example.edu", "leader_u@example.edu"}
    [pdf] = [p for p in got["dean_cs@example.edu"].walk() if p.get_content_type().endswith("pdf")]
    assert pdf.get_filename() == f"CS-{t1.code}-en.pdf"
    cs_report = next(r for code, r in reports if code == "CS")
    assert pdf.get_payload(decode=True) == Path(cs_report.path).read_bytes()
    subject = email.header.make_header(
        email.header.decode_header(got["leader_u@example.edu"]["Subject"])
    )
    assert str(subject).startswith(f"示范大学 · {t1.name}")

    # Later runs of the delivery job: nothing twice; a head appointed since gets the report.
    assert deliver_reports(session, app) == "0 sent, 0 failed"
    factory.user("head_se", "head@CS-SE", name="软件系主任")
    assert deliver_reports(session, app) == "1 sent, 0 failed (1 newly queued)"
    assert deliver_reports(session, app) == "0 sent, 0 failed"
    assert sorted(m["To"] for m in smtp.messages) == [
        "dean_cs@example.edu",
        "head_se@example.edu",
        "leader_u@example.edu",
    ]
