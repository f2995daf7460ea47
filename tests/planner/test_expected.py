""" "Expected by now": the quota for every ended week of the term from the plan's first week.

Counting only drawn weeks said "0 expected" in week 13 of a term whose draws had just
begun, and the admin board showed nobody behind.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from evalsys.planner import service, weeks
from evalsys.planner.draw import draw_week
from evalsys.planner.models import PlanSetting
from tests.planner.conftest import TERM_START, Plan
from tests.planner.helpers import visit

#: Wednesday of week 13 of the plan's term.
WEEK_13 = TERM_START + timedelta(weeks=12, days=2)

#: A valid settings form (the plan's own values).
SETTINGS = {
    "visits_per_week": 2,
    "max_visits_per_week": 4,
    "quota_from_week": 1,
    "visits_per_teacher": 1,
    "buffer_weeks": 2,
    "weight_new_staff": 2,
    "weight_low_rated": 2,
    "low_rating_threshold": 70,
    "weight_never_visited": 1.5,
    "unannounced_share": 0.5,
    "active": True,
}


def _settings(session: Session, plan: Plan, **values) -> PlanSetting:
    settings = service.save_settings(session, term=plan.term, values=values)
    session.commit()
    return settings


def test_week_13_with_only_this_week_drawn_expects_twelve_weeks_of_quota(
    session: Session, plan: Plan
):
    draw_week(session, term=plan.term, week=13, seed=5)
    session.commit()
    progress = service.quota_progress(session, user=plan.cs_sup, term=plan.term, today=WEEK_13)
    assert progress.week == 13
    # quota × (N − quota_from_week) = 2 × (13 − 1); the old count of drawn weeks gave 0.
    assert progress.expected_so_far == 2 * 12 and progress.behind
    rows = service.supervisor_rows(session, term=plan.term, viewer=plan.admin, today=WEEK_13)  # type: ignore[arg-type]
    assert rows and {r.expected for r in rows} == {24} and all(r.behind for r in rows)


def test_a_plan_started_mid_term_counts_from_its_first_week(session: Session, plan: Plan):
    settings = _settings(session, plan, quota_from_week=10)
    draw_week(session, term=plan.term, week=13, seed=5)
    session.commit()
    # Weeks 10, 11, 12 have ended: 2 × (13 − 10).
    assert service.weeks_due(settings, plan.term, WEEK_13) == 3
    progress = service.quota_progress(session, user=plan.cs_sup, term=plan.term, today=WEEK_13)
    assert progress.expected_so_far == 6 and progress.quota_from_week == 10
    # Before and during its first week nothing is due yet.
    for day in (TERM_START, weeks.week_start(plan.term, 10) + timedelta(days=4)):
        assert service.weeks_due(settings, plan.term, day) == 0


def test_visits_count_against_it_and_an_ended_term_expects_every_week(session: Session, plan: Plan):
    settings = _settings(session, plan, visits_per_week=1, quota_from_week=11)
    section = plan.sections["CS-SE-S00"]
    for day in (WEEK_13 - timedelta(days=7), WEEK_13 - timedelta(days=1)):
        visit(session, plan.cs_sup, section, day)
    session.commit()
    progress = service.quota_progress(session, user=plan.cs_sup, term=plan.term, today=WEEK_13)
    assert (progress.visits_this_term, progress.expected_so_far, progress.behind) == (2, 2, False)
    after = plan.term.end_date + timedelta(days=20)
    last = weeks.last_week(plan.term)
    assert service.weeks_due(settings, plan.term, after) == last - 11 + 1


def test_the_admin_board_shows_who_is_behind_and_from_which_week(
    client, auth, session: Session, plan: Plan, site_clock
):
    _settings(session, plan, quota_from_week=4)
    draw_week(session, term=plan.term, week=13, seed=5)
    session.commit()
    site_clock.on(WEEK_13)
    auth.login("admin")
    page = client.get(f"/planner/terms/{plan.term.code}").get_data(as_text=True)
    # 2 × (13 − 4) = 18 for each supervisor, none of whom has visited.
    assert "<td>18</td>" in page and 'badge-behind">behind' in page
    assert "The quota counts from week 4." in page
    assert "for each of the 9 weeks that have ended since week 4" in page
    auth.logout()
    auth.login("cs-sup")
    page = client.get("/planner/").get_data(as_text=True)
    assert "0 visits of 18 expected by now" in page and "behind the quota" in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "A week of this term: from 1 to 18"),
        ("19", "A week of this term: from 1 to 18"),
        ("", "Enter the week of the term the quota starts"),
        ("x", "Enter a whole number"),
    ],
)
def test_settings_form_refuses_a_first_week_outside_the_term(
    client, auth, session: Session, plan: Plan, typed: str, message: str
):
    assert weeks.last_week(plan.term) == 18
    auth.login("admin")
    form = {
        name: str(value)
        for name, value in SETTINGS.items()
        if name not in ("active", "quota_from_week")
    }
    r = client.post(
        f"/planner/terms/{plan.term.code}/settings", data=form | {"quota_from_week": typed}
    )
    text = r.get_data(as_text=True)
    assert r.status_code == 422, text
    assert message in text or message.replace("'", "&#39;") in text
    assert f'value="{typed}"' in text if typed else 'name="quota_from_week"' in text
    session.rollback()
    assert session.get(PlanSetting, plan.term.id).quota_from_week == 1  # type: ignore[union-attr]
    r = client.post(
        f"/planner/terms/{plan.term.code}/settings", data=form | {"quota_from_week": "18"}
    )
    assert r.status_code == 303
    session.rollback()
    assert session.get(PlanSetting, plan.term.id).quota_from_week == 18  # type: ignore[union-attr]
