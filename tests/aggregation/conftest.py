"""A small generated university with two terms of feedback, for the aggregation tests.

Records are written straight to the tables (the aggregation only reads them);
their overall score is computed like the feedback service does. The random
generator is seeded, so every run builds the same university.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from evalsys.accounts.models import User
from evalsys.aggregation.flags import Settings
from evalsys.feedback import rubrics
from evalsys.feedback.checks import compute_overall_score
from evalsys.feedback.models import Feedback, FeedbackScore, Rubric, RubricItem
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup
from tests.factories import Factory
from tests.worlds import built_once

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

#: Version 2 of the spot-check rubric: other item codes, another scale (1-5), other
#: weights and item counts — the same dimensions. Aggregation must meet them there.
SPOT_V2 = {
    "kind": "spot_check",
    "title": "督导听课评价表 v2",
    "scale_min": 1,
    "scale_max": 5,
    "items": [
        {"code": "v2_att", "label": "态度", "dimension": "attitude", "weight": 20},
        {"code": "v2_con_a", "label": "内容一", "dimension": "content", "weight": 15},
        {"code": "v2_con_b", "label": "内容二", "dimension": "content", "weight": 5},
        {"code": "v2_met", "label": "方法", "dimension": "method", "weight": 20},
        {"code": "v2_org", "label": "组织", "dimension": "organisation", "weight": 10},
        {
            "code": "v2_eff",
            "label": "效果",
            "dimension": "effect",
            "weight": 30,
            "required": False,
        },
    ],
}


@dataclass
class Uni:
    factory: Factory
    session: Session
    units: dict[str, OrgUnit]
    terms: dict[str, Term]
    courses: dict[str, Course] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    groups: dict[str, TutorGroup] = field(default_factory=dict)
    observers: list[User] = field(default_factory=list)
    teachers: list[User] = field(default_factory=list)
    rubrics: dict[str, Rubric] = field(default_factory=dict)
    items: dict[int, list[RubricItem]] = field(default_factory=dict)
    _day: int = 0

    def add(
        self,
        kind: str,
        *,
        observer: User,
        scores: dict[str, float],
        section: str | None = None,
        group: str | None = None,
        rubric: str | None = None,
        status: str = "submitted",
        term: str | None = None,
    ) -> Feedback:
        """One record with ``scores`` by item code, on the named rubric (default: v1)."""
        rub = self.rubrics[rubric or kind]
        items = self.items[rub.id]  # type: ignore[index]
        by_code = {i.code: i for i in items}
        if section is not None:
            target = self.sections[section]
            course = self.session.get(Course, target.course_id)
            department_id, term_id = course.department_id, target.term_id  # type: ignore[union-attr]
        else:
            target_group = self.groups[group]  # type: ignore[index]
            department_id, term_id = target_group.department_id, target_group.term_id
        if term is not None:
            assert self.terms[term].id == term_id
        by_id = {by_code[code].id: value for code, value in scores.items()}
        self._day += 1
        feedback = Feedback(
            kind=kind,
            rubric_id=rub.id,  # type: ignore[arg-type]
            term_id=term_id,
            section_id=self.sections[section].id if section else None,
            group_id=self.groups[group].id if group else None,  # type: ignore[index]
            department_id=department_id,
            observer_id=observer.id,  # type: ignore[arg-type]
            status=status,
            visit_date=date(2026, 10, 1) + timedelta(days=self._day % 60),
            overall_score=compute_overall_score(items, by_id),  # type: ignore[arg-type]
            meeting_format="tutor_meeting" if kind == "tutor_group" else None,
            created_at=NOW,
            updated_at=NOW,
            submitted_at=NOW if status == "submitted" else None,
        )
        self.session.add(feedback)
        self.session.flush()
        for item_id, value in by_id.items():
            self.session.add(FeedbackScore(feedback_id=feedback.id, item_id=item_id, value=value))  # type: ignore[arg-type]
        self.session.flush()
        return feedback

    def item_codes(self, rubric: str) -> list[RubricItem]:
        return self.items[self.rubrics[rubric].id]  # type: ignore[index]


def _base(factory: Factory, session: Session) -> Uni:
    units = {
        "U": factory.unit("U", "school", name="示范大学"),
        "CS": factory.unit("CS", "college", "U", name="计算机学院"),
        "MATH": factory.unit("MATH", "college", "U", name="数学学院"),
        "ART": factory.unit("ART", "college", "U", name="艺术学院"),
    }
    for code, parent in (
        ("CS-SE", "CS"),
        ("CS-AI", "CS"),
        ("MATH-PURE", "MATH"),
        ("MATH-APP", "MATH"),  # no courses at all
        ("ART-DES", "ART"),  # sections, never observed
    ):
        units[code] = factory.unit(code, "department", parent, name=code)
    terms = {
        "T1": factory.term("2025-2026-2", date(2026, 2, 23), date(2026, 7, 5)),
        "T2": factory.term("2026-2027-1", date(2026, 9, 1), date(2027, 1, 20)),
    }
    uni = Uni(factory=factory, session=session, units=units, terms=terms)
    rubrics.ensure_default_rubrics(session)
    for kind in ("spot_check", "open_class", "tutor_group"):
        uni.rubrics[kind] = rubrics.current_rubric(session, kind)  # type: ignore[assignment]
    uni.rubrics["spot_v2"] = rubrics.create_rubric(
        session, rubrics.parse_rubric(SPOT_V2), publish=True
    )
    for rub in uni.rubrics.values():
        uni.items[rub.id] = rubrics.rubric_items(session, rub.id)  # type: ignore[arg-type,index]
    session.commit()
    return uni


@pytest.fixture
def bare_uni(factory: Factory, session: Session) -> Uni:
    """The tree, terms and rubrics, with no courses or feedback: tests add what they need."""
    return built_once("bare_uni", session, lambda: _base(factory, session))


@pytest.fixture
def uni(factory: Factory, session: Session) -> Uni:
    """A random university: 2 terms, ~200 records with two spot-check rubric versions."""
    return built_once("uni", session, lambda: _generated(factory, session))


def _generated(factory: Factory, session: Session) -> Uni:
    rng = random.Random(20261123)
    uni = _base(factory, session)
    uni.teachers = [factory.user(f"t{i}", "teacher@U") for i in range(8)]
    uni.observers = [factory.user(f"o{i}", "supervisor@U") for i in range(6)]
    course_plan = {
        "CS-SE": ["SE1", "SE2", "SE3"],
        "CS-AI": ["AI1", "AI2"],
        "MATH-PURE": ["MP1", "MP2"],
        "ART-DES": ["AD1"],
    }
    for dept, codes in course_plan.items():
        for code in codes:
            uni.courses[code] = factory.course(code, uni.units[dept])
    for term_key, term in uni.terms.items():
        for code, course in uni.courses.items():
            for i in range(rng.choice([1, 2, 2, 3])):
                scode = f"{term_key}-{code}-{i}"
                uni.sections[scode] = factory.section(
                    scode, course, term, teacher=rng.choice(uni.teachers)
                )
        for dept in ("CS-SE", "CS-AI", "MATH-PURE", "ART-DES"):
            for i in range(2):
                gcode = f"{term_key}-{dept}-G{i}"
                uni.groups[gcode] = factory.group(gcode, uni.units[dept], term)
    # A section seen exactly once (its results: n = 1, sd none, median = the value).
    uni.sections["T2-SOLO"] = factory.section("T2-SOLO", uni.courses["SE1"], uni.terms["T2"])

    for scode, section in uni.sections.items():
        if section.course_id == uni.courses["AD1"].id or scode == "T2-SOLO":
            continue  # the art department is never observed
        for _ in range(rng.choice([0, 1, 2, 3, 4, 6])):
            rubric = rng.choice(["spot_check", "spot_v2"])
            uni.add(
                "spot_check",
                observer=rng.choice(uni.observers),
                section=scode,
                rubric=rubric,
                scores=_random_scores(rng, uni.item_codes(rubric)),
            )
        for _ in range(rng.choice([0, 0, 1, 3])):
            uni.add(
                "open_class",
                observer=rng.choice(uni.observers),
                section=scode,
                scores=_random_scores(rng, uni.item_codes("open_class")),
            )
    for gcode in uni.groups:
        if "ART" in gcode:
            continue
        for _ in range(rng.choice([0, 1, 2, 3])):
            uni.add(
                "tutor_group",
                observer=rng.choice(uni.observers),
                group=gcode,
                scores=_random_scores(rng, uni.item_codes("tutor_group")),
            )
    uni.add(
        "spot_check",
        observer=uni.observers[0],
        section="T2-SOLO",
        scores=_random_scores(rng, uni.item_codes("spot_check")),
    )
    # Records that must not count: a draft and a withdrawn one, both on a seen section.
    seen = next(s for s in uni.sections if s.startswith("T2-SE1"))
    for status in ("draft", "withdrawn"):
        uni.add(
            "spot_check",
            observer=uni.observers[1],
            section=seen,
            status=status,
            scores={i.code: i.scale_min for i in uni.item_codes("spot_check")},
        )
    session.commit()
    return uni


def _random_scores(rng: random.Random, items: list[RubricItem]) -> dict[str, float]:
    """Whole-number scores around the top of each scale; optional items left out at times."""
    skill = rng.uniform(0.45, 1.0)
    out: dict[str, float] = {}
    for item in items:
        if not item.required and rng.random() < 0.4:
            continue
        share = min(1.0, max(0.0, rng.gauss(skill, 0.15)))
        out[item.code] = float(round(item.scale_min + share * (item.scale_max - item.scale_min)))
    return out


@pytest.fixture
def settings() -> Settings:
    return Settings()
