"""Themes per unit and term, counted against the hand labels of the raw texts."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlmodel import col, select

from evalsys.feedback.models import Feedback
from evalsys.loop.models import Problem, ProblemEvidence
from evalsys.loop.proposals import propose_problems
from evalsys.org.models import OrgUnitClosure
from evalsys.themes.service import FIELDS, themes_for_unit
from tests.themes.conftest import LABELS, TEACHER_EN, TEACHER_ZH


def _independent(session, unit_id: int, term_id: int) -> dict[str, tuple[int, int]]:
    """(records, observers) per theme from the raw texts and the hand labels."""
    below = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)
    rows = session.exec(
        select(Feedback).where(
            Feedback.term_id == term_id,
            Feedback.status == "submitted",
            col(Feedback.department_id).in_(below),
        )
    ).all()
    records: dict[str, set[int]] = defaultdict(set)
    observers: dict[str, set[int]] = defaultdict(set)
    for f in rows:
        for name in FIELDS:
            for theme in LABELS.get(getattr(f, name) or "", set()):
                records[theme].add(f.id)
                observers[theme].add(f.observer_id)
    return {k: (len(records[k]), len(observers[k])) for k in records}


@pytest.mark.parametrize("unit", ["CS", "CS-SE", "CS-AI", "U"])
@pytest.mark.parametrize("min_observers", [1, 2])
def test_counts_match_the_raw_texts(themes_world, session, unit, min_observers):
    uni = themes_world.uni
    unit_id, term_id = uni.units[unit].id, uni.terms["T2"].id
    expected = {
        k: v
        for k, v in _independent(session, unit_id, term_id).items()
        if v[1] >= min_observers and v[0] >= 2
    }
    got = themes_for_unit(session, unit_id, term_id, min_observers=min_observers)
    assert {t.key: (t.records, t.observers) for t in got} == expected
    assert expected, "the world has recurring themes at every level asked"


def test_the_observer_minimum_and_the_trend(themes_world, session):
    uni = themes_world.uni
    cs = {t.key: t for t in themes_for_unit(session, uni.units["CS"].id, uni.terms["T2"].id)}
    # pace: two records, one observer; reading_script: two records, one observer.
    assert "pace" not in cs and "reading_script" not in cs
    # interaction: r1, r2, r3 (CS-SE) and r6 (CS-AI) by three observers; once in T1.
    assert (cs["interaction"].records, cs["interaction"].observers) == (4, 3)
    assert cs["interaction"].previous == 1 and cs["interaction"].trend == "up"
    assert cs["interaction"].side == "problem"
    assert cs["blackboard"].side == "strength" and cs["blackboard"].previous == 0
    # "没有学生迟到" is not a mention: lateness is two records, not three.
    assert cs["lateness"].records == 2
    # The earliest term has no previous one: no trend at all.
    t1 = themes_for_unit(session, uni.units["CS"].id, uni.terms["T1"].id, min_observers=1)
    assert t1 == [] or all(t.previous is None for t in t1)


@pytest.mark.parametrize("unit", ["CS", "U"])
def test_no_teacher_is_named_above_a_department(themes_world, session, unit):
    uni = themes_world.uni
    got = themes_for_unit(
        session, uni.units[unit].id, uni.terms["T2"].id, min_observers=1, show_sections=True
    )
    quotes = [q for t in got for q in t.quotes]
    assert len(quotes) >= 8
    for q in quotes:
        assert q.target is None
        for name in (TEACHER_ZH, "王老师", TEACHER_EN, "T2-SE1-0", "T2-AI1-0"):
            assert name not in q.text, q.text
    assert any("＊＊" in q.text for q in quotes)  # names were there, and were blanked


def test_a_department_shows_sections_only_to_feedback_readers(themes_world, session):
    uni = themes_world.uni
    args = (session, uni.units["CS-SE"].id, uni.terms["T2"].id)
    shown = themes_for_unit(*args, min_observers=1, show_sections=True)
    hidden = themes_for_unit(*args, min_observers=1, show_sections=False)
    assert {q.target for t in shown for q in t.quotes} == {"T2-SE1-0"}
    assert {q.target for t in hidden for q in t.quotes} == {None}
    assert not any(TEACHER_ZH in q.text for t in hidden for q in t.quotes)
    # Quotes are short excerpts around the term, at most three per theme.
    assert all(len(t.quotes) <= 3 for t in shown)


def test_the_same_words_are_quoted_once(themes_world, session):
    uni = themes_world.uni
    ai = themes_for_unit(session, uni.units["CS-AI"].id, uni.terms["T2"].id)
    board = next(t for t in ai if t.key == "blackboard")
    # Two observers wrote "Board work is neat." on two records: counted twice, quoted once.
    assert (board.records, board.observers) == (2, 2)
    assert [q.text for q in board.quotes] == ["Board work is neat."]


def test_themes_become_loop_proposals_once(themes_world, session):
    uni = themes_world.uni
    term = uni.terms["T2"]
    wanted = {"CS-SE": ["theme:interaction"], "CS": ["theme:interaction", "theme:lateness"]}

    def stored(unit_id):
        problems = session.exec(
            select(Problem)
            .where(Problem.unit_id == unit_id, col(Problem.source_key).startswith("theme:"))
            .order_by(col(Problem.source_key))
        ).all()
        evidence = session.exec(
            select(ProblemEvidence).where(
                col(ProblemEvidence.problem_id).in_([p.id for p in problems])
            )
        ).all()
        return problems, evidence

    for code, keys in wanted.items():
        unit = uni.units[code]
        first = propose_problems(session, term=term, unit=unit)
        problems, evidence = stored(unit.id)
        assert [p.source_key for p in problems] == keys
        assert first.created >= len(keys)
        again = propose_problems(session, term=term, unit=unit)
        assert again.created == 0 and again.evidence_added == 0
        assert stored(unit.id) == (problems, evidence)
        by_problem = defaultdict(set)
        for e in evidence:
            assert e.kind == "feedback" and e.feedback_id is not None
            by_problem[e.problem_id].add(e.feedback_id)
        assert all(len(ids) >= 2 for ids in by_problem.values())
        if code == "CS":
            for e in evidence:
                for name in (TEACHER_ZH, "王老师", TEACHER_EN, "T2-SE1-0", "T2-AI1-0"):
                    assert name not in e.text, e.text
    session.rollback()


def test_names_are_blanked_longest_first_and_by_surname_with_laoshi():
    from evalsys.themes.service import BLANK, blank_names

    text = "王小明老师讲得清楚，王老师板书好；Wang Xiaoming explained; CS101-01 ran late"
    out = blank_names(text, ["王小明", "Wang Xiaoming", "Wang", "CS101-01", ""])
    # The full English name goes before its part, so no "Xiaoming" is left readable.
    assert "Xiaoming" not in out and "Wang" not in out and "王" not in out
    assert "CS101-01" not in out
    assert out == (f"{BLANK}老师讲得清楚，{BLANK}老师板书好；{BLANK} explained; {BLANK} ran late")
