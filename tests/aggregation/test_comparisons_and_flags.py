"""Comparisons with the parent unit and the previous term, and the flags, on known numbers.

Every item of a record gets the same score v (0-10), so each of its dimension
values and its overall score is exactly 10 v: the expected figures are plain.
"""

from __future__ import annotations

import statistics

import pytest
from sqlmodel import select

from evalsys.aggregation.flags import Settings
from evalsys.aggregation.service import aggregate_term
from evalsys.org.models import Section
from evalsys.org.terms import previous_term
from tests.aggregation.helpers import flags, results


@pytest.fixture
def known(bare_uni):
    """T1: CS-SE's course C1 at 90. T2: C1 at 60 (3 records), CS-AI's C2 at 100 (6)."""
    uni = bare_uni
    t = uni.factory
    obs = [t.user(f"o{i}", "supervisor@U") for i in range(6)]
    c1 = t.course("C1", uni.units["CS-SE"])
    c2 = t.course("C2", uni.units["CS-AI"])
    t.section("S1-T1", c1, uni.terms["T1"])
    t.section("S1-T2", c1, uni.terms["T2"])
    t.section("S2-T2", c2, uni.terms["T2"])
    uni.sections = {s.code: s for s in uni.session.exec(select(Section)).all()}

    def same(v: float) -> dict[str, float]:
        return {i.code: v for i in uni.item_codes("spot_check")}

    for o in obs[:3]:
        uni.add("spot_check", observer=o, section="S1-T1", scores=same(9))
        uni.add("spot_check", observer=o, section="S1-T2", scores=same(6))
    for o in obs:
        uni.add("spot_check", observer=o, section="S2-T2", scores=same(10))
    uni.session.commit()
    uni.courses = {"C1": c1, "C2": c2}
    return uni


def _run_both(uni, settings=None):
    settings = settings or Settings()
    aggregate_term(uni.session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=settings)
    return results(uni.session, uni.terms["T2"].id), flags(uni.session, uni.terms["T2"].id)


def test_previous_term_is_the_latest_that_started_before(session, bare_uni):
    uni = bare_uni
    assert previous_term(session, uni.terms["T2"]).code == uni.terms["T1"].code
    assert previous_term(session, uni.terms["T1"]) is None


def test_comparison_with_the_previous_term(known):
    got, _ = _run_both(known)
    c1 = got[("course", known.courses["C1"].id, "spot_check", "overall")]
    assert c1.mean == pytest.approx(60) and c1.prev_mean == pytest.approx(90)
    assert c1.prev_change == pytest.approx(-30)
    dept = got[("department", known.units["CS-SE"].id, "all", "content")]
    assert dept.prev_change == pytest.approx(-30)
    # A section is taught in one term only: it has nothing to compare with.
    section = got[("section", known.sections["S1-T2"].id, "spot_check", "overall")]
    assert section.prev_mean is None and section.prev_change is None
    # CS-AI had nothing last term.
    assert got[("department", known.units["CS-AI"].id, "all", "overall")].prev_mean is None


def test_comparison_with_the_parent_unit(known):
    got, _ = _run_both(known)
    values = [60.0] * 3 + [100.0] * 6
    college_mean, college_sd = statistics.fmean(values), statistics.stdev(values)
    college = got[("college", known.units["CS"].id, "spot_check", "overall")]
    assert college.mean == pytest.approx(college_mean) and college.sd == pytest.approx(college_sd)
    se = got[("department", known.units["CS-SE"].id, "spot_check", "overall")]
    assert se.parent_level == "college" and se.parent_id == known.units["CS"].id
    assert se.parent_mean == pytest.approx(college_mean)
    assert se.parent_diff == pytest.approx(60 - college_mean)
    assert se.parent_z == pytest.approx((60 - college_mean) / college_sd)
    ai = got[("department", known.units["CS-AI"].id, "spot_check", "overall")]
    assert ai.parent_z == pytest.approx((100 - college_mean) / college_sd)
    # A parent whose values are all equal (sd 0): the difference, but no standardised one.
    section = got[("section", known.sections["S1-T2"].id, "spot_check", "overall")]
    assert section.parent_diff == pytest.approx(0) and section.parent_z is None
    school = got[("school", known.units["U"].id, "spot_check", "overall")]
    assert school.parent_level is None and school.parent_mean is None


