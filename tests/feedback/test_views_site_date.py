"""The feedback forms date by the site's calendar (SCHEDULER_TIMEZONE), not UTC's or the server's.

At 20:00 UTC on 1 March it is 04:00 on 2 March in Shanghai: a supervisor filling
in the form that morning gets 2 March as the default date and the latest one
allowed, and a term that begins on 2 March is already open to them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from evalsys.org.models import Course
from tests.feedback.test_views_support import (
    SPOT,
    error_next_to,
    form_post,
    input_tag,
    only_record,
    text,
)

MOMENT = datetime(2031, 3, 1, 20, 0, tzinfo=UTC)
SITE_DAY = date(2031, 3, 2)


@pytest.fixture
def spring(world, factory, session: Session, site_clock):
    """A term that begins on the site's today (the day after the UTC date); the clock
    stopped at MOMENT. The world's own term ended years before."""
    site_clock.at(MOMENT)
    term = factory.term("2030-2031-2", SITE_DAY, date(2031, 7, 5))
    course = session.exec(select(Course).where(Course.code == "SE101")).one()
    factory.section("SE101-09", course, term, teacher=world.teacher, enrolled=33)
    return term


def test_the_form_defaults_to_the_sites_date_and_offers_its_open_terms(client, auth, spring):
    auth.login("sup")
    form = text(client.get("/feedback/new/spot_check?section=SE101-09"))
    date_input = input_tag(form, "date")
    assert 'value="2031-03-02"' in date_input and 'max="2031-03-02"' in date_input
    assert 'value="SE101-09"' in input_tag(form, "section")  # its term has begun
    assert 'value="33"' in input_tag(form, "enrolled")
    page = text(client.get("/feedback/sections?kind=spot_check&q=SE101"))
    assert "/feedback/new/spot_check?section=SE101-09" in page


def test_the_sites_zone_is_read_from_the_apps_config(client, auth, app, spring):
    """The same moment on a site in UTC: still 1 March, the term not begun."""
    app.config["SCHEDULER_TIMEZONE"] = "UTC"
    auth.login("sup")
    form = text(client.get("/feedback/new/spot_check?section=SE101-09"))
    assert 'value="2031-03-01"' in input_tag(form, "date")
    assert 'value="SE101-09"' not in input_tag(form, "section")
    assert "SE101-09" not in text(client.get("/feedback/sections?kind=spot_check&q=SE101"))


def test_a_visit_on_the_sites_today_is_not_in_the_future(client, auth, session, spring):
    auth.login("sup")
    data = form_post(session, SPOT, section="SE101-09", date="2031-03-02", enrolled="40")
    response = client.post("/feedback/new/spot_check", data=data)
    assert response.status_code == 303, text(response)
    record = only_record(session)
    assert record.visit_date == SITE_DAY and record.status == "submitted"
    # ...and stamped with the stopped clock's time, the one source of "now".
    assert record.submitted_at.replace(tzinfo=UTC) == MOMENT  # type: ignore[union-attr]
    tomorrow = form_post(session, SPOT, section="SE101-09", date="2031-03-03", enrolled="40")
    refused = client.post("/feedback/new/spot_check", data=tomorrow)
    assert refused.status_code == 422
    assert "2031-03-03 is in the future" in error_next_to(text(refused), "date")
