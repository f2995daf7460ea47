"""The calendar feed: a private address per person, read without a login, listing their
visits with the times of their class periods and their rooms; replaced, stopped or of a
switched-off account it answers 404. The events are read back with icalendar's parser and
compared with the assignments as stored."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from flask import Flask
from icalendar import Calendar
from sqlmodel import Session, col, select

from evalsys import create_app
from evalsys.accounts.models import AuditEvent, User
from evalsys.clock import local_today, site_zone
from evalsys.org.models import Section
from evalsys.org.timetable import PeriodTimesError, period_times
from evalsys.planner.calendar import PAST_DAYS
from evalsys.planner.models import Assignment, CalendarFeed
from tests.planner.conftest import Plan


def _make_address(client, auth, username: str) -> str:
    auth.login(username)
    r = client.post("/planner/calendar")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"
    page = r.get_data(as_text=True)
    (url,) = set(re.findall(r'value="(http://[^"]+\.ics)"', page))
    assert f'href="webcal://{url.split("://", 1)[1]}"' in page
    auth.logout()
    return url.split("localhost", 1)[1]


def _read(app: Flask, path: str) -> Calendar:
    r = app.test_client().get(path)  # a calendar app: no cookies, no login
    assert r.status_code == 200, r.status_code
    assert r.mimetype == "text/calendar"
    return Calendar.from_ical(r.data)


def _events(cal: Calendar) -> dict[str, object]:
    return {str(e["uid"]).split("@")[0]: e for e in cal.walk("VEVENT")}


def test_the_feed_lists_the_supervisors_visits_with_times_and_rooms(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    mine = session.exec(
        select(Assignment).where(Assignment.supervisor_id == now_plan.cs_sup.id)
    ).all()
    assert mine, "the draw gave cs-sup no visit"
    # The first visit's section meets in a named room at that slot.
    first = mine[0]
    section = session.get(Section, first.section_id)
    assert section is not None
    slot = f"{['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][first.visit_date.weekday()]}"
    section.meetings = f"{slot} {first.first_period}-{first.last_period} @ 教三-201"
    session.add(section)
    session.commit()

    path = _make_address(client, auth, "cs-sup")
    events = _events(_read(app, path))
    assert set(events) == {f"assignment-{a.id}" for a in mine}
    zone = site_zone(app.config)
    times = period_times(app.config)
    for a in mine:
        event = events[f"assignment-{a.id}"]
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start == datetime.combine(a.visit_date, times[a.first_period].start, tzinfo=zone)
        assert end == datetime.combine(a.visit_date, times[a.last_period].end, tzinfo=zone)
        code = session.get(Section, a.section_id).code  # type: ignore[union-attr]
        assert code in str(event["summary"])
    assert str(events[f"assignment-{first.id}"]["location"]) == "教三-201"
    # Another person's visits are not in it.
    others = session.exec(
        select(Assignment.id).where(Assignment.supervisor_id != now_plan.cs_sup.id)
    ).all()
    assert others and not {f"assignment-{i}" for i in others} & set(events)
    # The read is noted for the owner to see.
    feed = session.exec(select(CalendarFeed)).one()
    session.refresh(feed)
    assert feed.last_read_at is not None


def test_log_the_visit_carries_the_room_from_the_timetable(
    client, auth, session: Session, now_plan: Plan
):
    a = session.exec(
        select(Assignment).where(Assignment.supervisor_id == now_plan.cs_sup.id)
    ).first()
    assert a is not None
    section = session.get(Section, a.section_id)
    assert section is not None
    day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][a.visit_date.weekday()]
    # The visit's slot in one room, another slot of the week in another.
    other_day = "Sun" if day != "Sun" else "Sat"
    section.meetings = f"{day} {a.first_period}-{a.last_period} @ 实验楼-402; {other_day} 1 @ X-1"
    session.add(section)
    session.commit()
    auth.login("cs-sup")
    page = client.get("/planner/").get_data(as_text=True)
    assert "实验楼-402" in page
    links = re.findall(r'href="(/feedback/new/spot_check\?section=[^"]+)"', page)
    ours = [h.replace("&amp;", "&") for h in links if f"section={section.code}" in h]
    assert len(ours) == 1 and "room=" in ours[0], links
    form = client.get(ours[0]).get_data(as_text=True)
    assert re.search(r'name="location"[^>]*value="实验楼-402"', form), "room not filled in"


def test_a_teacher_sees_announced_visits_to_their_classes_never_unannounced_ones(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    visits = session.exec(
        select(Assignment, Section)
        .join(Section, col(Section.id) == Assignment.section_id)
        .where(Assignment.term_id == now_plan.term.id)
        .order_by(Assignment.id)
    ).all()
    (a1, s1), (a2, s2) = visits[0], visits[1]
    # Both visits go to one teacher's classes: one announced, one not.
    s2.teacher_id = s1.teacher_id
    a1.announced, a2.announced = True, False
    session.add_all([a1, a2, s2])
    session.commit()
    teacher = session.get(User, s1.teacher_id)
    assert teacher is not None
    events = _events(_read(app, _make_address(client, auth, teacher.username)))
    assert f"assignment-{a1.id}" in events
    assert f"assignment-{a2.id}" not in events
    assert "Announced visit to your class" in str(events[f"assignment-{a1.id}"]["summary"])


def test_the_feed_speaks_its_owners_language(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    now_plan.cs_sup.locale = "zh"
    session.add(now_plan.cs_sup)
    session.commit()
    cal = _read(app, _make_address(client, auth, "cs-sup"))
    summaries = [str(e["summary"]) for e in cal.walk("VEVENT")]
    assert summaries and all(s.startswith("听课") for s in summaries), summaries
    descriptions = [str(e["description"]) for e in cal.walk("VEVENT")]
    assert all("教师：" in d for d in descriptions), descriptions


def test_a_new_address_replaces_the_old_and_stopping_ends_it(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    old = _make_address(client, auth, "cs-sup")
    new = _make_address(client, auth, "cs-sup")
    assert old != new
    reader = app.test_client()
    assert reader.get(old).status_code == 404
    assert reader.get(new).status_code == 200
    auth.login("cs-sup")
    page = client.get("/planner/").get_data(as_text=True)
    assert "Stop the feed" in page and new.rsplit("/", 1)[1] not in page  # shown once only
    assert client.post("/planner/calendar/stop").status_code == 303
    assert reader.get(new).status_code == 404
    assert session.exec(select(CalendarFeed)).all() == []
    actions = session.exec(
        select(AuditEvent.action, AuditEvent.detail)
        .where(col(AuditEvent.action).startswith("calendar."))
        .order_by(col(AuditEvent.id))
    ).all()
    assert actions == [
        ("calendar.new", None),
        ("calendar.new", "replaced"),
        ("calendar.stop", None),
    ]


def test_a_switched_off_account_or_a_made_up_token_gets_404(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    path = _make_address(client, auth, "cs-sup")
    reader = app.test_client()
    token = path.rsplit("/", 1)[1].removesuffix(".ics")
    for made_up in (token[:-1], token + "x", "x" * 5000, "' OR 1=1 --", "%00"):
        assert reader.get(f"/planner/calendar/{made_up}.ics").status_code == 404, made_up
    now_plan.cs_sup.active = False
    session.add(now_plan.cs_sup)
    session.commit()
    assert reader.get(path).status_code == 404


def test_old_visits_drop_out_of_the_feed(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    a = session.exec(
        select(Assignment).where(Assignment.supervisor_id == now_plan.cs_sup.id)
    ).first()
    assert a is not None
    a.visit_date = local_today() - timedelta(days=PAST_DAYS + 1)
    session.add(a)
    session.commit()
    events = _events(_read(app, _make_address(client, auth, "cs-sup")))
    assert f"assignment-{a.id}" not in events


def test_periods_without_times_make_whole_day_events(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    app.config["CLASS_PERIOD_TIMES"] = "1=08:00-08:45"
    events = _read(app, _make_address(client, auth, "cs-sup")).walk("VEVENT")
    late = [e for e in events if not isinstance(e.decoded("dtstart"), datetime)]
    assert late, "every visit got a time though only period 1 has one"
    for e in late:
        assert isinstance(e.decoded("dtstart"), date)
        assert e.decoded("dtend") == e.decoded("dtstart") + timedelta(days=1)


@pytest.mark.parametrize(
    "text, named",
    [
        ("1=8:00", "'1=8:00'"),
        ("1=09:00-08:00", "ends before it starts"),
        ("1=08:00-08:45; 1=09:00-09:45", "period 1 is given twice"),
        ("1=25:00-26:00", "'1=25:00-26:00'"),
    ],
)
def test_class_period_times_that_cannot_be_read_stop_the_start(text, named, tmp_path):
    with pytest.raises(PeriodTimesError, match=re.escape(named)):
        create_app({"TESTING": True, "CLASS_PERIOD_TIMES": text, "INSTANCE_PATH": str(tmp_path)})
