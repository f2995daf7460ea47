"""A dean in Chromium: opens the college page, drills down to a department, and downloads
the college's PDF report from its page — the real file, with the college in it."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta

import pytest

from evalsys.aggregation.service import aggregate_term
from evalsys.clock import local_today
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.writes import submit_feedback
from evalsys.reports.render import render_unit
from tests.browser.conftest import log_in, this_term_dates
from tests.factories import Factory


@pytest.mark.once(
    "what Chromium adds (the links followed, the download) does not depend on the "
    "database; the scoped pages and the PDF download run on both in "
    "tests/reports/test_cli_and_views.py"
)
def test_dean_drills_down_and_downloads_the_pdf(
    app, live_server, desktop, factory, session, tmp_path
):
    units = factory.university()
    start, end = this_term_dates()
    term = factory.term(code="T-NOW", start=start, end=end)
    course = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    teacher = factory.user("teacher", "teacher@CS-SE")
    section = factory.section("SE101-01", course, term, teacher=teacher, enrolled=40)
    supervisor = factory.user("sup", "supervisor@CS")
    factory.user("dean", "dean@CS")
    rubrics.ensure_default_rubrics(session)
    session.commit()
    items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    for offset in range(3):
        data = FeedbackInput(
            kind="spot_check",
            section=section.code,
            date=local_today() - timedelta(days=offset + 1),
            announced=False,
            enrolled=40,
            present=38,
            scores={i.code: i.scale_max - offset for i in items},
        )
        submit_feedback(session, user=supervisor, data=data)
    session.commit()
    aggregate_term(session, term=term)
    outcome = render_unit(session, app, term_code=term.code, unit_code="CS")
    session.commit()
    assert outcome.status == "rendered", outcome

    page = desktop
    log_in(page, live_server, "dean", Factory.PASSWORD)
    page.goto(f"{live_server}/units/CS")
    assert page.locator("h1").inner_text() == units["CS"].name
    # Drill down: the department link on the college page.
    page.locator("main a[href^='/units/CS-SE']").first.click()
    page.wait_for_url(lambda url: "/units/CS-SE" in url)
    assert "SE101" in page.locator("main").inner_text()
    # Back up through the breadcrumb, then the PDF.
    page.locator("nav.trail a[href^='/units/CS']").last.click()
    page.wait_for_url(lambda url: url.rstrip("/").split("?")[0].endswith("/units/CS"))
    link = page.locator("main a[href$='/CS.pdf']")
    assert link.count() == 1
    # The browser shows the PDF inline; fetch what the link serves, with the dean's session.
    response = page.request.get(live_server + link.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    body = response.body()
    assert body.startswith(b"%PDF-")
    pdf = tmp_path / "CS.pdf"
    pdf.write_bytes(body)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    # A college's report names its departments (one row each, linking their reports); the
    # courses are in the department's report.
    assert units["CS"].name in text and re.search(r"CS-SE\.(zh|en)\.pdf", text), text
