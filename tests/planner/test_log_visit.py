""" "Log the visit" starts the spot-check form from the assignment; the section box finds a
section by teacher, course title (in the reader's language) or code; a leader's open class
starts at their level. Defaults fill a fresh form only: what the user sent always wins.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from evalsys.clock import local_today
from evalsys.org.models import Course, Section
from evalsys.planner.models import Assignment, AssignmentStatus
from tests.factories import Factory
from tests.feedback.test_views_support import (
    OPEN,
    SPOT,
    chosen,
    count,
    form_post,
    only_record,
    text,
)
from tests.planner.conftest import Plan


def _an_announced_visit_on_another_day(
    session: Session, plan: Plan, site_clock
) -> tuple[Assignment, str]:
    """One of cs-sup's assignments of this week, made announced, on Monday, periods 9-10;
    the site's clock then moved to Wednesday (the supervisor logs the visit two days on)."""
    a = session.exec(
        select(Assignment)
        .where(Assignment.term_id == plan.term.id, Assignment.supervisor_id == plan.cs_sup.id)
        .order_by(Assignment.id)
    ).first()
    assert a is not None
    today = local_today()
    a.announced = True
    a.visit_date = today - timedelta(days=today.weekday())
    a.first_period, a.last_period = 9, 10
    session.add(a)
    session.commit()
    site_clock.on(a.visit_date + timedelta(days=2))
    section = session.get(Section, a.section_id)
    assert section is not None
    return a, section.code


def _log_link(page: str, code: str) -> str:
    links = re.findall(r'href="(/feedback/new/spot_check\?section=([^"&]+)[^"]*)"', page)
    found = [html.unescape(href) for href, section in links if section == code]
    assert len(found) == 1, links
    return found[0]


def test_the_form_starts_from_an_announced_assignment_on_another_day_and_links_the_record(
    client, auth, session: Session, now_plan: Plan, site_clock
):
    a, code = _an_announced_visit_on_another_day(session, now_plan, site_clock)
    auth.login("cs-sup")
    href = _log_link(client.get("/planner/").get_data(as_text=True), code)
    page = text(client.get(href))
    assert chosen(page, "section", code)
    assert chosen(page, "date", a.visit_date.isoformat())
    assert not chosen(page, "date", local_today().isoformat())  # Wednesday
    assert chosen(page, "class_period", "periods 9-10")
    # The old form said unannounced (推门听课) whatever the assignment said.
    assert chosen(page, "announced", "true") and not chosen(page, "announced", "false")
    section = session.get(Section, a.section_id)
    assert chosen(page, "enrolled", str(section.enrolled))  # type: ignore[union-attr]
    # Submitted as it came, the record fulfils that assignment.
    post = form_post(
        session,
        SPOT,
        section=code,
        date=a.visit_date.isoformat(),
        class_period="periods 9-10",
        announced="true",
        enrolled=str(section.enrolled),  # type: ignore[union-attr]
        present="1",
        late="0",
    )
    r = client.post(href, data=post)
    assert r.status_code == 303, text(r)
    record = only_record(session)
    assert record.announced is True and record.visit_date == a.visit_date
    done = session.get(Assignment, a.id)
    assert done.status == AssignmentStatus.DONE and done.feedback_id == record.id  # type: ignore[union-attr]


def test_chinese_readers_get_the_periods_in_their_words(
    client, auth, session: Session, now_plan: Plan, site_clock
):
    _a, code = _an_announced_visit_on_another_day(session, now_plan, site_clock)
    auth.login("cs-sup")
    zh = {"Accept-Language": "zh-CN"}
    href = _log_link(client.get("/planner/", headers=zh).get_data(as_text=True), code)
    assert chosen(text(client.get(href, headers=zh)), "class_period", "9-10节")


def test_what_the_user_typed_wins_over_the_assignment_after_an_error(
    client, auth, session: Session, now_plan: Plan, site_clock
):
    a, code = _an_announced_visit_on_another_day(session, now_plan, site_clock)
    auth.login("cs-sup")
    href = _log_link(client.get("/planner/").get_data(as_text=True), code)
    typed_day = local_today().isoformat()
    post = form_post(
        session,
        SPOT,
        section=code,
        date=typed_day,
        class_period="5-6节",
        location="实验楼-402",
        announced="false",
        present="9999",  # more than enrolled: refused
    )
    r = client.post(href, data=post)
    assert r.status_code == 422
    page = text(r)
    assert chosen(page, "date", typed_day) and not chosen(page, "date", a.visit_date.isoformat())
    assert chosen(page, "class_period", "5-6节") and chosen(page, "location", "实验楼-402")
    assert chosen(page, "announced", "false") and not chosen(page, "announced", "true")
    assert count(session) == 0


def test_link_values_are_defaults_only_when_they_make_sense(
    client, auth, session: Session, now_plan: Plan, factory: Factory
):
    auth.login("cs-sup")
    other = factory.section(
        "OUT-1",
        factory.course("OUT-C", now_plan.units["MATH-PURE"]),
        now_plan.term,
    )
    page = text(
        client.get(f"/feedback/new/spot_check?section={other.code}&date=not-a-date&announced=maybe")
    )
    # Another college's section is not shown (nor its enrolment); the rest falls back.
    assert not chosen(page, "section", other.code)
    assert chosen(page, "date", local_today().isoformat())
    assert chosen(page, "announced", "false")


