"""A report not out yet: when it comes out, what a reader sees meanwhile, and an
administrator rendering it (a unit's, or a term's) from the web in a process of its own."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from evalsys.org.models import OrgUnit, Term
from evalsys.reports.models import Report
from evalsys.reports.publishing import progress, publication_time

TERM = "2026-2027-1"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # The final aggregation runs at 03:00 site time, the first night after the last day.
        ("Asia/Shanghai", datetime(2027, 1, 21, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))),
        ("UTC", datetime(2027, 1, 21, 3, 0, tzinfo=ZoneInfo("UTC"))),
    ],
)
def test_reports_come_out_the_night_after_the_term(zone, expected):
    term = Term(code="T", name="T", start_date=date(2026, 9, 1), end_date=date(2027, 1, 20))
    got = publication_time({"SCHEDULER_TIMEZONE": zone}, term)
    assert got == expected and got.utcoffset() == expected.utcoffset()


@pytest.fixture
def people(bare_aggregated, factory):
    factory.user("dean_cs", "dean@CS")
    factory.user("admin_cs", "admin@CS")
    factory.user("root", "admin@U")
    return bare_aggregated


def _wait_for(session, what, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session.rollback()  # a fresh snapshot each look
        found = what()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("the rendering process never finished")


def test_a_dean_is_told_when_and_an_admin_may_render_it_now(app, client, auth, session, people):
    auth.login("dean_cs")
    page = client.get(f"/reports/{TERM}/CS-SE.pdf")
    text = page.get_data(as_text=True)
    assert page.status_code == 404 and "comes out by itself on" in text
    assert "<code>" not in text and "Render this report now" not in text
    assert client.post(f"/reports/{TERM}/CS-SE/render").status_code == 403
    auth.logout()

    auth.login("admin_cs")
    text = client.get(f"/reports/{TERM}/CS-SE.pdf").get_data(as_text=True)
    assert "Render this report now" in text
    assert "Render this report now" in client.get("/units/CS-SE").get_data(as_text=True)
    # Outside the admin's college: no such button, and the POST is refused.
    assert client.post(f"/reports/{TERM}/MATH/render").status_code == 403
    started = client.post(f"/reports/{TERM}/CS-SE/render")
    assert started.status_code == 302 and started.headers["Location"] == "/units/CS-SE"
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == "CS-SE")).one()
    reports = _wait_for(
        session, lambda: session.exec(select(Report).where(Report.unit_id == unit.id)).all()
    )
    assert {r.unit_id for r in reports} == {unit.id}  # that unit only, in its own process
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "report.render_requested")
    ).one()
    assert event.target == f"{TERM} CS-SE"
    # Now it is out: the dean downloads it.
    auth.logout()
    auth.login("dean_cs")
    pdf = client.get(f"/reports/{TERM}/CS-SE.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    pdf.close()


def test_the_schedule_page_shows_how_far_a_terms_reports_have_got(
    app, client, auth, session, people
):
    from evalsys.reports.render import render_unit

    render_unit(session, app, term_code=TERM, unit_code="CS", out_dir=None)
    term = session.exec(select(Term).where(Term.code == TERM)).one()
    units = len(session.exec(select(OrgUnit)).all())
    assert progress(session, term).rendered == 1 and progress(session, term).units == units
    auth.login("root")
    page = client.get("/admin/schedule/").get_data(as_text=True)
    row = page.split(f'data-term="{TERM}"', 1)[1].split("</tr>", 1)[0]
    assert f"1 of {units}" in row
    # The rest of the tree, in a process of its own; the page counts them as they come.
    started = client.post("/admin/schedule/reports", data={"reports-term": TERM})
    assert started.status_code == 302 and started.headers["Location"].endswith("#reports")
    _wait_for(session, lambda: progress(session, term).rendered == units)
    page = client.get("/admin/schedule/").get_data(as_text=True)
    row = page.split(f'data-term="{TERM}"', 1)[1].split("</tr>", 1)[0]
    assert f"{units} of {units}" in row
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "report.render_requested")
    ).one()
    assert event.target == TERM


def test_render_requests_are_for_admins_only(client, auth, people):
    auth.login("dean_cs")
    assert client.post("/admin/schedule/reports", data={"reports-term": TERM}).status_code == 403
