"""Two journeys of #16 in Chromium, each as its user makes it: an administrator renders a
college's report from the college page and its dean, on a phone, reads the PDF; a teacher on
a phone, in Chinese and in English, goes from the home page to a record on their class and
finds their figures with their n. Nobody but the administrator is shown a button to render,
and nobody a command to type."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta

import pytest

from evalsys.aggregation.service import aggregate_term
from evalsys.clock import local_today
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.writes import submit_feedback
from tests.browser.conftest import PHONE, log_in, this_term_dates
from tests.factories import Factory

pytestmark = pytest.mark.once(
    "what Chromium adds (links followed, buttons pressed, a PDF fetched with the session)"
    " does not depend on the database; rendering from the web and the teacher's figures run"
    " on both in tests/reports/test_publishing.py and tests/dashboards"
)

NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def college(app, factory: Factory, session, tmp_path):
    app.config["REPORT_DIR"] = str(tmp_path / "reports")
    units = factory.university()
    start, end = this_term_dates()
    term = factory.term(code="T-NOW", start=start, end=end)
    course = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    course.title_en = "Introduction to Software Engineering"
    session.add(course)
    teacher = factory.user("teacher", "teacher@CS-SE")
    section = factory.section("SE101-01", course, term, teacher=teacher, enrolled=40)
    supervisor = factory.user("sup", "supervisor@CS")
    factory.user("dean", "dean@CS")
    factory.user("admin", "admin@U")
    rubrics.ensure_default_rubrics(session)
    session.commit()
    items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    for offset in range(3):
        data = FeedbackInput(
            kind="spot_check",
            section=section.code,
            date=local_today() - timedelta(days=offset + 1),
            class_period="1-2",
            announced=False,
            enrolled=40,
            present=38,
            strengths=f"讲解清楚 {offset}",
            scores={i.code: i.scale_max - offset for i in items},
        )
        submit_feedback(session, user=supervisor, data=data)
    session.commit()
    aggregate_term(session, term=term)
    return units


def _pdf_link(page):
    return page.locator("main a[href$='/CS.pdf']")


def test_an_admin_renders_a_report_from_the_web_and_deans_read_it_in_both_languages(
    live_server, college, desktop, browser, tmp_path
):
    """One rendering, read by the dean on a phone in Chinese and in English (the English
    PDF is made on demand, in the reader's language)."""
    contexts = [browser.new_context(locale=loc, **PHONE) for loc in ("zh-CN", "en")]
    try:
        deans = []
        for context in contexts:
            context.set_default_timeout(15_000)
            dean = context.new_page()
            log_in(dean, live_server, "dean", Factory.PASSWORD)
            dean.goto(f"{live_server}/units/CS")
            main = dean.locator("main").inner_text()
            assert _pdf_link(dean).count() == 0
            # The dean is told when it comes, offered no button and no command.
            assert dean.locator("form[action$='/render']").count() == 0
            assert "evalsys " not in main
            assert dean.evaluate(NO_SIDEWAYS)
            deans.append(dean)

        admin = desktop
        log_in(admin, live_server, "admin", Factory.PASSWORD)
        admin.goto(f"{live_server}/units/CS")
        admin.locator("form[action$='/render'] button[type=submit]").click()
        admin.wait_for_load_state()
        assert admin.locator(".flash-success").count() == 1
        deadline = time.monotonic() + 120
        while _pdf_link(admin).count() == 0:
            assert time.monotonic() < deadline, "the report never came out"
            time.sleep(1)
            admin.reload()

        for dean, lang in zip(deans, ("zh", "en"), strict=True):
            dean.reload()
            link = _pdf_link(dean)
            assert link.count() == 1
            # What the browser would fetch: Playwright's requests carry the session's
            # cookies but not the browser's Accept-Language, so it is given as the page's.
            wanted = dean.evaluate("navigator.language")
            response = dean.request.get(
                live_server + link.get_attribute("href"), headers={"Accept-Language": wanted}
            )
            assert response.status == 200
            assert response.headers["content-type"] == "application/pdf"
            pdf = tmp_path / f"CS.{lang}.pdf"
            pdf.write_bytes(response.body())
            text = subprocess.run(
                ["pdftotext", str(pdf), "-"], capture_output=True, text=True
            ).stdout
            # The college's report names each department by its report's file, in the
            # reader's language (the courses are in the department's own report).
            assert college["CS"].name in text and f"CS-SE.{lang}.pdf" in text, text[:600]
            # Each in the reader's language: the English one says so in its own words.
            assert ("Contents" in text or "Summary" in text) == (lang == "en"), text[:300]
    finally:
        for context in contexts:
            context.close()


@pytest.mark.parametrize(
    "locale, words",
    [
        ("zh-CN", {"home": "我的课堂", "course": "软件工程导论", "mine": "我的"}),
        (
            "en",
            {"home": "My classes", "course": "Introduction to Software Engineering", "mine": "My"},
        ),
    ],
)
def test_a_teacher_on_a_phone_reads_feedback_on_their_class(
    live_server, college, browser, locale, words
):
    context = browser.new_context(locale=locale, **PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, live_server, "teacher", Factory.PASSWORD)
        assert words["home"] in page.locator("main").inner_text()
        assert page.evaluate(NO_SIDEWAYS)
        records = page.locator("#dash-teacher a.row-link")
        assert records.count() == 3
        assert words["course"] in records.first.inner_text()
        records.first.click()
        page.wait_for_url(lambda url: "/feedback/" in url)
        body = page.locator("main").inner_text()
        assert "讲解清楚" in body and "SE101-01" in body
        assert page.evaluate(NO_SIDEWAYS)
        # The comparison with the department: the teacher's n beside the mean.
        page.go_back()
        table = page.locator("#dash-teacher table.my-vs-dept")
        assert table.count() == 1
        n_cell = table.locator("tbody tr").first.locator("td").nth(3)
        assert n_cell.inner_text().strip() == "3"
        assert words["mine"] in table.locator("thead").inner_text()
        assert page.evaluate(NO_SIDEWAYS)
    finally:
        context.close()
