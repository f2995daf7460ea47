"""A university with one user per role, records and reports inside and outside their scope.

Every principal's grant covers CS (or its department CS-SE); the "outside" objects
sit in MATH-PURE and carry the marker text ``OUTSIDE-SCOPE`` so that list pages
can be checked for leaks. ``root`` is an admin of the whole school.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlmodel import Session, select

from evalsys.accounts import links
from evalsys.accounts.models import MailKind, User
from evalsys.api import tokens
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback
from evalsys.feedback.writes import submit_feedback
from evalsys.loop.actions import ActionInput, create_action
from evalsys.loop.meetings import create_meeting
from evalsys.loop.problems import create_problem
from evalsys.org.models import OrgUnit, Section, Term
from evalsys.reports.models import Report
from tests.factories import Factory
from tests.worlds import built_once

#: Inside the test term; the forms use the real date, which is checked against the term too.
VISIT = date(2026, 10, 15)
NOW = datetime(2026, 10, 15, 10, 0, tzinfo=UTC)
OUTSIDE = "OUTSIDE-SCOPE"

#: principal -> the grant its user holds (None: not logged in).
PRINCIPALS: dict[str, str | None] = {
    "anon": None,
    "root": "admin@U",
    "admin": "admin@CS",
    "supervisor": "supervisor@CS",
    "leader": "leader@CS",
    "tutor": "tutor@CS-SE",
    "dean": "dean@CS",
    "head": "head@CS-SE",
    "teacher": "teacher@CS-SE",
}


@dataclass
class SecurityWorld:
    term: Term
    inside_section: Section  # CS-SE, taught by `teacher`
    outside_section: Section  # MATH-PURE, taught by someone else
    inside_feedback: Feedback  # a submitted spot check by `supervisor`
    outside_feedback: Feedback  # a submitted spot check by the MATH supervisor
    users: dict[str, User]
    units: dict[str, OrgUnit] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    #: URL parameter -> (inside value, outside value) for objects other areas add
    #: (``world.extra["problem_id"] = (inside_problem.id, outside_problem.id)``).
    extra: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def spot_check(session: Session, section: str, **extra) -> FeedbackInput:
    rubric = rubrics.current_rubric(session, "spot_check")
    assert rubric is not None
    items = rubrics.rubric_items(session, rubric.id)  # type: ignore[arg-type]
    values = {
        "kind": "spot_check",
        "date": VISIT,
        "section": section,
        "scores": {i.code: 8 for i in items},
        "announced": False,
        "enrolled": 40,
        "present": 36,
        "late": 2,
        "strengths": "讲解清楚",
        "problems": "互动偏少",
        "suggestions": "增加提问",
    }
    values.update(extra)
    return FeedbackInput(**values)


@pytest.fixture
def sworld(app: Flask, factory: Factory, session: Session, tmp_path: Path) -> SecurityWorld:
    world = built_once("security", session, lambda: _build(factory, session))
    # Files are the test's own: a stand-in report for each of CS-SE and MATH-PURE, and
    # an upload staged on the import page.
    for unit in ("CS-SE", "MATH-PURE"):
        pdf = tmp_path / f"{unit}.pdf"
        content = b"%PDF-1.4\n% a stand-in report\n%%EOF\n"
        pdf.write_bytes(content)
        session.add(
            Report(
                term_id=world.term.id,  # type: ignore[arg-type]
                unit_id=world.units[unit].id,  # type: ignore[arg-type]
                path=str(pdf),
                sha256=hashlib.sha256(content).hexdigest(),
                input_hash="0" * 64,
                pages=1,
                size=pdf.stat().st_size,
            )
        )
    session.commit()
    world.extra["token"] = (_staged_import(app, world.users["root"]),) * 2
    _password_links(app, session, world)
    return world


def _password_links(app: Flask, session: Session, world: SecurityWorld) -> None:
    """Account emails can be sent (the "forgot password" form shows), and a set-password
    link of each kind for ``mteacher``, whom no principal is (setting their password
    logs no principal out)."""
    app.config.update(BASE_URL="https://evalsys.example.edu", MAIL_SERVER="127.0.0.1", MAIL_PORT=9)
    user = session.exec(select(User).where(User.username == "mteacher")).one()
    for name, kind in (("invite_token", MailKind.INVITE), ("reset_token", MailKind.RESET)):
        world.extra[name] = (links.make_token(app.config, user, kind),) * 2


def _build(factory: Factory, session: Session) -> SecurityWorld:
    """Everything of the world that lives in the database (built once, copied after)."""
    units = factory.university()
    units["MATH-PURE"].name = f"基础数学系 {OUTSIDE}"
    session.add(units["MATH-PURE"])
    session.commit()
    term = factory.term()
    users = {name: factory.user(name, grant) for name, grant in PRINCIPALS.items() if grant}
    math_teacher = factory.user("mteacher", "teacher@MATH-PURE", name=f"Teacher {OUTSIDE}")
    math_sup = factory.user("msup", "supervisor@MATH")
    se = factory.course("SE101", units["CS-SE"], title="软件工程导论")
    ma = factory.course("MA101", units["MATH-PURE"], title=f"数学分析 {OUTSIDE}")
    inside = factory.section("SE101-01", se, term, teacher=users["teacher"], enrolled=40)
    outside = factory.section("MA101-01", ma, term, teacher=math_teacher, enrolled=40)
    factory.group("G-SE-1", units["CS-SE"], term, tutor=users["tutor"])
    rubrics.ensure_default_rubrics(session)
    session.commit()
    fb_in = submit_feedback(
        session, user=users["supervisor"], data=spot_check(session, "SE101-01"), now=NOW,
        today=VISIT,
    )  # fmt: skip
    fb_out = submit_feedback(
        session,
        user=math_sup,
        data=spot_check(session, "MA101-01", problems=f"问题 {OUTSIDE}"),
        now=NOW,
        today=VISIT,
    )
    session.commit()
    world = SecurityWorld(
        term=term,
        inside_section=inside,
        outside_section=outside,
        inside_feedback=fb_in,
        outside_feedback=fb_out,
        users=users,
        units={code: units[code] for code in ("CS-SE", "MATH-PURE")},
    )
    for name, user in users.items():
        _, raw = tokens.create_token(session, user=user, name="security tests")
        world.tokens[name] = raw
    session.commit()
    _loop_objects(session, world, units, math_teacher)
    return world


def _loop_objects(session: Session, world: SecurityWorld, units: dict, math_teacher: User) -> None:
    """A problem, a meeting on it and an action owned by its teacher, in CS-SE and MATH-PURE.

    ``problem_id`` has the action (so it is in progress); ``open_problem_id`` is a second,
    open problem of the unit that can be merged into it (``merge_target_id``, the same
    problem as ``problem_id`` under the name the merge form's data uses).
    """
    root = world.users["root"]
    ids: dict[str, list[int]] = {}
    for unit, owner, mark in (
        (units["CS-SE"], world.users["teacher"], ""),
        (units["MATH-PURE"], math_teacher, f" {OUTSIDE}"),
    ):
        made = [
            create_problem(
                session,
                term=world.term,
                unit=unit,
                user=root,
                title=f"{title}{mark}",
                category="method",
                severity="medium",
                description=f"Seen in class{mark}",
            )
            for title in ("互动偏少", "板书不清")
        ]
        meeting = create_meeting(
            session,
            unit=unit,
            term=world.term,
            user=root,
            held_on=VISIT,
            title=f"教学研讨{mark}",
            decisions=f"Ask more questions{mark}",
            attendee_ids=[owner.id],
            problem_ids=[made[0].id],  # type: ignore[list-item]
        )
        action = create_action(
            session,
            problem=made[0],
            user=root,
            today=VISIT,
            data=ActionInput(
                title=f"Two questions per lecture{mark}",
                owner_id=owner.id,
                due_date=VISIT + timedelta(days=30),
                meeting_id=meeting.id,
            ),
        )
        for name, obj in (
            ("problem_id", made[0]),
            ("open_problem_id", made[1]),
            ("merge_target_id", made[0]),
            ("meeting_id", meeting),
            ("action_id", action),
        ):
            ids.setdefault(name, []).append(obj.id)  # type: ignore[arg-type]
    session.commit()
    for name, (inside, outside) in ids.items():
        world.extra[name] = (inside, outside)


def _staged_import(app: Flask, user: User) -> str:
    """An upload staged by ``user`` on the web import page (as ``imports.index`` leaves it)."""
    token = "security-test-upload-0001"
    directory = Path(app.instance_path) / "import-staging" / token
    directory.mkdir(parents=True)
    (directory / "units.csv").write_text(
        "code,name,kind,parent,name_en\nCS-NEW,新建系,department,CS,New Department\n",
        encoding="utf-8",
    )
    meta = {"user_id": user.id, "files": ["units.csv"]}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return token
