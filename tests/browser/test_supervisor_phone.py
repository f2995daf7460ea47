"""A supervisor on a phone: logs in, fills a spot check, is told what is wrong without
losing what was typed, corrects it, submits, and finds the record."""

from __future__ import annotations

import pytest
from flask_babel import gettext
from sqlmodel import select

from evalsys.clock import local_today
from evalsys.feedback import rubrics
from evalsys.feedback.models import Feedback, FeedbackScore
from evalsys.i18n import in_locale, normalise
from tests.browser.conftest import log_in, this_term_dates
from tests.factories import Factory


def arrange(factory: Factory, session) -> dict:
    units = factory.university()
    start, end = this_term_dates()
    term = factory.term(code="T-NOW", start=start, end=end)
    teacher = factory.user("teacher", "teacher@CS-SE")
    course = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    section = factory.section("SE101-01", course, term, teacher=teacher, enrolled=40)
    factory.user("sup", "supervisor@CS")
    rubrics.ensure_default_rubrics(session)
    session.commit()
    items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    return {"section": section, "items": items}


@pytest.mark.once(
    "what Chromium adds (taps, focus, the form kept through an error on a phone) does not "
    "depend on the database; the refused and the saved spot check run on both in "
    "tests/feedback/test_views.py"
)
def test_spot_check_on_a_phone_keeps_every_entry_through_an_error(
    app, live_server, phone, factory, session
):
    world = arrange(factory, session)
    page = phone
    log_in(page, live_server, "sup", Factory.PASSWORD)
    page.goto(f"{live_server}/feedback/new/spot_check")

    # Nothing on the form is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.fill("#section", "SE101-01")
    page.fill("#date", local_today().isoformat())
    page.fill("#class_period", "3-4节")
    page.fill("#location", "教三 201")
    page.check("#announced-0")
    page.fill("#enrolled", "40")
    page.fill("#present", "45")  # more present than enrolled: refused
    page.fill("#late", "2")
    for number, item in enumerate(world["items"]):
        # The radio buttons are drawn as big tappable labels: tap the label, as a thumb would.
        score = item.scale_max - (number % 3)
        page.tap(f"label[for='scores-{item.code}-{score}']")
    page.fill("#strengths", "板书清晰 <b>clear</b> boards")
    page.fill("#problems", "后排学生听不清")
    page.fill("#suggestions", "使用扩音器")
    page.click("button[name=send]")

    # Told what is wrong, where, and focused on the summary; nothing typed is lost.
    summary = page.locator("#error-summary")
    summary.wait_for()
    # in the page's language (the browser asks for Chinese), as the catalogue words it
    with app.test_request_context(), in_locale(normalise(page.get_attribute("html", "lang"))):
        expected = gettext(
            "%(present)s present is more than the %(enrolled)s enrolled", present=45, enrolled=40
        )
    assert expected in summary.inner_text()
    assert page.locator("#present").get_attribute("aria-invalid") == "true"
    assert page.input_value("#section") == "SE101-01"
    assert page.input_value("#class_period") == "3-4节"
    assert page.input_value("#location") == "教三 201"
    assert page.input_value("#strengths") == "板书清晰 <b>clear</b> boards"
    assert page.input_value("#problems") == "后排学生听不清"
    assert page.is_checked("#announced-0")
    for number, item in enumerate(world["items"]):
        score = item.scale_max - (number % 3)
        assert page.is_checked(f"#scores-{item.code}-{score}"), item.code
    assert session.exec(select(Feedback)).all() == []

    # The link in the summary leads to the field.
    summary.locator("a[href='#present']").click()
    assert page.evaluate("document.activeElement.id") == "present"

    page.fill("#present", "38")
    page.click("button[name=send]")
    page.wait_for_url(lambda url: "/feedback/new" not in url)

    session.rollback()
    records = session.exec(select(Feedback)).all()
    assert len(records) == 1
    record = records[0]
    assert record.section_id == world["section"].id and record.status == "submitted"
    stored = {
        s.item_id: s.value
        for s in session.exec(select(FeedbackScore).where(FeedbackScore.feedback_id == record.id))
    }
    expected = {
        item.id: item.scale_max - (number % 3) for number, item in enumerate(world["items"])
    }
    assert stored == expected

    # The supervisor finds it among their records, and the comment is shown as text.
    page.goto(f"{live_server}/feedback/mine")
    row = page.locator("main").get_by_text("SE101-01").first
    row.wait_for()
    page.goto(f"{live_server}/feedback/{record.id}")
    body = page.locator("main").inner_text()
    assert "板书清晰 <b>clear</b> boards" in body
    assert page.locator("main b", has_text="clear").count() == 0
