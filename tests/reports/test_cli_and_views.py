"""``evalsys report`` (workers, skip-unchanged, time limit), atomic files, the download route."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from evalsys.feedback.models import Feedback
from evalsys.i18n import fmt_datetime, in_locale
from evalsys.reports import render, store
from evalsys.reports.models import Report
from evalsys.reports.render import render_unit, tree_units

TERM = "2026-2027-1"
TREE = ["U", "ART", "CS", "MATH", "ART-DES", "CS-AI", "CS-SE", "MATH-APP", "MATH-PURE"]


def _records(session) -> list[Report]:
    session.rollback()
    return list(session.exec(select(Report).order_by(Report.id)).all())


def test_tree_units_top_down(aggregated, session):
    assert tree_units(session) == TREE
    assert tree_units(session, "CS") == ["CS"]


def test_cli_renders_the_tree_in_workers_then_skips_it(bare_aggregated, cli, session, tmp_path):
    out = tmp_path / "out"
    result = cli("report", "--term", TERM, "--out", str(out), "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "9 rendered, 0 unchanged, 0 failed" in result.output
    assert "[9/9]" in result.output
    files = sorted(p.name for p in (out / TERM).iterdir() if p.name != store.LOCK_NAME)
    assert files == sorted(f"{code}.en.pdf" for code in TREE)  # no temporary file left
    records = _records(session)
    assert len(records) == 9
    for record in records:
        path = Path(record.path)
        assert path.read_bytes().startswith(b"%PDF") and record.pages >= 2
        assert record.size == path.stat().st_size and len(record.input_hash) == 64

    again = cli("report", "--term", TERM, "--out", str(out), "--jobs", "2")
    assert again.exit_code == 0, again.output
    assert "0 rendered, 9 unchanged" in again.output
    assert len(_records(session)) == 9


def test_a_changed_record_re_renders_only_the_units_it_shows_in(aggregated, session, app, tmp_path):
    tree = ["U", "CS", "MATH", "CS-SE", "MATH-PURE"]
    for code in tree:
        render_unit(session, app, term_code=TERM, unit_code=code, out_dir=tmp_path)
    assert {
        render_unit(session, app, term_code=TERM, unit_code=code, out_dir=tmp_path).status
        for code in tree
    } == {"unchanged"}
    record = session.exec(
        select(Feedback).where(
            Feedback.department_id == aggregated.units["MATH-PURE"].id,
            Feedback.term_id == aggregated.terms["T2"].id,
            Feedback.status == "submitted",
        )
    ).first()
    record.suggestions = "多做练习"
    session.add(record)
    session.commit()
    statuses = {
        code: render_unit(session, app, term_code=TERM, unit_code=code, out_dir=tmp_path).status
        for code in tree
    }
    rendered = sorted(code for code, status in statuses.items() if status == "rendered")
    # The comment is printed in MATH-PURE's course part, MATH's department part and the
    # school's college part: those three change, no other.
    assert rendered == ["MATH", "MATH-PURE", "U"]
    # A missing or altered file is rendered again even with unchanged inputs.
    (tmp_path / TERM / "CS.en.pdf").unlink()
    assert render_unit(session, app, term_code=TERM, unit_code="CS", out_dir=tmp_path).status == (
        "rendered"
    )
    forced = render_unit(session, app, term_code=TERM, unit_code="CS", out_dir=tmp_path, force=True)
    assert forced.status == "rendered"


def test_a_failed_rendering_leaves_the_previous_file_and_no_record(
    aggregated, session, app, tmp_path, monkeypatch
):
    first = render_unit(session, app, term_code=TERM, unit_code="ART", out_dir=tmp_path)
    before = Path(first.path).read_bytes()

    def broken(html, **kw):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(render, "render_pdf", broken)
    with pytest.raises(RuntimeError):
        render_unit(session, app, term_code=TERM, unit_code="ART", out_dir=tmp_path, force=True)
    assert Path(first.path).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / TERM).iterdir()) == [store.LOCK_NAME, "ART.en.pdf"]
    assert len(_records(session)) == 1


def test_cli_reports_a_timeout_per_unit_and_fails(aggregated, cli, app, session, tmp_path):
    # One job, yet a worker: the limit is kept by killing it, from this process.
    app.config["REPORT_TIMEOUT_SECONDS"] = 0.01
    result = cli("report", "--term", TERM, "--unit", "CS", "--out", str(tmp_path), "--jobs", "1")
    assert result.exit_code == 1
    assert "FAILED" in result.output and "(the time limit); its worker process was killed" in (
        result.output
    )
    assert not (tmp_path / TERM / "CS.en.pdf").exists()
    assert not _records(session)


def test_cli_errors(uni, cli, tmp_path):
    result = cli("report", "--term", TERM, "--out", str(tmp_path))
    assert result.exit_code == 1 and "has not been aggregated" in result.output
    result = cli("report", "--term", "NOPE")
    assert result.exit_code == 1 and "no term 'NOPE'" in result.output


# --- the web side ------------------------------------------------------------------------


@pytest.fixture
def rendered_cs(aggregated, session, app, factory):
    factory.user("dean_cs", "dean@CS")
    factory.user("teacher_only", "teacher@CS-SE")
    render_unit(session, app, term_code=TERM, unit_code="CS", out_dir=None)
    render_unit(session, app, term_code=TERM, unit_code="MATH", out_dir=None)
    return aggregated


def test_dean_downloads_own_college_only_and_it_is_audited(rendered_cs, client, auth, session):
    auth.login("dean_cs")
    response = client.get(f"/reports/{TERM}/CS.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    response.close()
    assert client.get(f"/reports/{TERM}/MATH.pdf").status_code == 403
    assert client.get(f"/reports/{TERM}/U.pdf").status_code == 403
    missing = client.get(f"/reports/{TERM}/CS-SE.pdf")  # in scope, never rendered
    assert missing.status_code == 404
    # What will happen and when, and where to read the figures meanwhile; no command.
    text = missing.get_data(as_text=True)
    assert "comes out by itself on" in text and "<code>" not in text
    assert f"/reports/{TERM}/CS-SE.html" in text and "Render this report now" not in text
    assert client.get("/reports/NOPE/CS.pdf").status_code == 404
    session.rollback()
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "report.download")).all()
    assert [(e.target, e.user_id is not None) for e in events] == [(f"{TERM} CS", True)]


def test_a_file_that_is_not_its_rows_is_never_served_but_rendered_again(
    rendered_cs, client, auth, session
):
    [before] = [r for r in _records(session) if r.path.endswith("/CS.en.pdf")]
    Path(before.path).write_bytes(b"%PDF-1.7 changed by hand %%EOF")
    auth.login("dean_cs")
    response = client.get(f"/reports/{TERM}/CS.pdf")
    assert response.status_code == 200 and b"changed by hand" not in response.data
    [after] = [r for r in _records(session) if r.path.endswith("/CS.en.pdf")][-1:]
    assert after.id != before.id  # rendered again, recorded
    assert hashlib.sha256(response.data).hexdigest() == after.sha256
    assert Path(after.path).read_bytes() == response.data
    response.close()
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "report.download")).one()
    assert f"report {after.id} (en), sha256 {after.sha256[:16]}" in event.detail


def test_report_list_shows_only_what_the_user_may_read(rendered_cs, client, auth):
    auth.login("dean_cs")
    page = client.get("/reports/")
    assert page.status_code == 200
    assert f"/reports/{TERM}/CS.pdf".encode() in page.data
    assert b"MATH.pdf" not in page.data
    auth.logout()
    auth.login("teacher_only")
    assert b"CS.pdf" not in client.get("/reports/").data
    assert client.get(f"/reports/{TERM}/CS.pdf").status_code == 403


def test_reports_need_a_login(rendered_cs, client):
    response = client.get(f"/reports/{TERM}/CS.pdf")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unit_pages_offer_the_pdf_and_the_feedback_to_those_in_scope(
    rendered_cs, client, auth, session, app
):
    auth.login("dean_cs")
    page = client.get("/units/CS").get_data(as_text=True)
    assert f'href="/reports/{TERM}/CS.pdf"' in page
    [record] = [r for r in _records(session) if r.path.endswith("/CS.en.pdf")]
    with app.test_request_context(), in_locale("en"):
        when = fmt_datetime(record.generated_at, "short")
    assert f"({record.pages} pages · rendered {when}" in page
    assert " · term last aggregated " in page and "predates" not in page
    assert 'href="/feedback/?unit=CS"' in page
    # A department in scope but not rendered: said so, with how to render it; no link.
    dept = client.get("/units/CS-SE").get_data(as_text=True)
    assert "CS-SE.pdf" not in dept and f"No PDF report of {TERM} yet" in dept
    assert 'href="/feedback/?unit=CS-SE"' in dept
    # Aggregated again since: the page says the PDF predates the latest aggregation.
    from evalsys.aggregation import service

    service.aggregate_term(session, term=TERM)
    assert "the PDF predates that aggregation" in client.get("/units/CS").get_data(as_text=True)
    # Another college: no page at all. A teacher: the page, but neither PDF nor feedback list.
    assert client.get("/units/MATH").status_code == 403
    auth.logout()
    auth.login("teacher_only")
    response = client.get("/units/CS-SE")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "CS-SE" in page
    assert ".pdf" not in page and "/feedback/?unit=" not in page and "No PDF report" not in page


def test_nothing_changed_no_worker_is_started(aggregated, session, app, tmp_path, monkeypatch):
    for code in ("CS", "MATH"):
        render_unit(session, app, term_code=TERM, unit_code=code, out_dir=tmp_path)

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started although nothing changed")

    monkeypatch.setattr(render.workers, "run_tasks", no_pool)
    seen: list[tuple[str, int, int]] = []
    outcomes = render.render_units(
        app,
        term_code=TERM,
        unit_codes=["CS", "MATH"],
        jobs=2,
        out_dir=tmp_path,
        progress=lambda o, done, total: seen.append((o.unit, done, total)),
    )
    assert [(o.unit, o.status) for o in outcomes] == [("CS", "unchanged"), ("MATH", "unchanged")]
    assert seen == [("CS", 1, 2), ("MATH", 2, 2)]
    # One changed unit: only that one goes to a worker (here: refused, so it shows).
    (tmp_path / TERM / "MATH.en.pdf").unlink()
    with pytest.raises(AssertionError, match="worker pool was started"):
        render.render_units(
            app, term_code=TERM, unit_codes=["CS", "MATH"], jobs=2, out_dir=tmp_path
        )