def test_each_flag_says_why(known):
    _, fl = _run_both(known)
    se, cs = known.units["CS-SE"].id, known.units["CS"].id
    college_mean = statistics.fmean([60.0] * 3 + [100.0] * 6)
    college_sd = statistics.stdev([60.0] * 3 + [100.0] * 6)

    low = fl[("department", se, "all", "overall", "below_threshold")]
    assert low.reason == "All kinds · Overall: mean 60.0 is below the threshold 70 (n=3)"
    assert low.value == pytest.approx(60) and low.threshold == 70

    drop = fl[("course", known.courses["C1"].id, "spot_check", "content", "drop")]
    assert drop.reason == (
        "Spot check · Content: mean 60.0 is 30.0 points below the previous term "
        "(2025-2026-2: 90.0); flagged from a drop of 10 (n=3)"
    )
    assert drop.value == pytest.approx(-30) and drop.threshold == 10

    far = fl[("department", se, "spot_check", "method", "below_parent")]
    z = (60 - college_mean) / college_sd
    assert far.value == pytest.approx(z) and z < -1
    assert far.reason == (
        f"Spot check · Method: mean 60.0 is {-z:.1f} standard deviations below CS "
        f"(mean {college_mean:.1f}, sd {college_sd:.1f}, n=9); flagged from 1 (n=3)"
    )
    # Nothing is flagged in the good department, and the sections and course of the low
    # one get the threshold flag, but no parent flag: they equal their parent.
    assert not [k for k in fl if k[:2] == ("department", known.units["CS-AI"].id)]
    assert ("section", known.sections["S1-T2"].id, "all", "overall", "below_parent") not in fl
    assert ("college", cs, "all", "overall", "below_threshold") not in fl


def test_flag_limits_come_from_the_settings(known):
    _, fl = _run_both(known, Settings(threshold=50, drop=40, parent_sd=2))
    assert fl == {}
    _, fl = _run_both(known, Settings(threshold=61))
    assert ("department", known.units["CS-SE"].id, "all", "overall", "below_threshold") in fl


def test_insufficient_results_are_never_compared_or_flagged(known):
    _, fl = _run_both(known, Settings(min_n=4))
    got = results(known.session, known.terms["T2"].id)
    se = got[("department", known.units["CS-SE"].id, "all", "overall")]
    assert se.insufficient and se.mean == pytest.approx(60)
    assert se.parent_mean is se.prev_mean is se.parent_z is None
    assert not [k for k in fl if k[1] == known.units["CS-SE"].id and k[0] == "department"]
    # The college (n = 9) is compared with nothing (the school is its only parent: n = 9).
    college = got[("college", known.units["CS"].id, "all", "overall")]
    assert not college.insufficient and college.parent_diff == pytest.approx(0)


# --- thresholds per kind ------------------------------------------------------------------


@pytest.fixture
def ordinary_tutor_groups(bare_uni):
    """MATH-PURE: a tutor group answered mostly 4s and 3s (62.5 on 0-100), and a section
    observed at 62.5 too: an ordinary meeting, and a weak class."""
    uni = bare_uni
    t = uni.factory
    tutors = [t.user(f"tu{i}", "tutor@U") for i in range(4)]
    uni.groups = {"G": t.group("G", uni.units["MATH-PURE"], uni.terms["T2"])}
    for tutor, value in zip(tutors, (4.0, 3.0, 4.0, 3.0), strict=True):
        uni.add("tutor_group", observer=tutor, group="G",
                scores={i.code: value for i in uni.item_codes("tutor_group")})  # fmt: skip
    return uni


def _below(flags_found, kind: str, unit_id: int) -> list:
    return [
        f
        for key, f in flags_found.items()
        if key[0] == "department" and key[1] == unit_id and key[2] == kind
        and key[3] == "overall" and key[4] == "below_threshold"
    ]  # fmt: skip


