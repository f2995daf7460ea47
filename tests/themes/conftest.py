"""A small world of observers' words: two departments of CS, two terms, three observers.

Built once per run on ``bare_uni`` (tests/worlds.py) and restored after. ``LABELS``
says, by hand, which themes each text speaks of: the tests count records and observers
from the raw texts with it, not with the detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from evalsys.aggregation import service as aggregation
from evalsys.feedback.models import Feedback
from tests.fixtures.universities import Uni
from tests.worlds import built_once

TEACHER_ZH = "王建国"
TEACHER_EN = "Li Ming"

#: Each text the world's observers wrote, and the themes it speaks of (by hand).
LABELS: dict[str, set[str]] = {
    "王老师互动少，学生参与度低": {"interaction"},
    "板书工整，王建国老师讲解清楚": {"blackboard"},
    "师生互动不足，照本宣科": {"interaction", "reading_script"},
    "Encourage more interaction with students.": {"interaction"},
    "讲课节奏偏快": {"pace"},
    "节奏太快，T2-SE1-0 的学生跟不上": {"pace"},
    "Li Ming reads from the slides; students barely interact.": {
        "reading_script",
        "slides",
        "interaction",
    },
    "Board work is neat.": {"blackboard"},
    "没有学生迟到": set(),
    "有学生迟到": {"lateness"},
    "Two students arrived late.": {"lateness"},
    "互动少": {"interaction"},
}


@dataclass
class ThemesWorld:
    uni: Uni
    observers: list[int]


#: (term, section, observer index, field, text); the draft at the end is never counted.
RECORDS = [
    (
        "T2",
        "T2-SE1-0",
        0,
        {"problems": "王老师互动少，学生参与度低", "strengths": "板书工整，王建国老师讲解清楚"},
    ),
    ("T2", "T2-SE1-0", 1, {"problems": "师生互动不足，照本宣科"}),
    ("T2", "T2-SE1-0", 2, {"suggestions": "Encourage more interaction with students."}),
    ("T2", "T2-SE1-0", 0, {"problems": "讲课节奏偏快"}),
    ("T2", "T2-SE1-0", 0, {"problems": "节奏太快，T2-SE1-0 的学生跟不上"}),
    ("T2", "T2-AI1-0", 1, {"problems": "Li Ming reads from the slides; students barely interact."}),
    ("T2", "T2-AI1-0", 2, {"strengths": "Board work is neat.", "comment": "没有学生迟到"}),
    ("T2", "T2-AI1-0", 1, {"problems": "有学生迟到", "strengths": "Board work is neat."}),
    ("T2", "T2-AI1-0", 2, {"problems": "Two students arrived late."}),
    ("T1", "T1-SE1-0", 0, {"problems": "互动少"}),
]
DRAFT = ("T2", "T2-SE1-0", 2, {"problems": "互动少"})


def _scores(uni: Uni) -> dict[str, float]:
    return {i.code: (i.scale_min + i.scale_max) / 2 for i in uni.item_codes("spot_check")}


@pytest.fixture
def themes_world(bare_uni: Uni, factory, session) -> ThemesWorld:
    def build() -> ThemesWorld:
        uni = bare_uni
        observers = [factory.user(f"obs{i}", "supervisor@U") for i in range(3)]
        wang = factory.user("wang", "teacher@CS-SE", name=TEACHER_ZH)
        li = factory.user("li", "teacher@CS-AI", name=TEACHER_EN)
        uni.courses["SE1"] = factory.course("SE1", uni.units["CS-SE"])
        uni.courses["AI1"] = factory.course("AI1", uni.units["CS-AI"])
        for term in ("T1", "T2"):
            for code, teacher in (("SE1", wang), ("AI1", li)):
                scode = f"{term}-{code}-0"
                uni.sections[scode] = factory.section(
                    scode, uni.courses[code], uni.terms[term], teacher=teacher
                )
        for i, (term, scode, who, texts) in enumerate([*RECORDS, DRAFT]):
            fb: Feedback = uni.add(
                "spot_check",
                observer=observers[who],
                section=scode,
                scores=_scores(uni),
                term=term,
                status="draft" if i == len(RECORDS) else "submitted",
            )
            for name, words in texts.items():
                setattr(fb, name, words)
            session.add(fb)
        session.commit()
        aggregation.aggregate_term(session, term=uni.terms["T2"].code)
        return ThemesWorld(uni=uni, observers=[o.id for o in observers])

    return built_once("themes-world", session, build, on="bare_uni")
