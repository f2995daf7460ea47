"""The access helper: grants cover subtrees, never siblings or parents."""

from __future__ import annotations

import pytest
from sqlmodel import select

from evalsys.accounts.access import Perm, may, scope_ids, top_units
from evalsys.org.models import OrgUnit


@pytest.fixture
def units(factory):
    return factory.university()


def _ids(session, codes):
    return {u.code: u.id for u in session.exec(select(OrgUnit)) if u.code in codes}


def test_dean_of_one_college_sees_its_subtree_only(session, factory, units):
    dean = factory.user("dean", "dean@CS")
    ids = {u.code: u.id for u in session.exec(select(OrgUnit))}
    allowed = {code for code, uid in ids.items() if may(session, dean, Perm.VIEW_UNIT, uid)}
    assert allowed == {"CS", "CS-SE", "CS-AI"}
    scope = set(session.exec(scope_ids(dean, Perm.VIEW_UNIT)))
    assert scope == {ids["CS"], ids["CS-SE"], ids["CS-AI"]}


def test_role_decides_permission(session, factory, units):
    sup = factory.user("sup", "supervisor@MATH")
    math_pure = units["MATH-PURE"].id
    assert may(session, sup, Perm.SUBMIT_SPOT_CHECK, math_pure)
    assert not may(session, sup, Perm.SUBMIT_OPEN_CLASS, math_pure)
    assert not may(session, sup, Perm.VIEW_FEEDBACK, math_pure)
    assert not may(session, sup, Perm.SUBMIT_SPOT_CHECK, units["CS-SE"].id)


def test_admin_on_school_may_everything_everywhere(session, factory, units):
    admin = factory.user("admin", "admin@U")
    for unit in units.values():
        for perm in Perm:
            assert may(session, admin, perm, unit.id)


def test_inactive_user_may_nothing(session, factory, units):
    admin = factory.user("admin", "admin@U")
    admin.active = False
    assert not may(session, admin, Perm.VIEW_UNIT, units["U"].id)


def test_head_of_department_not_the_sibling(session, factory, units):
    head = factory.user("head", "head@CS-SE")
    assert may(session, head, Perm.VIEW_FEEDBACK, units["CS-SE"].id)
    assert not may(session, head, Perm.VIEW_FEEDBACK, units["CS-AI"].id)
    assert not may(session, head, Perm.VIEW_FEEDBACK, units["CS"].id)


def test_top_units_drop_covered_grants(session, factory, units):
    user = factory.user("multi", "dean@CS", "head@CS-SE", "head@MATH-PURE")
    assert [u.code for u in top_units(session, user, Perm.VIEW_FEEDBACK)] == ["CS", "MATH-PURE"]


def test_moving_a_department_moves_its_scope(session, factory, units):
    from evalsys.org.hierarchy import rebuild_closure

    dean = factory.user("dean", "dean@CS")
    dept = units["MATH-PURE"]
    assert not may(session, dean, Perm.VIEW_UNIT, dept.id)
    dept.parent_id = units["CS"].id
    session.add(dept)
    rebuild_closure(session)
    session.commit()
    assert may(session, dean, Perm.VIEW_UNIT, dept.id)


@pytest.mark.parametrize("perm", list(Perm))
def test_dean_of_cs_never_reaches_math(session, factory, units, perm):
    dean = factory.user("dean", "dean@CS", "head@CS-SE", "supervisor@CS", "leader@CS")
    for code in ("U", "MATH", "MATH-PURE"):
        assert not may(session, dean, perm, units[code].id), (perm, code)
