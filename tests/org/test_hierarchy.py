"""The closure table and the tree walks built on it."""

from __future__ import annotations

import random

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from evalsys.org import hierarchy
from evalsys.org.models import OrgUnit, OrgUnitClosure, Term


def _naive_ancestors(units: dict[int, OrgUnit], uid: int) -> list[int]:
    out = []
    node: int | None = uid
    while node is not None:
        out.append(node)
        node = units[node].parent_id
    return out


def test_closure_matches_parent_walk_on_a_random_tree(session, factory):
    rng = random.Random(7)
    factory.unit("S", "school")
    colleges = [factory.unit(f"C{i}", "college", "S") for i in range(5)]
    for i in range(20):
        factory.unit(f"D{i}", "department", rng.choice(colleges).code)
    units = {u.id: u for u in session.exec(select(OrgUnit))}
    for uid in units:
        expected = _naive_ancestors(units, uid)
        got = [u.id for u in hierarchy.ancestors(session, uid)]
        assert got == list(reversed(expected))
        for depth, anc in enumerate(expected):
            row = session.get(OrgUnitClosure, (anc, uid))
            assert row is not None and row.depth == depth
    total = sum(len(_naive_ancestors(units, uid)) for uid in units)
    assert len(session.exec(select(OrgUnitClosure)).all()) == total


def test_subtree_and_children(session, factory):
    u = factory.university()
    assert set(hierarchy.subtree_ids(session, u["CS"].id)) == {
        u["CS"].id,
        u["CS-SE"].id,
        u["CS-AI"].id,
    }
    assert [c.code for c in hierarchy.children(session, u["U"].id)] == ["CS", "MATH"]
    assert hierarchy.is_ancestor(session, u["U"].id, u["MATH-PURE"].id)
    assert not hierarchy.is_ancestor(session, u["MATH-PURE"].id, u["U"].id)
    assert [a.code for a in hierarchy.ancestors(session, u["CS-AI"].id, include_self=False)] == [
        "U",
        "CS",
    ]


@pytest.mark.parametrize(
    ("parents", "cycle"),
    [
        ({"A": "B", "B": "A"}, {"A", "B"}),
        ({"A": "A"}, {"A"}),
        ({"S": None, "A": "S", "B": "C", "C": "D", "D": "B"}, {"B", "C", "D"}),
        ({"S": None, "A": "S", "B": "A", "X": "missing"}, None),
    ],
)
def test_find_cycle(parents, cycle):
    found = hierarchy.find_cycle(parents)
    if cycle is None:
        assert found is None
    else:
        assert found is not None and set(found) == cycle and found[0] == found[-1]


@pytest.mark.parametrize(
    ("kind", "parent"),
    [("school", "U"), ("college", None), ("department", None), ("faculty", "U")],
)
def test_database_refuses_bad_units(session, factory, kind, parent):
    factory.unit("U", "school")
    parent_id = session.exec(select(OrgUnit.id).where(OrgUnit.code == parent)).first()
    session.add(OrgUnit(code="X", name="X", kind=kind, parent_id=parent_id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_database_refuses_own_parent_and_duplicate_code(session, factory):
    factory.unit("U", "school")
    c = factory.unit("C", "college", "U")
    c.parent_id = c.id
    session.add(c)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    session.add(OrgUnit(code="C", name="again", kind="college", parent_id=c.parent_id or 1))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_term_end_after_start_in_database(session):
    from datetime import date

    session.add(Term(code="T", name="T", start_date=date(2026, 9, 1), end_date=date(2026, 9, 1)))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
