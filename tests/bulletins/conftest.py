"""A week of supervision to write a bulletin about: 2026-W45 (2–8 November) of term T2.

Built once per run on ``bare_uni``. Records fall in the week, before it and after it
(and a draft in it); problems and actions are created around the week's site-time
edges (Asia/Shanghai: 2026-11-01 17:00 UTC is already Monday the 2nd there).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from evalsys.feedback.models import Feedback
from evalsys.loop.models import Action, Problem
from evalsys.planner.models import Assignment, Draw, PlanSetting
from tests.fixtures.universities import Uni
from tests.worlds import built_once

TEACHER_ZH = "王建国"
TEACHER_EN = "Li Ming"
WEEK = "2026-W45"
EMPTY_WEEK = "2026-W30"  # between the terms, before anything is due

#: (section, observer, visit day, kind, status, problems text)
RECORDS = [
    (
        "T2-SE1-0",
        0,
        date(2026, 11, 2),
        "spot_check",
        "submitted",
        "王老师互动少，T2-SE1-0 学生参与度低",
    ),
    ("T2-SE1-0", 1, date(2026, 11, 3), "spot_check", "submitted", "板书潦草，王建国老师语速快"),
    ("T2-AI1-0", 1, date(2026, 11, 4), "spot_check", "submitted", "Li Ming reads from the slides."),
    ("T2-AI1-0", 0, date(2026, 11, 8), "open_class", "submitted", ""),
    ("T2-MP1-0", 0, date(2026, 11, 5), "spot_check", "submitted", "Too fast for the students."),
    ("T2-SE1-0", 0, date(2026, 10, 28), "spot_check", "submitted", "上周的记录"),
    ("T2-AI1-0", 1, date(2026, 11, 9), "spot_check", "submitted", "next week's record"),
    ("T2-MP1-0", 1, date(2026, 11, 6), "spot_check", "draft", "草稿"),
]


@dataclass
class BulletinWorld:
    uni: Uni
    supervisors: list[int]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def bulletin_world(bare_uni: Uni, factory, session) -> BulletinWorld:
    def build() -> BulletinWorld:
        uni = bare_uni
        rng = random.Random(45)
        sups = [factory.user("sup_u", "supervisor@U"), factory.user("sup_cs", "supervisor@CS")]
        wang = factory.user("wang", "teacher@CS-SE", name=TEACHER_ZH)
        li = factory.user("li", "teacher@CS-AI", name=TEACHER_EN)
        ma = factory.user("ma", "teacher@MATH-PURE", name="马老师")
        zhao = factory.user("zhao", "teacher@CS-SE", name="赵六")
        factory.user("dean_cs", "dean@CS")
        factory.user("leader", "leader@U")
        term = uni.terms["T2"]
        for code, dept in (("SE1", "CS-SE"), ("AI1", "CS-AI"), ("MP1", "MATH-PURE")):
            uni.courses[code] = factory.course(code, uni.units[dept])
        for scode, course, teacher in (
            ("T2-SE1-0", "SE1", wang),
            ("T2-SE1-1", "SE1", zhao),
            ("T2-AI1-0", "AI1", li),
            ("T2-MP1-0", "MP1", ma),
        ):
            uni.sections[scode] = factory.section(scode, uni.courses[course], term, teacher=teacher)
        for scode, who, day, kind, status, words in RECORDS:
            items = uni.item_codes(kind)
            scores = {i.code: float(rng.randint(i.scale_min, i.scale_max)) for i in items}
            fb: Feedback = uni.add(
                kind, observer=sups[who], section=scode, scores=scores, term="T2", status=status
            )
            fb.visit_date, fb.problems = day, words or None
            session.add(fb)
        session.add(PlanSetting(term_id=term.id, visits_per_week=1, visits_per_teacher=1))
        draw = Draw(term_id=term.id, week=10, seed=1, week_start=date(2026, 11, 2))
        session.add(draw)
        session.flush()
        for sup, scode, day, status in (
            (sups[1], "T2-SE1-0", date(2026, 11, 3), "done"),
            (sups[1], "T2-SE1-1", date(2026, 11, 4), "missed"),
            (sups[0], "T2-MP1-0", date(2026, 11, 6), "planned"),
        ):
            session.add(
                Assignment(
                    draw_id=draw.id,
                    term_id=term.id,
                    supervisor_id=sup.id,
                    section_id=uni.sections[scode].id,
                    visit_date=day,
                    first_period=1,
                    last_period=2,
                    announced=True,
                    status=status,
                )
            )
        problems = {}
        for key, unit, created in (
            ("in_cs_monday_site", "CS-SE", _utc(2026, 11, 1, 17)),  # Monday 01:00 in Shanghai
            ("in_math", "MATH-PURE", _utc(2026, 11, 4, 3)),
            ("before", "CS", _utc(2026, 11, 1, 15)),  # Sunday 23:00 in Shanghai
            ("after", "CS-AI", _utc(2026, 11, 8, 16, 30)),  # next Monday 00:30 there
        ):
            p = Problem(
                term_id=term.id,
                unit_id=uni.units[unit].id,
                title=f"problem {key}",
                created_at=created,
                updated_at=created,
            )
            session.add(p)
            session.flush()
            problems[key] = p
        for title, key, due, status, created in (
            ("overdue open", "before", date(2026, 11, 6), "open", _utc(2026, 10, 20)),
            ("overdue done", "before", date(2026, 11, 6), "done", _utc(2026, 10, 20)),
            ("new this week", "in_cs_monday_site", date(2026, 12, 1), "open", _utc(2026, 11, 3)),
            ("due next week", "in_math", date(2026, 11, 10), "open", _utc(2026, 11, 4, 5)),
        ):
            session.add(
                Action(
                    problem_id=problems[key].id,
                    title=title,
                    owner_id=sups[0].id,
                    due_date=due,
                    status=status,
                    created_at=created,
                    updated_at=created,
                )
            )
        session.commit()
        return BulletinWorld(uni=uni, supervisors=[s.id for s in sups])

    return built_once("bulletin-world", session, build, on="bare_uni")
