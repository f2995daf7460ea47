"""The bulletin's figures against an independent count from the rows, in the site's week."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest
from sqlmodel import select

from evalsys.accounts.models import RoleGrant
from evalsys.bulletins.data import bulletin_data, lowest_dimensions
from evalsys.bulletins.weeks import parse_week
from evalsys.feedback.models import Feedback, FeedbackScore, RubricItem
from evalsys.org.models import Course, OrgUnitClosure, Section
from tests.bulletins.conftest import EMPTY_WEEK, TEACHER_EN, TEACHER_ZH, WEEK


def _below(session, unit_id: int) -> set[int]:
    rows = session.exec(select(OrgUnitClosure).where(OrgUnitClosure.ancestor_id == unit_id))
    return {c.descendant_id for c in rows}


def _dimension_means(session, unit_id: int, monday: date, sunday: date) -> dict[str, tuple]:
    """Per dimension: mean over the week's submitted records of each record's item mean."""
    below = _below(session, unit_id)
    items = {i.id: i for i in session.exec(select(RubricItem))}
    per: dict[tuple[int, str], list[float]] = defaultdict(list)
    for f in session.exec(select(Feedback)):
        if f.status != "submitted" or f.department_id not in below:
            continue
        if not monday <= f.visit_date <= sunday:
            continue
        for s in session.exec(select(FeedbackScore).where(FeedbackScore.feedback_id == f.id)):
            i = items[s.item_id]
            per[(f.id, i.dimension)].append(
                (s.value - i.scale_min) * 100 / (i.scale_max - i.scale_min)
            )
    by_dim: dict[str, list[float]] = defaultdict(list)
    for (_, dim), values in per.items():
        by_dim[dim].append(sum(values) / len(values))
    return {d: (sum(v) / len(v), len(v)) for d, v in by_dim.items()}


@pytest.mark.parametrize("unit", ["U", "CS"])
def test_figures_match_an_independent_count(bulletin_world, session, unit):
    uni = bulletin_world.uni
    week = parse_week(WEEK)
    unit_id = uni.units[unit].id
    got = bulletin_data(session, unit_id, week)
    below = _below(session, unit_id)
    spot = [
        f
        for f in session.exec(select(Feedback))
        if f.kind == "spot_check" and f.status == "submitted" and f.department_id in below
    ]
    assert got.visits is not None and got.term_code == uni.terms["T2"].code
    assert got.visits.this_week == sum(week.monday <= f.visit_date <= week.sunday for f in spot)
    assert got.visits.to_date == sum(f.visit_date <= week.sunday for f in spot)
    assert (got.visits.this_week, got.visits.to_date) == ((4, 5) if unit == "U" else (3, 4))
    # Planned visits of the week on the unit's classes: done, missed and still planned.
    assert (got.visits.planned, got.visits.done, got.visits.missed) == (
        (3, 1, 1) if unit == "U" else (2, 1, 1)
    )
    # Supervisors granted at the unit or below; the quota (1 a week) for every ended week.
    sups = {
        g.user_id
        for g in session.exec(select(RoleGrant).where(RoleGrant.role == "supervisor"))
        if g.unit_id in below
    }
    assert got.visits.supervisors == len(sups) == (2 if unit == "U" else 1)
    ended_weeks = (week.monday - date(2026, 8, 31)).days // 7 + 1
    assert got.visits.expected == ended_weeks * len(sups)
    # Coverage: teachers of the unit's classes, and those visited at least once to date.
    teachers: dict[int, int] = {}
    for s in session.exec(select(Section)):
        course = session.get(Course, s.course_id)
        if s.teacher_id and course.department_id in below:
            teachers[s.teacher_id] = 0
    for f in session.exec(select(Feedback)):
        sec = session.get(Section, f.section_id) if f.section_id else None
        if (
            sec is not None
            and sec.teacher_id in teachers
            and f.kind == "spot_check"
            and f.status == "submitted"
            and f.visit_date <= week.sunday
        ):
            teachers[sec.teacher_id] += 1
    assert got.visits.teachers == len(teachers) == (4 if unit == "U" else 3)
    assert got.visits.covered == sum(n >= 1 for n in teachers.values())

    # Dimensions: one query against a count by hand.
    expected = _dimension_means(session, unit_id, week.monday, week.sunday)
    lowest = sorted(expected.items(), key=lambda kv: (kv[1][0], kv[0]))[:3]
    assert [(d.key, d.n) for d in got.lowest] == [(k, v[1]) for k, v in lowest]
    for d, (_, (mean, _n)) in zip(got.lowest, lowest, strict=True):
        assert d.mean == pytest.approx(mean)


def test_the_loop_in_the_site_week(bulletin_world, session):
    uni = bulletin_world.uni
    week = parse_week(WEEK)
    school = bulletin_data(session, uni.units["U"].id, week)
    # Monday 01:00 in Shanghai is in (17:00 UTC on Sunday); Sunday 23:00 there is not.
    assert [p.title for p in school.new_problems] == [
        "problem in_cs_monday_site",
        "problem in_math",
    ]
    assert [a.title for a in school.new_actions] == ["new this week", "due next week"]
    assert [a.title for a in school.overdue_actions] == ["overdue open"]
    cs = bulletin_data(session, uni.units["CS"].id, week)
    assert [p.title for p in cs.new_problems] == ["problem in_cs_monday_site"]
    assert cs.counts == {"new_problems": 1, "new_actions": 1, "overdue_actions": 1}
    assert not cs.empty


def test_comments_name_no_teacher(bulletin_world, session):
    uni = bulletin_world.uni
    got = bulletin_data(session, uni.units["U"].id, parse_week(WEEK))
    assert 1 <= len(got.comments) <= 3
    assert len({c.feedback_id for c in got.comments}) == len(got.comments)
    assert {c.dimension for c in got.comments} <= {d.key for d in got.lowest}
    for c in got.comments:
        for name in (TEACHER_ZH, "王老师", TEACHER_EN, "T2-SE1-0", "T2-AI1-0"):
            assert name not in c.text
    assert "草稿" not in " ".join(c.text for c in got.comments)


def test_an_empty_week(bulletin_world, session):
    uni = bulletin_world.uni
    got = bulletin_data(session, uni.units["CS"].id, parse_week(EMPTY_WEEK))
    assert got.empty and got.lowest == [] and got.comments == []
    assert got.visits is None and got.term_code is None
    assert lowest_dimensions(session, uni.units["ART"].id, parse_week(WEEK)) == []


@pytest.mark.once("parses text only")
@pytest.mark.parametrize("bad", ["2026-45", "2026-W54", "2025-W53x", "W45", ""])
def test_bad_weeks_are_refused(bad):
    with pytest.raises(ValueError):
        parse_week(bad)


@pytest.mark.once("parses text only")
def test_a_week_and_its_bounds():
    week = parse_week("2026-W45")
    assert (week.monday, week.sunday) == (date(2026, 11, 2), date(2026, 11, 8))
    start, end = week.bounds({"SCHEDULER_TIMEZONE": "Asia/Shanghai"})
    assert start.isoformat() == "2026-11-01T16:00:00+00:00"
    assert (end - start).days == 7
