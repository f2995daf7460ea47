"""Fixtures for feedback tests: a small university with sections, groups, people, rubrics."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlmodel import Session

from evalsys.accounts.models import User
from evalsys.feedback import rubrics
from evalsys.feedback.cli import rubric_cli
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.vocab import FeedbackKind
from evalsys.org.models import Section, Term, TutorGroup
from tests.factories import Factory
from tests.worlds import built_once

#: A day inside the test term (2026-09-01 .. 2027-01-20) that the tests treat as today.
TODAY = date(2026, 10, 15)
NOW = datetime(2026, 10, 15, 10, 0, tzinfo=UTC)


@dataclass
class World:
    term: Term
    se: Section  # CS-SE section taught by `teacher`
    math: Section  # MATH-PURE section
    group: TutorGroup  # tutored by `tutor`
    other_group: TutorGroup  # tutored by `tutor2`
    teacher: User
    supervisor: User  # supervisor@CS
    leader: User  # leader@CS
    tutor: User
    tutor2: User
    admin: User  # admin@U
    math_admin: User  # admin@MATH


@pytest.fixture
def world(factory: Factory, session: Session) -> World:
    """Built once per test process and copied into each test (:mod:`tests.worlds`)."""
    return built_once("feedback", session, lambda: _build(factory, session))


def _build(factory: Factory, session: Session) -> World:
    units = factory.university()
    term = factory.term()
    teacher = factory.user("teacher", "teacher@CS-SE")
    math_teacher = factory.user("mteacher", "teacher@MATH-PURE")
    se_course = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    math_course = factory.course("MA101", units["MATH-PURE"], title="数学分析")
    tutor = factory.user("tutor", "tutor@CS-SE")
    tutor2 = factory.user("tutor2", "tutor@CS-SE")
    world = World(
        term=term,
        se=factory.section("SE101-01", se_course, term, teacher=teacher, enrolled=40),
        math=factory.section("MA101-01", math_course, term, teacher=math_teacher),
        group=factory.group("G-SE-1", units["CS-SE"], term, tutor=tutor),
        other_group=factory.group("G-SE-2", units["CS-SE"], term, tutor=tutor2),
        teacher=teacher,
        supervisor=factory.user("sup", "supervisor@CS"),
        leader=factory.user("leader", "leader@CS"),
        tutor=tutor,
        tutor2=tutor2,
        admin=factory.user("admin", "admin@U"),
        math_admin=factory.user("madmin", "admin@MATH"),
    )
    rubrics.ensure_default_rubrics(session)
    return world


def full_scores(session: Session, kind: str, value: float | None = None) -> dict[str, float]:
    """A score for every item of the current rubric (the top of each scale by default)."""
    rubric = rubrics.current_rubric(session, kind)
    assert rubric is not None
    items = rubrics.rubric_items(session, rubric.id)  # type: ignore[arg-type]
    return {i.code: (i.scale_max if value is None else value) for i in items}


@pytest.fixture
def make_input(session: Session, world: World):
    """``make_input(kind, **overrides)``: a valid FeedbackInput of that kind, then overridden."""

    def make(kind: str = FeedbackKind.SPOT_CHECK, **overrides: Any) -> FeedbackInput:
        base = FeedbackInput(
            kind=kind,
            date=TODAY,
            scores=full_scores(session, kind, 8 if kind != "tutor_group" else 4),
        )
        if kind == FeedbackKind.TUTOR_GROUP:
            base = replace(
                base,
                group="G-SE-1",
                meeting_format="student_discussion",
                attending=8,
                topics="选课与实习安排",
            )
        else:
            base = replace(base, section="SE101-01", enrolled=40, present=36, late=2)
            if kind == FeedbackKind.SPOT_CHECK:
                base = replace(base, announced=False, class_period="3-4节", location="教一-201")
            else:
                base = replace(base, observer_level="college_leader")
        base = replace(base, strengths="讲解清楚", problems="互动偏少", suggestions="增加提问")
        return replace(base, **overrides)

    return make


@pytest.fixture
def run_rubric_cli(app: Flask):
    """Runs ``evalsys rubric ...`` against the test app."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(rubric_cli, list(args), obj=ScriptInfo(create_app=lambda: app))

    return run
