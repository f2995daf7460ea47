"""Planner pages: my assignments, teachers never see unannounced visits, the admin pages, scope."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlmodel import Session, select

from evalsys.clock import local_today
from evalsys.org.models import Section, Term
from evalsys.planner import service, weeks
from evalsys.planner.draw import draw_week
from evalsys.planner.models import Assignment, AssignmentStatus, Draw, PlanSetting
from tests.factories import Factory
from tests.planner.conftest import Plan
from tests.planner.helpers import visit


def _mine(session: Session, plan: Plan, user_id: int) -> list[Assignment]:
    stmt = (
        select(Assignment)
        .where(Assignment.term_id == plan.term.id, Assignment.supervisor_id == user_id)
        .order_by(Assignment.id)
    )
    return list(session.exec(stmt).all())


def test_supervisor_sees_this_weeks_assignments_and_quota(
    client, auth, session: Session, now_plan: Plan
):
    rows = _mine(session, now_plan, now_plan.cs_sup.id)  # type: ignore[arg-type]
    assert len(rows) == 3
    done = rows[0]
    section = session.get(Section, done.section_id)
    visit(session, now_plan.cs_sup, section, done.visit_date)  # type: ignore[arg-type]
    session.commit()
    auth.login("cs-sup")
    page = client.get("/planner/").get_data(as_text=True)
    for a in rows:
        assert session.get(Section, a.section_id).code in page  # type: ignore[union-attr]
    assert "Quota this week: <strong>1 of 3</strong>" in page
    assert "1 done of 3" in page
    # Each open assignment links to the spot-check form for its section; the done one to its record.
    for a in rows[1:]:
        code = session.get(Section, a.section_id).code  # type: ignore[union-attr]
        assert f"/feedback/new/spot_check?section={code}" in page
    assert page.count("log the visit") == 2 and page.count(">the record</a>") == 1
    # Nothing of the MATH supervisor's.
    for a in _mine(session, now_plan, now_plan.math_sup.id):  # type: ignore[arg-type]
        assert session.get(Section, a.section_id).code not in page  # type: ignore[union-attr]


def test_teachers_see_announced_visits_but_never_unannounced_ones(
    client, auth, session: Session, now_plan: Plan
):
    rows = _mine(session, now_plan, now_plan.cs_sup.id)  # type: ignore[arg-type]
    # Make one visit announced and one unannounced, in the future, for two teachers.
    today = local_today(client.application.config)
    shown, hidden = rows[0], rows[1]
    for a, announced in ((shown, True), (hidden, False)):
        a.announced = announced
        a.visit_date = today + timedelta(days=1)
        a.first_period = 9 + (a.id % 3)
        a.last_period = a.first_period
        session.add(a)
    session.commit()
    code_of = {a.id: session.get(Section, a.section_id).code for a in rows}  # type: ignore[union-attr]
    teacher_of = {
        a.id: session.get(Section, a.section_id).teacher_id  # type: ignore[union-attr]
        for a in rows
    }
    from evalsys.accounts.models import User

    hidden_teacher = session.get(User, teacher_of[hidden.id])
    shown_teacher = session.get(User, teacher_of[shown.id])
    auth.login(hidden_teacher.username)  # type: ignore[union-attr]
    page = client.get("/planner/").get_data(as_text=True)
    assert code_of[hidden.id] not in page
    auth.logout()
    auth.login(shown_teacher.username)  # type: ignore[union-attr]
    page = client.get("/planner/").get_data(as_text=True)
    assert code_of[shown.id] in page and "Announced" in page
    # The service refuses it at the source too, whatever page asks.
    listed = service.announced_visits(session, teacher=hidden_teacher, today=today)  # type: ignore[arg-type]
    assert listed == []


def test_an_admin_who_teaches_does_not_see_the_unannounced_visit_to_their_class(
    client, auth, session: Session, now_plan: Plan, factory: Factory
):
    rows = _mine(session, now_plan, now_plan.cs_sup.id)  # type: ignore[arg-type]
    a = rows[0]
    a.announced = False
    session.add(a)
    section = session.get(Section, a.section_id)
    teacher_admin = factory.user("teach-admin", "admin@U", "teacher@CS-SE")
    section.teacher_id = teacher_admin.id  # type: ignore[union-attr]
    session.add(section)
    session.commit()
    auth.login("admin")
    page = client.get(f"/planner/terms/{now_plan.term.code}").get_data(as_text=True)
    assert section.code in page  # type: ignore[union-attr]
    auth.logout()
    auth.login("teach-admin")
    page = client.get(f"/planner/terms/{now_plan.term.code}").get_data(as_text=True)
    assert page.count(section.code) == 0  # type: ignore[union-attr]
    assert "Spot-check plan" in page


def test_term_page_shows_coverage_and_supervisors_in_the_admins_scope_only(
    client, auth, session: Session, now_plan: Plan, factory: Factory
):
    factory.user("math-admin", "admin@MATH")
    a = _mine(session, now_plan, now_plan.math_sup.id)[0]  # type: ignore[arg-type]
    visit(session, now_plan.math_sup, session.get(Section, a.section_id), a.visit_date)  # type: ignore[arg-type]
    session.commit()
    auth.login("admin")
    page = client.get(f"/planner/terms/{now_plan.term.code}").get_data(as_text=True)
    assert "CS-SE" in page and "MATH-PURE" in page and "cs-sup" in page
    # MATH-PURE: 4 teachers, 1 visited.
    assert re.search(r"MATH-PURE</small></td><td>4</td><td>1</td>", page)
    auth.logout()
    auth.login("math-admin")
    page = client.get(f"/planner/terms/{now_plan.term.code}").get_data(as_text=True)
    assert "MATH-PURE" in page and "CS-SE" not in page and "NSE-" not in page
    assert "cs-sup" not in page and "math-sup" in page
    # A college admin may read the plan but not change it.
    assert client.get(f"/planner/terms/{now_plan.term.code}/settings").status_code == 403
    r = client.post(f"/planner/terms/{now_plan.term.code}/draw", data={"week": "9"})
    assert r.status_code == 403


@pytest.mark.parametrize("who", ["cs-sup", "cs-se-t00"])
def test_non_admins_get_no_term_page(client, auth, plan: Plan, who: str):
    auth.login(who)
    assert client.get(f"/planner/terms/{plan.term.code}").status_code == 403
    assert client.get("/planner/terms/").status_code == 403
    assert client.get(f"/planner/terms/{plan.term.code}/settings").status_code == 403


def test_settings_form_saves_and_keeps_what_was_typed_on_errors(
    client, auth, session: Session, factory: Factory, plan: Plan
):
    other = factory.term(
        "2027-2028-1",
        plan.term.start_date.replace(year=2027),
        plan.term.end_date.replace(year=2028),
    )
    auth.login("admin")
    page = client.get(f"/planner/terms/{other.code}/settings")
    assert page.status_code == 200 and "these are the defaults" in page.get_data(as_text=True)
    bad = {
        "visits_per_week": "3",
        "max_visits_per_week": "2",
        "quota_from_week": "1",
        "visits_per_teacher": "",
        "buffer_weeks": "1",
        "weight_new_staff": "2.5",
        "weight_low_rated": "abc",
        "low_rating_threshold": "65",
        "weight_never_visited": "1.25",
        "unannounced_share": "1.5",
        "active": "y",
    }
    r = client.post(f"/planner/terms/{other.code}/settings", data=bad)
    text = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "The maximum cannot be below the quota of 3." in text
    assert "Enter the coverage target" in text
    assert "A share between 0 and 1" in text
    assert 'value="2.5"' in text and 'value="abc"' in text and 'value="65"' in text
    assert session.get(PlanSetting, other.id) is None  # nothing half-written
    good = bad | {
        "max_visits_per_week": "5",
        "visits_per_teacher": "2",
        "weight_low_rated": "3",
        "unannounced_share": "0.3",
    }
    r = client.post(f"/planner/terms/{other.code}/settings", data=good)
    assert r.status_code == 303
    session.rollback()  # end the test's read transaction: see what the request wrote
    saved = session.get(PlanSetting, other.id)
    assert saved is not None
    assert (saved.visits_per_week, saved.max_visits_per_week, saved.visits_per_teacher) == (3, 5, 2)
    assert (saved.weight_low_rated, saved.unannounced_share, saved.active) == (3.0, 0.3, True)


def test_settings_and_draw_forms_need_the_csrf_token(app: Flask, session: Session, plan: Plan):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": Factory.PASSWORD})
    before = session.get(PlanSetting, plan.term.id).visits_per_week  # type: ignore[union-attr]
    r = client.post(
        f"/planner/terms/{plan.term.code}/settings",
        data={"visits_per_week": "9", "max_visits_per_week": "9"},
    )
    assert r.status_code == 400
    r = client.post(f"/planner/terms/{plan.term.code}/draw", data={"week": "2"})
    assert r.status_code == 400
    session.rollback()
    assert session.get(PlanSetting, plan.term.id).visits_per_week == before  # type: ignore[union-attr]
    assert session.exec(select(Draw)).first() is None


def test_admin_draws_a_week_from_the_term_page(client, auth, session: Session, plan: Plan):
    auth.login("admin")
    r = client.post(f"/planner/terms/{plan.term.code}/draw", data={"week": "2", "seed": "99"})
    assert r.status_code == 303
    page = client.get(f"/planner/terms/{plan.term.code}").get_data(as_text=True)
    assert "Drew week 2 with seed 99: 4 assignments." in page
    draw = session.exec(select(Draw).where(Draw.term_id == plan.term.id)).one()
    assert (draw.week, draw.seed, draw.trigger) == (2, 99, "manual")
    r = client.post(
        f"/planner/terms/{plan.term.code}/draw", data={"week": "2"}, follow_redirects=True
    )
    assert "drawn already (seed 99)" in r.get_data(as_text=True)


def test_term_page_query_count_does_not_grow_with_assignments(
    app: Flask, client, auth, session: Session, plan: Plan, queries
):
    def count_queries() -> int:
        return queries.page(client, f"/planner/terms/{plan.term.code}")

    auth.login("admin")
    draw_week(session, term=plan.term, week=1, seed=1)
    session.commit()
    few = count_queries()
    for week in range(2, 8):
        draw_week(session, term=plan.term, week=week, seed=week)
    session.commit()
    assert count_queries() == few
    assert session.exec(select(Assignment)).all()
    assert AssignmentStatus.PLANNED
    assert isinstance(plan.term, Term)


def test_quota_is_due_for_every_ended_week_drawn_or_not(
    client, auth, session: Session, now_plan: Plan
):
    today = local_today(client.application.config)
    ended = weeks.week_of(now_plan.term, today) - 1
    assert ended >= 3  # the term began four weeks ago; only this week is drawn
    auth.login("cs-sup")
    page = client.get("/planner/").get_data(as_text=True)
    assert f"0 visits of {3 * ended} expected by now" in page and "behind the quota" in page
    progress = service.quota_progress(
        session, user=now_plan.cs_sup, term=now_plan.term, today=today
    )
    assert progress.behind and progress.expected_so_far == 3 * ended


def test_supervisor_dashboard_shows_this_weeks_assignments(
    app: Flask, client, auth, session: Session, now_plan: Plan
):
    """The home page's "this week's assignments" are the planner's rows for this week only."""
    today = local_today(app.config)
    monday = today - timedelta(days=today.weekday())
    rows = _mine(session, now_plan, now_plan.cs_sup.id)  # type: ignore[arg-type]
    this_week = [a for a in rows if monday <= a.visit_date <= monday + timedelta(days=6)]
    assert this_week
    auth.login("cs-sup")
    page = client.get("/").get_data(as_text=True)
    section = page.split('id="this-weeks-assignments"', 1)[1].split("</section>", 1)[0]
    for a in rows:
        code = session.get(Section, a.section_id).code  # type: ignore[union-attr]
        assert (code in section) == (a in this_week), code
    assert 'href="/planner/"' in section
