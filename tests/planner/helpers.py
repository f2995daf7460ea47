"""Helpers for planner tests: submit the spot check that fulfils an assignment."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from evalsys.accounts.models import User
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback
from evalsys.feedback.writes import submit_feedback
from evalsys.org.models import Section
from evalsys.planner.models import Assignment
from tests.fixtures.feedback_world import full_scores


def visit(
    session: Session, supervisor: User, section: Section | str, day: date, **extra
) -> Feedback:
    """Submit a spot check of ``section`` on ``day`` by ``supervisor`` (through the service)."""
    code = section if isinstance(section, str) else section.code
    data = FeedbackInput(
        kind="spot_check",
        section=code,
        date=day,
        announced=extra.pop("announced", False),
        scores=full_scores(session, "spot_check", 8),
        **extra,
    )
    return submit_feedback(session, user=supervisor, data=data, today=day)


def fulfil_all(session: Session, draw_id: int) -> int:
    """Make every assignment of the draw: one spot check each, on its date."""
    rows = session.exec(select(Assignment).where(Assignment.draw_id == draw_id)).all()
    for a in rows:
        supervisor = session.get(User, a.supervisor_id)
        section = session.get(Section, a.section_id)
        assert supervisor is not None and section is not None
        visit(session, supervisor, section, a.visit_date)
    session.commit()
    return len(rows)
