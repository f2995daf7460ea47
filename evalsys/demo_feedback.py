"""Feedback for the demo university, so its pages, dashboards and reports have figures.

Spot checks on part of each term's sections, open classes, and tutor-group reports, in
the demo's past terms and in the current one up to yesterday. Every record goes through
:func:`evalsys.feedback.writes.submit_feedback`, so it passes the same checks as a form,
and carries an idempotency key (``demo:…``), so running the demo again stores nothing
new. Scores follow a per-teacher level (a few teachers weaker, so flags appear), drawn
from a fixed seed: every run builds the same records. Each term is then aggregated.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, time, timedelta

from sqlalchemy import text
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.aggregation.service import aggregate_term, last_run
from evalsys.clock import local_today, site_datetime
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import suggested_grade
from evalsys.feedback.writes import submit_feedback
from evalsys.org.models import Course, Section, Term, TutorGroup

SEED = 2027
#: Shares of a term's sections given a spot check (and of those, a second one), an open
#: class; share of tutor groups that report.
SPOT_SHARE, SECOND_SPOT_SHARE, OPEN_SHARE, GROUP_SHARE = 0.45, 0.2, 0.12, 0.6

STRENGTHS = [
    "讲解清楚，重点突出",
    "板书工整，条理清晰",
    "联系工程实际，例子生动",
    "课堂互动好，学生积极回答问题",
    "准备充分，时间安排合理",
]
PROBLEMS = [
    "课堂互动偏少，后排学生参与度低",
    "语速偏快，难点讲解不够充分",
    "部分学生迟到、看手机，课堂纪律需加强",
    "课件文字过多，重点不突出",
    "作业反馈不及时",
]
SUGGESTIONS = [
    "增加提问和小组讨论",
    "放慢语速，难点处多举例",
    "课前明确课堂纪律要求",
    "精简课件，突出关键概念",
    "及时批改作业并在课上讲评",
]
TOPICS = ["选课与培养方案", "实习与实践安排", "课程难度与学习方法", "毕业设计选题", "考研与就业"]
GROUP_PROBLEMS = [
    "实践课时偏少",
    "部分课程内容重复",
    "选修课可选范围窄",
    "专业课与就业需求衔接不够",
]
GROUP_SUGGESTIONS = ["增加实践环节", "调整课程先后顺序", "开设更多选修课", "邀请企业导师讲座"]
LOCATIONS = ["教一-101", "教二-203", "教三-305", "实验楼-402", "图书馆报告厅"]
PERIODS = ["1-2节", "3-4节", "5-6节", "7-8节"]


def load_demo_feedback(
    session: Session, *, terms: list[str], echo: Callable[[str], object] = print
) -> None:
    """Submit the demo records of ``terms`` (codes) and aggregate each; commits."""
    rng = random.Random(SEED)
    today = local_today()
    observers = _observers(session)
    for code in terms:
        term = session.exec(select(Term).where(Term.code == code)).one()
        last_day = min(term.end_date, today - timedelta(days=1))
        if last_day < term.start_date:
            echo(f"Feedback {code}: the term has not begun")
            continue
        before = _count(session, term)
        made = _term_records(session, rng, term, last_day, observers)
        session.commit()
        new = _count(session, term) - before
        echo(f"Feedback {code}: {made} records ({new} new)")
        # Ignored below: a stored row's id, never None.
        if new or last_run(session, term.id, succeeded=True) is None:  # type: ignore[arg-type]
            run = aggregate_term(session, term=term, final=term.end_date < today)
            echo(f"Aggregated {code}: {run.result_count} results, {run.flag_count} flags")


def _count(session: Session, term: Term) -> int:
    return len(session.exec(select(Feedback.id).where(Feedback.term_id == term.id)).all())


def _observers(session: Session) -> dict[str, dict[int, list[User]]]:
    """For each role, the users whose grant covers each department (by department id)."""
    rows = session.execute(
        text(
            "SELECT g.role, c.descendant_id, g.user_id FROM role_grant g "
            "JOIN org_unit_closure c ON c.ancestor_id = g.unit_id "
            "JOIN org_unit u ON u.id = c.descendant_id AND u.kind = 'department' "
            "WHERE g.role IN ('supervisor', 'leader') ORDER BY g.role, c.descendant_id, g.user_id"
        )
    ).all()
    users = {u.id: u for u in session.exec(select(User)).all()}
    out: dict[str, dict[int, list[User]]] = {"supervisor": {}, "leader": {}}
    for role, dept, user_id in rows:
        out[role].setdefault(dept, []).append(users[user_id])
    return out


def _term_records(
    session: Session,
    rng: random.Random,
    term: Term,
    last_day: date,
    observers: dict[str, dict[int, list[User]]],
) -> int:
    items = {
        # Ignored below: the demo seeds a rubric per kind.
        kind: rubrics.rubric_items(session, rubrics.current_rubric(session, kind).id)  # type: ignore[union-attr,arg-type]
        for kind in ("spot_check", "open_class", "tutor_group")
    }
    sections = session.exec(
        select(Section, Course.department_id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.term_id == term.id)
        .order_by(col(Section.code))
    ).all()
    made = 0
    for section, dept in sections:
        level = _level(section.teacher_id)
        visits = []
        if rng.random() < SPOT_SHARE:
            visits.append("spot_check")
            if rng.random() < SECOND_SPOT_SHARE:
                visits.append("spot_check")
        if rng.random() < OPEN_SHARE:
            visits.append("open_class")
        for number, kind in enumerate(visits):
            role = "supervisor" if kind == "spot_check" else "leader"
            people = observers[role].get(dept)
            if not people:
                continue
            observer = rng.choice(people)
            day = _weekday(rng, term.start_date, last_day)
            data = _class_record(rng, kind, section, day, items[kind], level)
            key = f"demo:{term.code}:{section.code}:{kind}:{number}"
            submit_feedback(
                session,
                user=observer,
                data=data,
                idempotency_key=key,
                now=site_datetime(day, time(10)),
                today=day,
            )
            made += 1
    groups = session.exec(
        select(TutorGroup).where(TutorGroup.term_id == term.id).order_by(col(TutorGroup.code))
    ).all()
    tutors = {u.id: u for u in session.exec(select(User)).all()}
    for group in groups:
        if group.tutor_id is None or rng.random() >= GROUP_SHARE:
            continue
        day = _weekday(rng, term.start_date, last_day)
        submit_feedback(
            session,
            user=tutors[group.tutor_id],
            data=_group_record(rng, group, day, items["tutor_group"]),
            idempotency_key=f"demo:{term.code}:{group.code}:tutor_group",
            now=site_datetime(day, time(16)),
            today=day,
        )
        made += 1
    return made


def _level(teacher_id: int | None) -> float:
    """A teacher's usual level (share of the scale): most good, some weaker (seeded by id)."""
    own = random.Random(f"{SEED}:{teacher_id}")
    return 0.55 + 0.25 * own.random() if own.random() < 0.12 else 0.78 + 0.17 * own.random()


