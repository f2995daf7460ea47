"""Weights: who counts as new, low-rated or never visited, and that weight shows in the draw."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date

from sqlmodel import Session

from evalsys.aggregation.models import AggregateResult
from evalsys.org.models import Section, Term
from evalsys.planner import service, weeks
from evalsys.planner.draw import plan as plan_week
from evalsys.planner.inputs import LOW_RATED, NEVER_VISITED, NEW_STAFF, gather
from evalsys.planner.models import PlanSetting
from tests.factories import Factory
from tests.planner.conftest import Plan
from tests.planner.helpers import visit


def _result(term: Term, section: Section, mean: float, n: int) -> AggregateResult:
    return AggregateResult(
        term_id=term.id,  # type: ignore[arg-type]
        level="section",
        unit_id=section.id,  # type: ignore[arg-type]
        kind="all",
        dimension="overall",
        unit_code=section.code,
        org_unit_id=1,
        n=n,
        observers=n,
        mean=mean,
        band_pass=n,
        insufficient=n < 3,
    )


def _history(session: Session, factory: Factory, plan: Plan) -> dict[str, str]:
    """Last term: t01..t04 of MATH taught (t00 did not: new); t01 rated low, t02 visited.

    t03 taught two sections last term, 60 (n=1) and 90 (n=3): pooled 82.5, not low.
    """
    earlier = factory.term("2025-2026-2", date(2026, 2, 23), date(2026, 7, 5))
    course = factory.course("MA-OLD", plan.units["MATH-PURE"])
    t = {f"t{i:02d}": plan.teachers[f"math-pure-t{i:02d}"] for i in range(5)}
    old = {
        name: factory.section(f"OLD-{name}", course, earlier, teacher=t[name])
        for name in ("t01", "t02", "t03", "t04")
    }
    old_t03b = factory.section("OLD-t03b", course, earlier, teacher=t["t03"])
    session.add(_result(earlier, old["t01"], 55.0, 4))
    session.add(_result(earlier, old["t02"], 88.0, 4))
    session.add(_result(earlier, old["t03"], 60.0, 1))
    session.add(_result(earlier, old_t03b, 90.0, 3))
    session.commit()
    visit(session, plan.math_sup, old["t02"], date(2026, 3, 10))
    session.commit()
    return {name: f"MATH-PURE-S{name[1:]}" for name in t}


def test_weights_come_from_staff_history_last_terms_results_and_visits(
    session: Session, factory: Factory, plan: Plan
):
    codes = _history(session, factory, plan)
    settings = session.get(PlanSetting, plan.term.id)
    inputs = gather(
        session,
        term=plan.term,
        week=1,
        days=weeks.week_days(plan.term, 1),
        weeks_left=16,
        settings=settings,  # type: ignore[arg-type]
    )
    by_code = {c.code: c for c in inputs.candidates.values()}
    expected = {
        "t00": (2.0 * 1.5, (NEW_STAFF, NEVER_VISITED)),
        "t01": (2.0 * 1.5, (LOW_RATED, NEVER_VISITED)),
        "t02": (1.0, ()),
        "t03": (1.5, (NEVER_VISITED,)),  # 60 on n=1 and 90 on n=3 pool to 82.5
        "t04": (1.5, (NEVER_VISITED,)),
    }
    for name, (weight, reasons) in expected.items():
        candidate = by_code[codes[name]]
        assert math.isclose(candidate.weight, weight), name
        assert candidate.reasons == reasons, name


def _inclusion(weights: list[float], k: int) -> list[float]:
    """P(item i among k draws without replacement, each proportional to weight): exact."""

    def rec(remaining: tuple[int, ...], draws: int) -> list[float]:
        probs = [0.0] * len(weights)
        if draws == 0 or not remaining:
            return probs
        total = sum(weights[i] for i in remaining)
        for i in remaining:
            p = weights[i] / total
            probs[i] += p
            rest = rec(tuple(j for j in remaining if j != i), draws - 1)
            for j, q in enumerate(rest):
                probs[j] += p * q
        return probs

    return rec(tuple(range(len(weights))), k)


def test_weighted_sections_are_drawn_more_often_in_the_expected_proportion(
    session: Session, factory: Factory, plan: Plan
):
    _history(session, factory, plan)
    service.save_settings(
        session,
        term=plan.term,
        values={"visits_per_teacher": 0, "weight_new_staff": 3.0, "weight_never_visited": 1.0},
    )
    session.commit()
    settings = session.get(PlanSetting, plan.term.id)
    inputs = gather(
        session,
        term=plan.term,
        week=2,
        days=weeks.week_days(plan.term, 2),
        weeks_left=15,
        settings=settings,  # type: ignore[arg-type]
    )
    math_sections = [s for s in inputs.supervisors if s.user_id == plan.math_sup.id][0].section_ids
    weights = [inputs.candidates[s].weight for s in math_sections]
    assert sorted(weights) == [1.0, 1.0, 1.0, 2.0, 3.0]  # t01 low-rated 2, t00 new 3
    expected = _inclusion(weights, 2)
    runs = 4000
    counts: Counter[int] = Counter()
    for seed in range(runs):
        for p in plan_week(inputs, random.Random(seed)).planned:
            if p.supervisor_id == plan.math_sup.id:
                counts[p.section_id] += 1
    for section_id, p in zip(math_sections, expected, strict=True):
        observed = counts[section_id] / runs
        sd = math.sqrt(p * (1 - p) / runs)
        assert abs(observed - p) < 4 * sd, (section_id, observed, p)
    # The weight-3 section is drawn clearly more often than a weight-1 one.
    heavy = math_sections[weights.index(3.0)]
    light = math_sections[weights.index(1.0)]
    assert counts[heavy] > 1.8 * counts[light]


def test_unannounced_share_is_honoured(session: Session, plan: Plan):
    service.save_settings(session, term=plan.term, values={"unannounced_share": 0.25})
    session.commit()
    settings = session.get(PlanSetting, plan.term.id)
    inputs = gather(
        session,
        term=plan.term,
        week=2,
        days=weeks.week_days(plan.term, 2),
        weeks_left=15,
        settings=settings,  # type: ignore[arg-type]
    )
    flags = [
        p.announced for seed in range(1000) for p in plan_week(inputs, random.Random(seed)).planned
    ]
    share = 1 - sum(flags) / len(flags)
    sd = math.sqrt(0.25 * 0.75 / len(flags))
    assert abs(share - 0.25) < 4 * sd
