"""An assignment is done when its spot check is submitted, open again when it is withdrawn."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from evalsys import signals
from evalsys.feedback.models import Feedback
from evalsys.feedback.reads import input_from_feedback
from evalsys.feedback.vocab import RevisionAction
from evalsys.feedback.writes import update_feedback, withdraw_feedback
from evalsys.org.models import Section
from evalsys.planner import link, weeks
from evalsys.planner.draw import draw_week
from evalsys.planner.models import Assignment, AssignmentStatus
from tests.factories import Factory
from tests.planner.conftest import Plan
from tests.planner.helpers import visit


def _first(session: Session, plan: Plan, week: int) -> tuple[Assignment, Section]:
    draw = draw_week(session, term=plan.term, week=week, seed=5)
    session.commit()
    a = session.exec(
        select(Assignment)
        .where(Assignment.draw_id == draw.id, Assignment.supervisor_id == plan.cs_sup.id)
        .order_by(Assignment.id)
    ).first()
    assert a is not None
    return a, session.get(Section, a.section_id)  # type: ignore[return-value]


def test_submitting_the_spot_check_marks_the_assignment_done(session: Session, plan: Plan):
    a, section = _first(session, plan, 3)
    record = visit(session, plan.cs_sup, section, a.visit_date)
    session.commit()
    session.refresh(a)
    assert (a.status, a.feedback_id) == (AssignmentStatus.DONE, record.id)


def test_another_day_of_the_same_week_counts_another_week_or_observer_does_not(
    session: Session, plan: Plan, factory: Factory
):
    a, section = _first(session, plan, 3)
    monday = a.visit_date - timedelta(days=a.visit_date.weekday())
    other_section = next(
        s for code, s in plan.sections.items() if code.startswith("CS-") and s.id != section.id
    )
    school_sup = factory.user("school-sup", "supervisor@U")
    visit(session, plan.cs_sup, section, monday - timedelta(days=1))  # the Sunday before
    visit(session, plan.cs_sup, other_section, a.visit_date)  # another section
    visit(session, school_sup, section, a.visit_date)  # another observer
    session.commit()
    session.refresh(a)
    assert a.status == AssignmentStatus.PLANNED and a.feedback_id is None
    record = visit(session, plan.cs_sup, section, monday + timedelta(days=6))  # same week
    session.commit()
    session.refresh(a)
    assert (a.status, a.feedback_id) == (AssignmentStatus.DONE, record.id)


def test_withdrawing_the_record_opens_the_assignment_again(session: Session, plan: Plan):
    a, section = _first(session, plan, 3)
    record = visit(session, plan.cs_sup, section, a.visit_date)
    session.commit()
    now = datetime.combine(a.visit_date, datetime.min.time(), UTC) + timedelta(hours=12)
    withdraw_feedback(session, user=plan.cs_sup, feedback=record, now=now)
    session.commit()
    session.refresh(a)
    assert (a.status, a.feedback_id) == (AssignmentStatus.PLANNED, None)


def test_the_feedback_service_reaches_the_planner_through_its_signal(session: Session, plan: Plan):
    """Feedback announces each change with the session and record; the planner is listening."""
    heard: list[tuple[int | None, str, bool]] = []

    def listen(feedback: Feedback, *, session: Session, action: RevisionAction, **_) -> None:
        heard.append((feedback.id, action, session is given))

    given = session
    a, section = _first(session, plan, 3)
    signals.feedback_changed.connect(listen)
    try:
        record = visit(session, plan.cs_sup, section, a.visit_date)
        session.commit()
        session.refresh(a)
        assert (a.status, a.feedback_id) == (AssignmentStatus.DONE, record.id)
        now = datetime.combine(a.visit_date, datetime.min.time(), UTC) + timedelta(hours=12)
        withdraw_feedback(session, user=plan.cs_sup, feedback=record, now=now)
        session.commit()
    finally:
        signals.feedback_changed.disconnect(listen)
    session.refresh(a)
    assert (a.status, a.feedback_id) == (AssignmentStatus.PLANNED, None)
    assert heard == [
        (record.id, RevisionAction.CREATE, True),  # created submitted
        (record.id, RevisionAction.WITHDRAW, True),
    ]


def test_missed_when_the_week_ends_and_a_late_record_still_fulfils_it(session: Session, plan: Plan):
    a, section = _first(session, plan, 3)
    monday = a.visit_date - timedelta(days=a.visit_date.weekday())
    assert link.mark_missed(session, today=monday + timedelta(days=6)) == 0  # still its week
    marked = link.mark_missed(session, today=monday + timedelta(days=7))
    session.commit()
    session.refresh(a)
    assert marked >= 1 and a.status == AssignmentStatus.MISSED
    record = visit(session, plan.cs_sup, section, a.visit_date)
    session.commit()
    session.refresh(a)
    assert (a.status, a.feedback_id) == (AssignmentStatus.DONE, record.id)


def test_a_visit_made_before_the_draw_is_linked_by_the_draw(session: Session, plan: Plan):
    # Only one CS section can be drawn, so the CS supervisor's draw is forced.
    only = plan.sections["CS-SE-S00"]
    for code, section in plan.sections.items():
        if code.startswith("CS-") and code != only.code:
            section.meetings = None
            session.add(section)
    session.commit()
    tuesday = weeks.week_start(plan.term, 7) + timedelta(days=1)
    record = visit(session, plan.cs_sup, only, tuesday)
    session.commit()
    draw = draw_week(session, term=plan.term, week=7, seed=9)
    session.commit()
    mine = session.exec(
        select(Assignment).where(
            Assignment.draw_id == draw.id, Assignment.supervisor_id == plan.cs_sup.id
        )
    ).all()
    assert [(a.section_id, a.feedback_id, a.status) for a in mine] == [
        (only.id, record.id, AssignmentStatus.DONE)
    ]


def test_moving_the_record_to_another_section_moves_the_done_mark(session: Session, plan: Plan):
    draw = draw_week(session, term=plan.term, week=3, seed=5)
    session.commit()
    first, second = session.exec(
        select(Assignment)
        .where(Assignment.draw_id == draw.id, Assignment.supervisor_id == plan.cs_sup.id)
        .order_by(Assignment.id)
    ).all()
    # The record is made for the later assignment first, then corrected to the earlier one:
    # the earlier row is updated while the later still holds the link, unless unlinked first.
    record = visit(session, plan.cs_sup, session.get(Section, second.section_id), second.visit_date)  # type: ignore[arg-type]
    session.commit()
    data = replace(
        input_from_feedback(session, record),
        section=session.get(Section, first.section_id).code,  # type: ignore[union-attr]
        date=first.visit_date,
    )
    update_feedback(session, user=plan.cs_sup, feedback=record, data=data, today=first.visit_date)
    session.commit()
    session.refresh(first)
    session.refresh(second)
    assert (first.status, first.feedback_id) == (AssignmentStatus.DONE, record.id)
    assert (second.status, second.feedback_id) == (AssignmentStatus.PLANNED, None)
