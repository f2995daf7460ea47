"""The demo's training-plan change: one adjustment of the software-engineering programme,
decided on a problem of the first demo term and in effect from the second, so the
programme page shows the loop from evidence to effect with figures on both sides.

Written by ``evalsys demo`` after the demo feedback (the figures need it); it is found
again by its problem's title, so running the demo again adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from sqlmodel import Session, col, select

from evalsys.accounts.models import RoleGrant, User
from evalsys.aggregation.models import ALL_KINDS, OVERALL, AggregateResult
from evalsys.loop.actions import ActionInput, create_action, update_action
from evalsys.loop.meetings import create_meeting
from evalsys.loop.models import Problem
from evalsys.loop.problems import create_problem
from evalsys.org.models import Course, OrgUnit, Term
from evalsys.programmes.service import programme_by_code, programme_courses

PROGRAMME = "CS-SE-BS"
TITLE = "实践环节偏少，学生动手能力不足"
CHANGE = "增设每周 2 学时上机实践，相应减少 2 学时讲授"


def _course_with_figures(session: Session, programme_id: int, terms: list[Term]) -> Course | None:
    """The programme's course with the most records in the poorer of the two terms (the
    demo observes few classes of each course): figures on both sides of the change."""
    courses = {c.id: c for c in programme_courses(session, [programme_id])[programme_id]}
    rows = session.exec(
        select(AggregateResult.unit_id, AggregateResult.term_id, AggregateResult.n).where(
            AggregateResult.level == "course",
            AggregateResult.kind == ALL_KINDS,
            AggregateResult.dimension == OVERALL,
            col(AggregateResult.unit_id).in_(list(courses)),
            col(AggregateResult.term_id).in_([t.id for t in terms]),
        )
    ).all()
    n: dict[int, dict[int, int]] = {}
    for course_id, term_id, count in rows:
        n.setdefault(course_id, {})[term_id] = count
    both = [(min(by_term.values()), -cid) for cid, by_term in n.items() if len(by_term) == 2]
    if not both:
        return next(iter(courses.values()), None)
    return courses[-max(both)[1]]


def load_demo_plan_change(
    session: Session, *, before: str, after: str, echo: Callable[[str], object] = print
) -> None:
    """Decide the change on a problem of term ``before``, applying from term ``after``."""
    programme = programme_by_code(session, PROGRAMME)
    first = session.exec(select(Term).where(Term.code == before)).first()
    second = session.exec(select(Term).where(Term.code == after)).first()
    if programme is None or first is None or second is None or programme.id is None:
        return
    department = session.get(OrgUnit, programme.department_id)
    assert department is not None  # a NOT NULL foreign key
    seen = select(Problem.id).where(
        Problem.title == TITLE, Problem.unit_id == department.id, Problem.term_id == first.id
    )
    if session.exec(seen).first() is not None:
        echo(f"Training-plan change of {PROGRAMME}: already there")
        return
    head = session.exec(
        select(User)
        .join(RoleGrant, col(RoleGrant.user_id) == User.id)
        .where(RoleGrant.role == "head", RoleGrant.unit_id == department.id)
        .order_by(col(User.id))
    ).first()
    course = _course_with_figures(session, programme.id, [first, second])
    if head is None or course is None:
        return
    decided_on = first.end_date - timedelta(days=14)
    problem = create_problem(
        session,
        term=first,
        unit=department,
        user=head,
        title=TITLE,
        category="training_plan",
        severity="medium",
        description="督导听课反映：课堂以讲授为主，学生上机练习时间少。",
    )
    meeting = create_meeting(
        session,
        unit=department,
        term=first,
        user=head,
        held_on=decided_on,
        title="实践教学专题研讨会",
        decisions=f"{course.title}：{CHANGE}。",
        attendee_ids=[head.id] if head.id is not None else [],
        problem_ids=[problem.id] if problem.id is not None else [],
    )
    action = create_action(
        session,
        problem=problem,
        user=head,
        today=decided_on,
        data=ActionInput(
            title="调整培养方案：增加上机实践",
            owner_id=head.id,
            due_date=second.start_date,
            plan_programme_id=programme.id,
            meeting_id=meeting.id,
            plan_course_id=course.id,
            plan_change=f"{course.title}：{CHANGE}",
            plan_from_term_id=second.id,
        ),
    )
    update_action(session, action=action, user=head, status="done", today=decided_on)
    # Dated as decided (the demo writes it today), so the log reads as the loop ran.
    when = datetime.combine(decided_on, time(10), tzinfo=UTC)
    problem.created_at = problem.updated_at = action.created_at = when
    session.add_all([problem, action])
    echo(f"Training-plan change of {PROGRAMME}: decided in {before}, in effect from {after}")
