"""A supervisor on a phone, from the assignment to the record, in Chinese and in English: the
week's assignment on the home page, "log the visit", a form that starts from the assignment
(section, the assigned day, periods, the room the timetable names, announced as drawn), a
running total while scoring, and the stored record fulfilling the assignment.

``EVALSYS_SCREENSHOTS=docs/screenshots`` also saves the supervisor's home page and the
filled form at 390 px, in Chinese, as ``home-phone.png`` and ``form-phone.png``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlmodel import select

from evalsys.clock import local_today
from evalsys.feedback import rubrics
from evalsys.feedback.models import Feedback
from evalsys.planner import service, weeks
from evalsys.planner.draw import draw_week
from evalsys.planner.models import Assignment, AssignmentStatus
from tests.browser.conftest import PHONE, log_in, this_term_dates
from tests.factories import Factory

pytestmark = pytest.mark.once(
    "what Chromium adds (the taps, the filled form, the running total) does not depend on the"
    " database; the link's defaults and the assignment's fulfilment run on both in"
    " tests/planner/test_log_visit.py and tests/planner/test_calendar.py"
)

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@pytest.fixture
def assigned(factory: Factory, session):
    units = factory.university()
    start, end = this_term_dates()
    term = factory.term(code="T-NOW", start=start, end=end)
    teacher = factory.user("teacher", "teacher@CS-SE")
    course = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    course.title_en = "Introduction to Software Engineering"
    section = factory.section("SE101-01", course, term, teacher=teacher, enrolled=40)
    today = local_today()
    section.meetings = f"{DAYS[today.weekday()]} 3-4 @ 教三-201"
    session.add_all([course, section])
    factory.user("sup", "supervisor@CS")
    rubrics.ensure_default_rubrics(session)
    service.save_settings(session, term=term, values={"visits_per_week": 1})
    session.commit()
    draw_week(session, term=term, week=weeks.week_of(term, today), seed=3)
    session.commit()
    visit = session.exec(select(Assignment)).one()
    # The visit is today's, announced (the draw chose the day and the announcement).
    visit.visit_date, visit.first_period, visit.last_period = today, 3, 4
    visit.announced = True
    session.add(visit)
    session.commit()
    items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    return {"visit": visit, "items": items, "today": today}


@pytest.mark.parametrize(
    "locale, course, periods",
    [
        ("zh-CN", "软件工程导论", "3-4节"),
        ("en", "Introduction to Software Engineering", "periods 3-4"),
    ],
)
def test_from_the_assignment_to_the_record_on_a_phone(
    live_server, assigned, browser, session, locale, course, periods
):
    context = browser.new_context(locale=locale, **PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, live_server, "sup", Factory.PASSWORD)
        main = page.locator("main")
        assert course in main.inner_text() and "教三-201" in main.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shots = os.environ.get("EVALSYS_SCREENSHOTS") if locale == "zh-CN" else None
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / "home-phone.png"), full_page=True)
        main.locator("a[href*='/feedback/new/spot_check?section=SE101-01']").first.tap()
        page.wait_for_url(lambda url: "/feedback/new/spot_check" in url)
        # The form starts from the assignment.
        assert page.input_value("#section") == "SE101-01"
        assert page.input_value("#date") == assigned["today"].isoformat()
        assert page.input_value("#class_period") == periods
        assert page.input_value("#location") == "教三-201"
        assert page.locator("input[name=announced][value=true]").is_checked()
        assert page.input_value("#enrolled") == "40"
        page.fill("#present", "38")
        page.fill("#late", "1")
        items = assigned["items"]
        for item in items:
            page.tap(f"label[for='scores-{item.code}-{item.scale_max}']")
        # The running total counts every item scored, at the top of the scale.
        total = page.locator("#running-total-text")
        total.wait_for()
        text = total.inner_text()
        assert f"{len(items)}" in text and "100" in text, text
        page.fill("#strengths", "板书清晰")
        if shots:
            page.screenshot(path=str(Path(shots) / "form-phone.png"), full_page=True)
        page.click("button[name=send]")
        page.wait_for_url(lambda url: "/feedback/new" not in url)
        assert "教三-201" in page.locator("main").inner_text()
    finally:
        context.close()
    session.rollback()
    record = session.exec(select(Feedback)).one()
    assert record.status == "submitted" and record.announced is True
    assert record.location == "教三-201" and record.visit_date == assigned["today"]
    visit = session.get(Assignment, assigned["visit"].id)
    assert visit.status == AssignmentStatus.DONE and visit.feedback_id == record.id
