"""A term's draws as a college admin sees them: only what falls in their units.

A draw is the whole school's, but the term page is open to every unit admin.
Its table must not name a supervisor of another college (the shortfalls are
keyed by username) nor count that college's assignments.
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from evalsys.org.models import Course, Section
from evalsys.planner import service
from evalsys.planner.draw import draw_week
from evalsys.planner.models import Assignment, Draw
from tests.factories import Factory
from tests.planner.conftest import Plan


def _draw_with_shortfalls(session: Session, plan: Plan) -> Draw:
    """A quota no supervisor can meet: both the CS and the MATH supervisor fall short."""
    service.save_settings(
        session,
        term=plan.term,
        values={"visits_per_week": 20, "max_visits_per_week": 20, "visits_per_teacher": 0},
    )
    draw = draw_week(session, term=plan.term, week=2, seed=7)
    session.commit()
    assert {"cs-sup", "math-sup"} <= set(draw.parameters["shortfalls"])
    return draw


def _assignments_in(session: Session, draw: Draw, department_codes: set[str]) -> int:
    math_sections = (
        select(Section.id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(col(Course.code).in_([f"{d}-C" for d in department_codes]))
    )
    return len(
        session.exec(
            select(Assignment.id).where(
                Assignment.draw_id == draw.id, col(Assignment.section_id).in_(math_sections)
            )
        ).all()
    )


def _draws_row(page: str, draw: Draw) -> str:
    """The draws table's row of ``draw`` (found by its seed)."""
    match = re.search(rf"<tr><td>{draw.week}</td>.*?<code>{draw.seed}</code>.*?</tr>", page, re.S)
    assert match, "no row for the draw"
    return match.group(0)


def test_a_college_admin_sees_the_draws_shortfalls_and_counts_of_their_units_only(
    client, auth, session: Session, plan: Plan, factory: Factory
):
    draw = _draw_with_shortfalls(session, plan)
    total = draw.parameters["assignments"]
    in_math = _assignments_in(session, draw, {"MATH-PURE"})
    assert 0 < in_math < total
    factory.user("math-admin", "admin@MATH")
    auth.login("math-admin")
    page = client.get(f"/planner/terms/{plan.term.code}").get_data(as_text=True)
    row = _draws_row(page, draw)
    assert "math-sup" in row  # their own supervisor's shortfall
    assert "cs-sup" not in page  # never another college's supervisor
    assert f"<td>{in_math}</td>" in row and f"<td>{total}</td>" not in row


def test_the_school_admin_still_sees_the_whole_draw(client, auth, session: Session, plan: Plan):
    draw = _draw_with_shortfalls(session, plan)
    auth.login("admin")
    page = client.get(f"/planner/terms/{plan.term.code}").get_data(as_text=True)
    row = _draws_row(page, draw)
    assert "math-sup" in row and "cs-sup" in row
    assert f"<td>{draw.parameters['assignments']}</td>" in row
