"""The draw: scope, clashes, quotas, repeats, reproducibility, and coverage over a term."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from evalsys.org.models import Course, OrgUnit, Section
from evalsys.org.timetable import Meeting, parse_meetings
from evalsys.planner import service, weeks
from evalsys.planner.draw import DrawError, draw_week
from evalsys.planner.models import Assignment, AssignmentStatus, Draw
from tests.factories import Factory
from tests.planner.conftest import Plan, add_sections
from tests.planner.helpers import fulfil_all


def _assignments(session: Session, draw: Draw) -> list[Assignment]:
    stmt = select(Assignment).where(Assignment.draw_id == draw.id).order_by(Assignment.id)
    return list(session.exec(stmt).all())


def _department_of(session: Session, section_id: int) -> str:
    stmt = (
        select(OrgUnit.code)
        .join(Course, col(Course.department_id) == OrgUnit.id)
        .join(Section, col(Section.course_id) == Course.id)
        .where(Section.id == section_id)
    )
    return session.exec(stmt).one()


def test_each_supervisor_gets_sections_of_their_own_scope_only(session: Session, plan: Plan):
    seen: dict[int, set[str]] = defaultdict(set)
    for week in range(1, 9):
        draw = draw_week(session, term=plan.term, week=week, seed=week)
        for a in _assignments(session, draw):
            seen[a.supervisor_id].add(_department_of(session, a.section_id))
    assert seen[plan.cs_sup.id] <= {"CS-SE", "CS-AI"} and seen[plan.cs_sup.id]
    assert seen[plan.math_sup.id] == {"MATH-PURE"}


def test_quota_is_met_and_slots_lie_in_the_week_and_the_timetable(session: Session, plan: Plan):
    draw = draw_week(session, term=plan.term, week=3, seed=11)
    rows = _assignments(session, draw)
    per_supervisor = Counter(a.supervisor_id for a in rows)
    # 10 CS teachers over 16 weeks asks 1 coverage visit: the quota of 2 rules.
    assert per_supervisor == {plan.cs_sup.id: 2, plan.math_sup.id: 2}
    start = weeks.week_start(plan.term, 3)
    for a in rows:
        assert start <= a.visit_date <= start + timedelta(days=6)
        section = session.get(Section, a.section_id)
        meeting = Meeting(a.visit_date.isoweekday(), a.first_period, a.last_period)
        assert meeting in parse_meetings(section.meetings)  # type: ignore[union-attr]
    assert draw.parameters["settings"]["visits_per_week"] == 2
    assert draw.seed == 11 and draw.week_start == start


def test_no_supervisor_is_sent_to_two_classes_at_once(
    session: Session, plan: Plan, factory: Factory
):
    # Six more CS sections all on Monday 1-2 and one on Tuesday 1-2: only two slots exist.
    crowded = add_sections(factory, plan, "CS-SE", 6, prefix="X", meetings=["Mon 1-2"])
    crowded[0].meetings = "Tue 1-2"
    # The other CS sections lose their timetable, so only the crowded ones can be drawn.
    for code, section in plan.sections.items():
        if code.startswith("CS-"):
            section.meetings = None
            session.add(section)
    session.add(crowded[0])
    service.save_settings(
        session, term=plan.term, values={"visits_per_week": 3, "visits_per_teacher": 0}
    )
    session.commit()
    for seed in range(20):
        draw = draw_week(session, term=plan.term, week=2, seed=seed, replace=True)
        mine = [a for a in _assignments(session, draw) if a.supervisor_id == plan.cs_sup.id]
        slots = [(a.visit_date, a.first_period) for a in mine]
        assert len(slots) == len(set(slots)) == 2  # Monday 1-2 once, Tuesday 1-2 once
        assert "cs-sup" in draw.parameters["shortfalls"]


def test_a_supervisor_who_teaches_is_not_sent_during_their_own_class(
    session: Session, plan: Plan, factory: Factory
):
    # The CS supervisor also teaches a CS section, in their own scope.
    own_course = factory.course("OWN", plan.units["CS-AI"])
    own = factory.section("OWN-01", own_course, plan.term, teacher=plan.cs_sup)
    own.meetings = "Mon 1-2; Tue 3-4; Wed 1-2; Wed 3-4"
    session.add(own)
    session.commit()
    for seed in range(30):
        draw = draw_week(session, term=plan.term, week=4, seed=seed, replace=True)
        for a in _assignments(session, draw):
            if a.supervisor_id != plan.cs_sup.id:
                continue
            assert a.section_id != own.id  # never their own class
            visit = Meeting(a.visit_date.isoweekday(), a.first_period, a.last_period)
            assert not any(visit.clashes(m) for m in parse_meetings(own.meetings))


def test_the_same_seed_gives_the_same_draw_and_another_seed_another(session: Session, plan: Plan):
    def drawn(seed: int) -> list[tuple]:
        draw = draw_week(session, term=plan.term, week=5, seed=seed, replace=True)
        return [
            (a.supervisor_id, a.section_id, a.visit_date, a.first_period, a.announced)
            for a in _assignments(session, draw)
        ]

    first = drawn(424242)
    assert drawn(424242) == first
    others = {tuple(drawn(seed)) for seed in range(1, 6)}
    assert len(others | {tuple(first)}) > 2  # the seed matters


def test_a_drawn_week_is_refused_unless_replaced_and_never_once_visited(
    session: Session, plan: Plan
):
    draw = draw_week(session, term=plan.term, week=6, seed=1)
    with pytest.raises(DrawError, match="drawn already"):
        draw_week(session, term=plan.term, week=6, seed=2)
    with pytest.raises(DrawError, match="weeks 1 to 18"):
        draw_week(session, term=plan.term, week=19, seed=2)
    fulfil_all(session, draw.id)  # type: ignore[arg-type]
    with pytest.raises(DrawError, match="visits done"):
        draw_week(session, term=plan.term, week=6, seed=2, replace=True)


def test_no_repeat_for_a_supervisor_while_other_sections_remain(session: Session, plan: Plan):
    service.save_settings(session, term=plan.term, values={"visits_per_teacher": 0})
    session.commit()
    sent: Counter[tuple[int, int]] = Counter()
    for week in range(1, 3):  # 2 weeks x 2 visits: 4 of the 5 MATH sections
        draw = draw_week(session, term=plan.term, week=week, seed=week * 7)
        for a in _assignments(session, draw):
            sent[(a.supervisor_id, a.section_id)] += 1
    assert max(sent.values()) == 1


def test_the_coverage_target_is_reached_over_a_simulated_term(
    session: Session, plan: Plan, factory: Factory
):
    """Draw every week, make every visit, and at the end every teacher was visited.

    30 CS teachers for one supervisor at 1 visit a week over 18 weeks: only the
    coverage steering (more than the quota when needed) gets there.
    """
    add_sections(factory, plan, "CS-AI", 20, prefix="MORE")
    service.save_settings(
        session,
        term=plan.term,
        values={"visits_per_week": 1, "max_visits_per_week": 4, "buffer_weeks": 2},
    )
    session.commit()
    per_week = []
    for week in range(1, weeks.last_week(plan.term) + 1):
        draw = draw_week(session, term=plan.term, week=week, seed=1000 + week)
        per_week.append(
            sum(1 for a in _assignments(session, draw) if a.supervisor_id == plan.cs_sup.id)
        )
        fulfil_all(session, draw.id)  # type: ignore[arg-type]
    done = session.exec(
        select(Assignment).where(Assignment.status == AssignmentStatus.DONE.value)
    ).all()
    visited = {session.get(Section, a.section_id).teacher_id for a in done}  # type: ignore[union-attr]
    teachers = set(
        session.exec(
            select(Section.teacher_id).where(
                Section.term_id == plan.term.id, col(Section.teacher_id).is_not(None)
            )
        ).all()
    )
    assert teachers - visited == set()
    # The steering spread the load: 30 teachers / 16 weeks asks 2 a week at first.
    assert per_week[0] == 2 and max(per_week) <= 4
    assert all(a.feedback_id is not None for a in done)


def test_no_clash_with_a_visit_planned_in_another_terms_draw(
    session: Session, plan: Plan, factory: Factory
):
    """Two terms running at once (e.g. a short summer term) share the supervisor's week."""
    first_term = plan.term
    other = factory.term("OVERLAP", first_term.start_date, first_term.end_date)
    plan.term = other
    add_sections(factory, plan, "CS-SE", 8, prefix="OV", meetings=["Mon 1-2", "Tue 3-4"])
    service.save_settings(session, term=other, values={"visits_per_week": 2})
    for code, section in plan.sections.items():
        if code.startswith("CS-"):
            section.meetings = "Mon 1-2; Tue 3-4"
            session.add(section)
    session.commit()
    for seed in range(15):
        a = draw_week(session, term=first_term, week=2, seed=seed, replace=True)
        b = draw_week(session, term=other, week=2, seed=seed + 100, replace=True)
        slots = [
            (x.visit_date, x.first_period)
            for x in _assignments(session, a) + _assignments(session, b)
            if x.supervisor_id == plan.cs_sup.id
        ]
        assert len(slots) == len(set(slots)), seed
        # Only two slots exist in the week, and the first term's draw took both.
        assert len(slots) == 2 and "cs-sup" in b.parameters["shortfalls"]