def _weekday(rng: random.Random, first: date, last: date) -> date:
    while True:
        day = first + timedelta(days=rng.randrange((last - first).days + 1))
        if day.weekday() < 5 or first == last:
            return day


def _scores(rng: random.Random, items: list, level: float) -> dict[str, float | None]:
    scores: dict[str, float | None] = {}
    for item in items:
        span = item.scale_max - item.scale_min
        share = min(1.0, max(0.0, rng.gauss(level, 0.08)))
        scores[item.code] = item.scale_min + round(share * span)
    return scores


def _grade(items: list, scores: dict[str, float | None]) -> str | None:
    total = sum(i.weight for i in items)
    score = 100 * sum(
        i.weight * ((scores[i.code] or 0) - i.scale_min) / (i.scale_max - i.scale_min)
        for i in items
    )
    grade = suggested_grade(score / total if total else None)
    return grade.value if grade else None


def _class_record(
    rng: random.Random, kind: str, section: Section, day: date, items: list, level: float
) -> FeedbackInput:
    scores = _scores(rng, items, level)
    enrolled = section.enrolled or 40
    present = max(0, enrolled - rng.randrange(0, max(1, enrolled // 8)))
    weak = level < 0.75
    data = FeedbackInput(
        kind=kind,
        section=section.code,
        date=day,
        enrolled=enrolled,
        present=present,
        late=rng.randrange(0, min(5, present) + 1),
        scores=scores,
        overall_grade=_grade(items, scores),
        strengths=rng.choice(STRENGTHS),
        problems=rng.choice(PROBLEMS) if weak or rng.random() < 0.4 else None,
        suggestions=rng.choice(SUGGESTIONS) if weak or rng.random() < 0.4 else None,
    )
    if kind == "spot_check":
        data.announced = rng.random() < 0.3
        data.class_period = rng.choice(PERIODS)
        data.location = rng.choice(LOCATIONS)
    else:
        data.observer_level = rng.choice(["college_leader", "college_leader", "peer"])
    return data


def _group_record(rng: random.Random, group: TutorGroup, day: date, items: list) -> FeedbackInput:
    scores = _scores(rng, items, 0.8)
    size = group.size or 10
    return FeedbackInput(
        kind="tutor_group",
        group=group.code,
        date=day,
        meeting_format=rng.choice(["tutor_meeting", "student_discussion"]),
        attending=max(1, size - rng.randrange(0, 3)),
        topics=rng.choice(TOPICS),
        scores=scores,
        overall_grade=_grade(items, scores),
        problems=rng.choice(GROUP_PROBLEMS),
        suggestions=rng.choice(GROUP_SUGGESTIONS),
    )
