"""Every stored statistic against an independent computation with ``statistics``."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest
from sqlmodel import select

from evalsys.aggregation.flags import Settings
from evalsys.aggregation.models import AggregateCoverage, AggregationRun
from evalsys.aggregation.service import aggregate_term
from tests.aggregation import oracle
from tests.aggregation.helpers import close, flags, results

FIGURES = ("mean", "sd", "median", "minimum", "maximum")
COMPARISONS = ("parent_mean", "parent_diff", "parent_z", "prev_mean", "prev_change")
BANDS = ("fail", "pass", "fair", "good", "excellent")


def _check_term(session, term, settings):
    want = oracle.expected(session, term, settings)
    got = results(session, term.id)
    assert set(got) == set(want)
    for key, exp in want.items():
        row = got[key]
        assert (row.n, row.observers, row.insufficient) == (
            exp["n"],
            exp["observers"],
            exp["insufficient"],
        ), key
        for name in FIGURES + COMPARISONS:
            assert close(getattr(row, name), exp[name], 1e-7), (key, name)
        assert [getattr(row, f"band_{b}") for b in BANDS] == [
            exp["bands"].get(b, 0) for b in BANDS
        ], key
        assert (row.parent_level, row.parent_id) == (exp["parent_level"], exp["parent_id"]), key
    assert set(flags(session, term.id)) == oracle.expected_flags(want, settings)
    return want, got


def test_every_statistic_matches_an_independent_computation(session, uni, settings):
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    want, got = _check_term(session, uni.terms["T2"], settings)
    # The generated data exercises what it should.
    levels = {k[0] for k in got}
    assert levels == {"section", "course", "department", "college", "school"}
    assert {k[2] for k in got} == {"spot_check", "open_class", "tutor_group", "all"}
    assert any(r.prev_change is not None for r in got.values())
    assert any(r.parent_z is not None for r in got.values())
    assert any(r.insufficient and r.n > 0 for r in got.values())
    assert flags(session, uni.terms["T2"].id)
    _check_term(session, uni.terms["T1"], settings)


def test_other_settings_change_insufficiency_comparisons_and_flags(session, uni):
    strict = Settings(min_n=5, threshold=85, drop=3, parent_sd=0.5)
    aggregate_term(session, term=uni.terms["T1"].code, settings=strict)
    aggregate_term(session, term=uni.terms["T2"].code, settings=strict)
    _check_term(session, uni.terms["T2"], strict)
    run = session.exec(select(AggregationRun).order_by(AggregationRun.id.desc())).first()  # type: ignore[union-attr]
    assert run.settings == {
        "min_n": 5,
        "threshold": 85.0,
        "threshold_by_kind": {"tutor_group": 50.0},
        "drop": 3.0,
        "parent_sd": 0.5,
    }


def test_coverage_matches_an_independent_count(session, uni, settings):
    term = uni.terms["T2"]
    aggregate_term(session, term=term.code, settings=settings)
    want = oracle.expected_coverage(session, term)
    got = {
        (c.level, c.unit_id): c
        for c in session.exec(
            select(AggregateCoverage).where(AggregateCoverage.term_id == term.id)
        ).all()
    }
    assert set(got) == set(want)
    for key, counts in want.items():
        row = got[key]
        assert {name: getattr(row, name) for name in counts} == counts, key
    art = got[("department", uni.units["ART-DES"].id)]
    assert art.sections > 0 and art.sections_spot == 0 and art.sections_open == 0
    assert art.tutor_groups == 2 and art.tutor_groups_reported == 0
    empty = got[("department", uni.units["MATH-APP"].id)]
    assert (empty.sections, empty.teachers, empty.tutor_groups) == (0, 0, 0)


def test_empty_units_get_one_row_with_n_zero(session, uni, settings):
    term = uni.terms["T2"]
    aggregate_term(session, term=term.code, settings=settings)
    got = results(session, term.id)
    for code in ("ART-DES", "MATH-APP", "ART"):
        unit = uni.units[code]
        rows = [r for k, r in got.items() if k[1] == unit.id and k[0] == unit.kind]
        assert [(r.kind, r.dimension, r.n, r.observers) for r in rows] == [("all", "overall", 0, 0)]
        assert rows[0].insufficient and rows[0].mean is None and rows[0].sd is None
    # The art sections and course too.
    art_course = uni.courses["AD1"].id
    course_rows = [r for k, r in got.items() if k[:2] == ("course", art_course)]
    assert [(r.kind, r.dimension, r.n) for r in course_rows] == [("all", "overall", 0)]


def test_a_unit_with_one_record(session, uni, settings):
    term = uni.terms["T2"]
    aggregate_term(session, term=term.code, settings=settings)
    solo = uni.sections["T2-SOLO"]
    rows = {k[2:]: r for k, r in results(session, term.id).items() if k[:2] == ("section", solo.id)}
    assert set(rows) == {
        (kind, dim)
        for kind in ("spot_check", "all")
        for dim in ("attitude", "content", "method", "organisation", "effect", "overall")
    }
    for row in rows.values():
        assert row.n == 1 and row.observers == 1 and row.insufficient
        assert row.sd is None
        assert row.mean == row.median == row.minimum == row.maximum
        assert row.parent_mean is None and row.prev_mean is None
    assert not [k for k in flags(session, term.id) if k[:2] == ("section", solo.id)]


def test_drafts_and_withdrawn_records_do_not_count(session, uni, settings):
    term = uni.terms["T2"]
    run = aggregate_term(session, term=term.code, settings=settings)
    submitted = len(oracle.expected(session, term, settings))
    assert submitted  # sanity
    from evalsys.feedback.models import Feedback

    counted = session.exec(
        select(Feedback).where(Feedback.term_id == term.id, Feedback.status == "submitted")
    ).all()
    assert run.record_count == len(counted)
    everything = session.exec(select(Feedback).where(Feedback.term_id == term.id)).all()
    assert len(everything) == len(counted) + 2


def test_minimum_n_rule(session, bare_uni, settings):
    """Below MIN_N: figures kept, marked insufficient, never compared or flagged."""
    uni = bare_uni
    t = uni.factory
    obs = [t.user(f"o{i}", "supervisor@U") for i in range(3)]
    course = t.course("C1", uni.units["CS-SE"])
    t.section("S1", course, uni.terms["T2"])
    t.section("S2", course, uni.terms["T2"])
    uni.sections = {"S1": _section(uni, "S1"), "S2": _section(uni, "S2")}
    low = {i.code: 2.0 for i in uni.item_codes("spot_check")}  # 20 / 100: far below 70
    for o in obs[:2]:
        uni.add("spot_check", observer=o, section="S1", scores=low)
    for o in obs:
        uni.add("spot_check", observer=o, section="S2", scores=low)
    uni.session.commit()
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=settings)
    got = results(uni.session, uni.terms["T2"].id)
    s1 = got[("section", uni.sections["S1"].id, "spot_check", "overall")]
    s2 = got[("section", uni.sections["S2"].id, "spot_check", "overall")]
    assert s1.n == 2 and s1.insufficient and s1.mean == pytest.approx(20)
    assert s2.n == 3 and not s2.insufficient
    fl = flags(uni.session, uni.terms["T2"].id)
    assert ("section", uni.sections["S2"].id, "spot_check", "overall", "below_threshold") in fl
    assert not [k for k in fl if k[1] == uni.sections["S1"].id and k[0] == "section"]
    # n = 3 is enough with the default, not with MIN_N = 4.
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=replace(settings, min_n=4))
    got = results(uni.session, uni.terms["T2"].id)
    assert got[("section", uni.sections["S2"].id, "spot_check", "overall")].insufficient
    course_row = got[("course", course.id, "spot_check", "overall")]
    assert course_row.n == 5 and not course_row.insufficient
    # The course is sufficient but its insufficient sections are not compared with it.
    assert got[("section", uni.sections["S2"].id, "spot_check", "overall")].parent_mean is None


def _section(uni, code):
    from evalsys.org.models import Section

    return uni.session.exec(select(Section).where(Section.code == code)).one()


def test_rubric_versions_meet_through_their_dimension(session, bare_uni, settings):
    """v1 (0-10, ten items) and v2 (1-5, six items, other codes): one 'content' figure."""
    uni = bare_uni
    t = uni.factory
    obs = t.user("o", "supervisor@U")
    course = t.course("C1", uni.units["CS-SE"])
    t.section("S1", course, uni.terms["T2"])
    uni.sections = {"S1": _section(uni, "S1")}
    v1 = {i.code: float(i.scale_max) for i in uni.item_codes("spot_check")}
    v1["content_accuracy"] = 4.0  # weight 12 of the content items 12 + 12 + (8 or so)
    uni.add("spot_check", observer=obs, section="S1", scores=v1)
    v2 = {"v2_att": 5.0, "v2_con_a": 2.0, "v2_con_b": 5.0, "v2_met": 3.0, "v2_org": 1.0}
    uni.add("spot_check", observer=obs, section="S1", scores=v2, rubric="spot_v2")
    uni.session.commit()
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=settings)
    got = results(uni.session, uni.terms["T2"].id)

    content_items = [i for i in uni.item_codes("spot_check") if i.dimension == "content"]
    w = sum(i.weight for i in content_items)
    first = 100 * sum(i.weight * (v1[i.code] / 10) for i in content_items) / w
    second = 100 * (15 * (2 - 1) / 4 + 5 * (5 - 1) / 4) / 20
    row = got[("section", uni.sections["S1"].id, "spot_check", "content")]
    assert row.n == 2
    assert row.mean == pytest.approx(statistics.fmean([first, second]))
    assert row.median == pytest.approx(statistics.median([first, second]))
    assert row.sd == pytest.approx(statistics.stdev([first, second]))
    # v2's effect item was left out: the dimension has one record, not two.
    assert got[("section", uni.sections["S1"].id, "spot_check", "effect")].n == 1
    assert got[("section", uni.sections["S1"].id, "spot_check", "organisation")].minimum == 0
    # No item code of either version leaks in as a dimension.
    assert {k[3] for k in got} <= {
        "attitude",
        "content",
        "method",
        "organisation",
        "effect",
        "overall",
    }


def test_tutor_groups_roll_up_from_their_department(session, bare_uni, settings):
    uni = bare_uni
    t = uni.factory
    obs = [t.user(f"o{i}", "tutor@U") for i in range(3)]
    uni.groups = {"G": t.group("G", uni.units["MATH-PURE"], uni.terms["T2"])}
    for o, value in zip(obs, (5.0, 3.0, 4.0), strict=True):
        uni.add(
            "tutor_group",
            observer=o,
            group="G",
            scores={i.code: value for i in uni.item_codes("tutor_group")},
        )
    uni.session.commit()
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=settings)
    got = results(uni.session, uni.terms["T2"].id)
    tutor = {k for k in got if k[2] == "tutor_group"}
    assert {(k[0], k[1]) for k in tutor} == {
        ("department", uni.units["MATH-PURE"].id),
        ("college", uni.units["MATH"].id),
        ("school", uni.units["U"].id),
    }
    dept = got[("department", uni.units["MATH-PURE"].id, "tutor_group", "overall")]
    assert dept.n == 3 and dept.mean == pytest.approx(75.0) and dept.median == pytest.approx(75)
    assert dept.parent_level == "college" and dept.parent_mean == pytest.approx(75.0)
    assert dept.parent_diff == pytest.approx(0) and dept.parent_z == pytest.approx(0)
