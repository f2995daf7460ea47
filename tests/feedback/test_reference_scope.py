"""Sections named in a feedback link or filter are resolved within the user's scope.

A code outside the scope must look exactly like a code that does not exist: the
form opens empty (no section, no enrolment), the lists show what they show
without the filter. Nothing about the other college's section — its existence,
its course, its teacher, its enrolment — reaches the page.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import quote

import pytest
from sqlmodel import Session

from evalsys.feedback.writes import submit_feedback
from evalsys.org.models import Course
from tests.factories import Factory
from tests.feedback.test_views_support import (
    OPEN,
    SPOT,
    count,
    error_next_to,
    form_post,
    input_tag,
    move_term_around_today,
    text,
    today,
)
from tests.fixtures.feedback_world import World

#: The MATH section's enrolment: a number no other field of the form holds.
MATH_ENROLLED = 73
MATH_TEACHER = "数学老师甲"


@pytest.fixture
def web(world: World, session: Session, factory: Factory) -> World:
    move_term_around_today(session, world.term)
    world.math.enrolled = MATH_ENROLLED
    session.add(world.math)
    teacher = session.get(type(world.teacher), world.math.teacher_id)
    assert teacher is not None
    teacher.name = MATH_TEACHER
    session.add(teacher)
    session.commit()
    factory.user("dean_cs", "dean@CS")
    return world


def _blank(page: str, code: str) -> str:
    """The page with what differs between two requests by design taken out: the fresh
    idempotency key and the code the link asked for (echoed in the language switch's
    return address, which only repeats the address the user typed)."""
    page = re.sub(r'value="[0-9a-f]{32}"', 'value="KEY"', page)
    return page.replace(code, "CODE").replace(quote(code), "CODE")


def _assert_no_trace_of_math(page: str) -> None:
    assert "数学分析" not in page and MATH_TEACHER not in page
    assert f'value="{MATH_ENROLLED}"' not in page


@pytest.mark.parametrize(
    ("username", "kind"), [("sup", SPOT), ("leader", OPEN)], ids=["spot_check", "open_class"]
)
def test_a_link_to_a_section_outside_the_scope_opens_the_same_form_as_an_unknown_code(
    client, auth, web, username, kind
):
    auth.login(username)
    outside = client.get(f"/feedback/new/{kind}?section=MA101-01")
    unknown = client.get(f"/feedback/new/{kind}?section=NOPE-01")
    assert outside.status_code == unknown.status_code == 200
    page = text(outside)
    assert 'value="MA101-01"' not in input_tag(page, "section")
    if kind == SPOT:
        assert not re.search(r'value="[^"]', input_tag(page, "enrolled"))
    _assert_no_trace_of_math(page)
    # Not one byte tells the two apart.
    assert _blank(page, "MA101-01") == _blank(text(unknown), "NOPE-01")


def test_a_link_to_a_section_in_scope_is_still_filled_in(client, auth, web):
    auth.login("sup")
    page = text(client.get("/feedback/new/spot_check?section=SE101-01"))
    assert 'value="SE101-01"' in input_tag(page, "section")
    assert 'value="40"' in input_tag(page, "enrolled")


def test_a_link_to_a_section_the_form_does_not_offer_is_not_filled_in(
    client, auth, session, factory, web
):
    """The prefill follows the list the form offers: never one's own section, never a
    section of a term that is closed for new records."""
    both = factory.user("both", "supervisor@CS", "teacher@CS-SE")
    course = session.get(Course, web.se.course_id)
    own = factory.section("SE101-02", course, web.term, teacher=both)
    old = factory.term("2020-2021-1", date(2020, 9, 1), date(2021, 1, 20))
    factory.section("SE101-OLD", course, old)
    auth.login("both")
    for code in (own.code, "SE101-OLD"):
        page = text(client.get(f"/feedback/new/spot_check?section={code}"))
        assert f'value="{code}"' not in input_tag(page, "section")


def test_posting_a_section_outside_the_scope_stores_nothing_and_shows_nothing_of_it(
    client, auth, session, web
):
    auth.login("sup")
    response = client.post(
        "/feedback/new/spot_check", data=form_post(session, SPOT, section="MA101-01")
    )
    assert response.status_code == 403
    assert count(session) == 0
    page = text(response)
    assert "outside your scope" in error_next_to(page, "section")
    _assert_no_trace_of_math(page)


# --- the reviewers' list and its export --------------------------------------------------


@pytest.fixture
def records(web, session: Session, make_input):
    """A spot check in CS (the dean's) and one in MATH (not the dean's)."""
    cs = submit_feedback(session, user=web.supervisor, data=make_input(date=today()))
    math = submit_feedback(
        session, user=web.admin, data=make_input(section="MA101-01", date=today(), present=20)
    )
    session.commit()
    return cs, math


@pytest.mark.parametrize(
    "query",
    [
        {"unit": "MATH-PURE"},
        {"unit": "MATH"},
        {"teacher": MATH_TEACHER},
        {"teacher": "mteacher"},
    ],
    ids=["department", "college", "teacher-name", "teacher-username"],
)
def test_list_filters_naming_something_outside_the_scope_answer_as_for_an_unknown_one(
    client, auth, web, records, query
):
    cs_record, math_record = records
    auth.login("dean_cs")
    unknown = {k: "NOBODY-NOWHERE" for k in query}
    outside = text(client.get("/feedback/", query_string=query))
    nowhere = text(client.get("/feedback/", query_string=unknown))
    value = next(iter(query.values()))
    assert f'href="/feedback/{math_record.id}"' not in outside
    if "unit" in query:  # an ignored unit filter: everything in the dean's scope
        assert f'href="/feedback/{cs_record.id}"' in outside
    _assert_no_trace_of_math(outside.replace(value, "TYPED"))  # the filter box keeps it
    assert _blank(outside, value) == _blank(nowhere, "NOBODY-NOWHERE")
    exported = client.get("/feedback/export.csv", query_string=query).get_data(as_text=True)
    assert "MA101-01" not in exported and MATH_TEACHER not in exported
