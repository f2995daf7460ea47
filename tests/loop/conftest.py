"""A small university where the software department's teaching method is weak in T1.

Built on the aggregation tests' generator (``bare_uni``): CS-SE's spot checks in
T1 score the method items at the bottom of the scale and everything else near
the top, so its method results are flagged; one observer writes a problem in
words. T2 has ordinary records, so it can be aggregated and reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from evalsys.aggregation import service as aggregation
from evalsys.feedback.models import Feedback
from tests.fixtures.universities import Uni
from tests.worlds import built_once

OBSERVER_WORDS = "讲授照本宣科，学生参与少 — lecturing from the slides, students barely involved"


@dataclass
class LoopWorld:
    uni: Uni
    worded: Feedback


def _scores(uni: Uni, *, method: float | None) -> dict[str, float]:
    out = {}
    for item in uni.item_codes("spot_check"):
        if item.dimension == "method" and method is not None:
            out[item.code] = item.scale_min + method * (item.scale_max - item.scale_min)
        else:
            out[item.code] = item.scale_min + 0.9 * (item.scale_max - item.scale_min)
    return out


@pytest.fixture
def world(bare_uni: Uni, factory, session) -> LoopWorld:
    """Built once per run on ``bare_uni`` and restored after (tests/worlds.py): 36 records
    through the services and an aggregation run cost seconds, and most loop tests start
    here."""

    def build() -> LoopWorld:
        uni = bare_uni
        observer = factory.user("sup", "supervisor@U")
        uni.observers = [observer]
        for dept, code in (("CS-SE", "SE1"), ("CS-AI", "AI1"), ("MATH-PURE", "MP1")):
            uni.courses[code] = factory.course(code, uni.units[dept])
        worded = None
        for term_key in ("T1", "T2"):
            for code, course in uni.courses.items():
                for i in range(2):
                    scode = f"{term_key}-{code}-{i}"
                    uni.sections[scode] = factory.section(scode, course, uni.terms[term_key])
                    weak = term_key == "T1" and code == "SE1"
                    for _ in range(3):
                        fb = uni.add(
                            "spot_check",
                            observer=observer,
                            section=scode,
                            scores=_scores(uni, method=0.2 if weak else None),
                        )
                        if weak and worded is None:
                            fb.problems = OBSERVER_WORDS
                            session.add(fb)
                            worded = fb
        session.commit()
        aggregation.aggregate_term(session, term=uni.terms["T1"].code)
        assert worded is not None
        return LoopWorld(uni=uni, worded=worded)

    return built_once("loop-world", session, build, on="bare_uni")


@pytest.fixture
def people(factory, world):
    return {
        "dean_cs": factory.user("dean_cs", "dean@CS", name="计算机院长"),
        "head_se": factory.user("head_se", "head@CS-SE", name="软件系主任"),
        "head_ai": factory.user("head_ai", "head@CS-AI", name="人工智能系主任"),
        "dean_math": factory.user("dean_math", "dean@MATH", name="数学院长"),
        "teacher": factory.user("teacher_se", "teacher@CS-SE", name="王老师"),
        "leader": factory.user("leader_u", "leader@U", name="校领导"),
    }
