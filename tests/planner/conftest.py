"""A small university with timetabled sections, supervisors of different scopes, and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlmodel import Session

from evalsys.accounts.models import User
from evalsys.clock import local_today
from evalsys.feedback import rubrics
from evalsys.org.models import OrgUnit, Section, Term
from evalsys.planner import service, weeks
from evalsys.planner.draw import draw_week
from tests.factories import Factory

#: A Monday-started term of 18 weeks: 2026-09-07 .. 2027-01-10.
TERM_START = date(2026, 9, 7)
TERM_END = date(2027, 1, 10)

#: Weekday/period patterns handed out to sections in turn (no two on one slot per teacher).
PATTERNS = ["Mon 1-2; Wed 3-4", "Tue 3-4; Thu 1-2", "Mon 5-6", "Wed 1-2; Fri 3-4", "Thu 5-6"]


@dataclass
class Plan:
    term: Term
    units: dict[str, OrgUnit]
    cs_sup: User  # supervisor@CS
    math_sup: User  # supervisor@MATH
    teachers: dict[str, User] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    admin: User | None = None


def add_sections(
    factory: Factory,
    plan: Plan,
    dept: str,
    count: int,
    *,
    prefix: str | None = None,
    meetings: list[str] | None = None,
) -> list[Section]:
    """``count`` sections in ``dept``, each with its own new teacher."""
    prefix = prefix or dept
    course = factory.course(f"{prefix}-C", plan.units[dept])
    made = []
    for i in range(count):
        teacher = factory.user(f"{prefix.lower()}-t{i:02d}", f"teacher@{dept}")
        section = factory.section(f"{prefix}-S{i:02d}", course, plan.term, teacher=teacher)
        section.meetings = (meetings or PATTERNS)[i % len(meetings or PATTERNS)]
        factory.session.add(section)
        plan.teachers[teacher.username] = teacher
        plan.sections[section.code] = section
        made.append(section)
    factory.session.commit()
    return made


@pytest.fixture
def plan(factory: Factory, session: Session) -> Plan:
    units = factory.university()
    term = factory.term("2026-2027-1", TERM_START, TERM_END)
    p = Plan(
        term=term,
        units=units,
        cs_sup=factory.user("cs-sup", "supervisor@CS"),
        math_sup=factory.user("math-sup", "supervisor@MATH"),
    )
    add_sections(factory, p, "CS-SE", 6)
    add_sections(factory, p, "CS-AI", 4)
    add_sections(factory, p, "MATH-PURE", 5)
    p.admin = factory.user("admin", "admin@U")
    service.save_settings(
        session,
        term=term,
        values={"visits_per_week": 2, "max_visits_per_week": 4, "visits_per_teacher": 1},
    )
    rubrics.ensure_default_rubrics(session)
    session.commit()
    return p


@pytest.fixture
def now_plan(app: Flask, session: Session, factory: Factory, plan: Plan) -> Plan:
    """The plan moved to a term running today, with this week drawn."""
    today = local_today(app.config)
    term = factory.term("NOW", today - timedelta(days=28), today + timedelta(days=70))
    plan.term = term
    plan.sections = {}
    add_sections(factory, plan, "CS-SE", 6, prefix="NSE")
    add_sections(factory, plan, "MATH-PURE", 4, prefix="NMA")
    service.save_settings(session, term=term, values={"visits_per_week": 3})
    session.commit()
    draw_week(session, term=term, week=weeks.week_of(term, today), seed=12)
    session.commit()
    return plan