@pytest.mark.parametrize(
    ("grants", "level"),
    [
        (("leader@U",), "school_leader"),
        (("leader@CS",), "college_leader"),
        (("leader@CS", "leader@U"), "school_leader"),
        (("leader@CS-SE",), None),
        (("admin@U",), None),
    ],
)
def test_a_leaders_observer_level_is_preselected_from_their_role(
    client, auth, session: Session, now_plan: Plan, factory: Factory, grants, level
):
    factory.user("obs", *grants)
    auth.login("obs")
    page = text(client.get("/feedback/new/open_class"))
    checked = re.findall(r'<input[^>]*name="observer_level"[^>]*>', page)
    picked = [re.search(r'value="([^"]+)"', t).group(1) for t in checked if "checked" in t]  # type: ignore[union-attr]
    assert picked == ([level] if level else [])


def test_the_level_is_a_default_the_user_can_change(
    client, auth, session: Session, now_plan: Plan, factory: Factory
):
    factory.user("dean-leader", "leader@U")
    auth.login("dean-leader")
    code = next(iter(now_plan.sections))
    r = client.post(
        "/feedback/new/open_class",
        data=form_post(session, OPEN, section=code, observer_level="peer"),
    )
    assert r.status_code == 303, text(r)
    assert only_record(session).observer_level == "peer"


@pytest.fixture
def picker(session: Session, factory: Factory, now_plan: Plan) -> dict[str, Section]:
    """Three sections in CS-SE: two of 王伟's (two courses), one of 李娜's."""
    wang = factory.user("wangwei", "teacher@CS-SE", name="王伟")
    li = factory.user("lina", "teacher@CS-SE", name="李娜")
    se = factory.course("SE200", now_plan.units["CS-SE"], title="软件工程")
    se.title_en = "Software Engineering"
    session.add(se)
    db = factory.course("DB300", now_plan.units["CS-SE"], title="数据库系统")
    session.commit()
    return {
        "wang-se": factory.section("SE200-01", se, now_plan.term, teacher=wang, enrolled=41),
        "wang-db": factory.section("DB300-01", db, now_plan.term, teacher=wang, enrolled=35),
        "li-se": factory.section("SE200-02", se, now_plan.term, teacher=li, enrolled=38),
    }


def _spot(session: Session, section_text: str) -> dict[str, str]:
    return form_post(session, SPOT, section=section_text, enrolled="30", present="28", late="0")


def test_the_section_box_takes_a_teachers_name(client, auth, session: Session, picker):
    auth.login("cs-sup")
    r = client.post("/feedback/new/spot_check", data=_spot(session, "李娜"))
    assert r.status_code == 303, text(r)
    assert only_record(session).section_id == picker["li-se"].id


def test_a_name_that_fits_several_sections_asks_to_pick_one_and_keeps_the_rest(
    client, auth, session: Session, picker
):
    auth.login("cs-sup")
    r = client.post(
        "/feedback/new/spot_check", data=_spot(session, "王伟") | {"strengths": "板书清楚"}
    )
    assert r.status_code == 422
    page = text(r)
    assert "“王伟” matches 2 sections in your scope: pick one from the list" in page
    assert chosen(page, "section", "王伟") and "板书清楚" in page
    assert count(session) == 0


def test_the_section_box_takes_an_english_title_and_lists_english_titles(
    client, auth, session: Session, picker
):
    auth.login("cs-sup")
    page = text(client.get("/feedback/new/spot_check"))
    assert '<option value="SE200-01 — Software Engineering — 王伟">' in page
    assert (
        '<option value="DB300-01 — 数据库系统 — 王伟">' in page
    )  # no English title: the one there is
    found = text(client.get("/feedback/sections?kind=spot_check&q=software"))
    assert "SE200-01" in found and "SE200-02" in found and "DB300-01" not in found
    assert "Software Engineering" in found and "软件工程" not in found
    r = client.post(
        "/feedback/new/spot_check",
        data=_spot(session, "software engineering") | {"date": "not a date"},
    )
    page = text(r)
    # Two sections: the user is asked to pick, nothing is guessed.
    assert "matches 2 sections" in page
    r = client.post("/feedback/new/spot_check", data=_spot(session, "SE200-02"))
    assert r.status_code == 303


def test_one_match_is_taken_and_shown_in_full_when_the_page_comes_back(
    client, auth, session: Session, picker
):
    auth.login("cs-sup")
    r = client.post("/feedback/new/spot_check", data=_spot(session, "数据库") | {"present": "9999"})
    assert r.status_code == 422
    page = text(r)
    assert chosen(page, "section", "DB300-01 — 数据库系统 — 王伟")
    assert "matches" not in page
    unused = session.exec(select(Course).where(Course.code == "SE200")).one()
    assert unused.title_en == "Software Engineering"