def test_an_ordinary_tutor_group_is_not_flagged(ordinary_tutor_groups):
    uni = ordinary_tutor_groups
    uni.session.commit()
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=Settings())
    got = results(uni.session, uni.terms["T2"].id)
    found = flags(uni.session, uni.terms["T2"].id)
    dept = uni.units["MATH-PURE"].id
    mean = statistics.fmean([75.0, 50.0, 75.0, 50.0])
    assert got[("department", dept, "tutor_group", "overall")].mean == pytest.approx(mean)
    assert mean < 70  # the school-wide threshold would have flagged it
    assert _below(found, "tutor_group", dept) == []
    # All kinds together here are tutor groups only: the same threshold applies.
    assert _below(found, "all", dept) == []


def test_without_a_threshold_of_its_own_the_tutor_group_is_flagged(ordinary_tutor_groups):
    uni = ordinary_tutor_groups
    uni.session.commit()
    settings = Settings(threshold_by_kind=())
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=settings)
    found = flags(uni.session, uni.terms["T2"].id)
    (flag,) = _below(found, "tutor_group", uni.units["MATH-PURE"].id)
    assert flag.threshold == 70


def test_mixed_kinds_are_held_to_their_values_own_thresholds(ordinary_tutor_groups):
    """All kinds together: the threshold is the average of each value's own kind's
    threshold, so the mix is flagged exactly when its values fall short on average."""
    uni = ordinary_tutor_groups
    t = uni.factory
    course = t.course("M1", uni.units["MATH-PURE"])
    t.section("M1-T2", course, uni.terms["T2"])
    uni.sections = {s.code: s for s in uni.session.exec(select(Section)).all()}
    supervisors = [t.user(f"sv{i}", "supervisor@U") for i in range(3)]
    for supervisor in supervisors:  # three spot checks at 60: below their own 70
        uni.add("spot_check", observer=supervisor, section="M1-T2",
                scores={i.code: 6.0 for i in uni.item_codes("spot_check")})  # fmt: skip
    uni.session.commit()
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=Settings())
    got = results(uni.session, uni.terms["T2"].id)
    found = flags(uni.session, uni.terms["T2"].id)
    dept = uni.units["MATH-PURE"].id
    mixed = got[("department", dept, "all", "overall")]
    assert mixed.n == 7 and mixed.mean == pytest.approx((62.5 * 4 + 60 * 3) / 7)
    own = (4 * 50 + 3 * 70) / 7  # 58.6: the mix (61.4) is above what its values ask
    assert mixed.mean > own
    assert _below(found, "all", dept) == []
    assert len(_below(found, "spot_check", dept)) == 1  # the weak class still is flagged

    # The spot checks now far lower: the mix falls short on average and is flagged.
    for supervisor in supervisors:
        uni.add("spot_check", observer=supervisor, section="M1-T2",
                scores={i.code: 1.0 for i in uni.item_codes("spot_check")})  # fmt: skip
    uni.session.commit()
    aggregate_term(uni.session, term=uni.terms["T2"].code, settings=Settings())
    got = results(uni.session, uni.terms["T2"].id)
    mixed = got[("department", dept, "all", "overall")]
    own = (4 * 50 + 6 * 70) / 10
    (flag,) = _below(flags(uni.session, uni.terms["T2"].id), "all", dept)
    assert mixed.mean < own and flag.threshold == pytest.approx(own, abs=0.05)


def test_thresholds_by_kind_are_checked():
    from evalsys.aggregation.flags import SettingsError

    assert Settings.from_config({}).threshold_for("tutor_group") == 50
    assert Settings.from_config({}).threshold_for("spot_check") == 70
    with pytest.raises(SettingsError, match="unknown kind 'tutorial'"):
        Settings.from_config({"FLAG_THRESHOLD_BY_KIND": {"tutorial": 40}})
    with pytest.raises(SettingsError, match=r"FLAG_THRESHOLD_BY_KIND\['tutor_group'\]"):
        Settings.from_config({"FLAG_THRESHOLD_BY_KIND": {"tutor_group": 140}})
