"""Walking the tree: subtrees, ancestors and cycle checks, each one query.

The closure table is derived data. It is rebuilt from the parent pointers in
two statements (delete, then insert from a recursive CTE) after anything that
changes the tree, which is cheap at university scale (hundreds of units) and
can never drift from the parents the way incremental bookkeeping can.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from evalsys.org.models import OrgUnit, OrgUnitClosure

_CLOSURE_CTE = text(
    """
    WITH RECURSIVE walk(ancestor_id, descendant_id, depth) AS (
        SELECT id, id, 0 FROM org_unit
        UNION ALL
        SELECT walk.ancestor_id, child.id, walk.depth + 1
        FROM walk JOIN org_unit AS child ON child.parent_id = walk.descendant_id
        WHERE walk.depth < :max_depth
    )
    INSERT INTO org_unit_closure (ancestor_id, descendant_id, depth)
    SELECT ancestor_id, descendant_id, depth FROM walk
    """
)

#: Deeper than any real hierarchy; stops the CTE if a cycle ever slipped past the checks.
MAX_DEPTH = 32


def rebuild_closure(session: Session) -> None:
    """Recompute every (ancestor, descendant) pair from ``org_unit.parent_id``."""
    session.flush()
    session.exec(delete(OrgUnitClosure))
    # Ignored below: text(): exec() is typed for select/update/delete.
    session.exec(_CLOSURE_CTE, params={"max_depth": MAX_DEPTH})  # type: ignore[call-overload]


def subtree_ids(session: Session, unit_id: int) -> list[int]:
    """The unit and everything below it."""
    stmt = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)
    return list(session.exec(stmt))


def ancestors(session: Session, unit_id: int, *, include_self: bool = True) -> Sequence[OrgUnit]:
    """Root first: the school, then the college, ... down to the unit itself."""
    stmt = (
        select(OrgUnit)
        .join(OrgUnitClosure, col(OrgUnitClosure.ancestor_id) == OrgUnit.id)
        .where(OrgUnitClosure.descendant_id == unit_id)
        .order_by(col(OrgUnitClosure.depth).desc())
    )
    if not include_self:
        stmt = stmt.where(OrgUnitClosure.depth > 0)
    return session.exec(stmt).all()


def is_ancestor(session: Session, ancestor_id: int, descendant_id: int) -> bool:
    """True when ``ancestor_id`` is ``descendant_id`` or above it."""
    stmt = select(OrgUnitClosure.depth).where(
        OrgUnitClosure.ancestor_id == ancestor_id,
        OrgUnitClosure.descendant_id == descendant_id,
    )
    return session.exec(stmt).first() is not None


def children(session: Session, unit_id: int) -> Sequence[OrgUnit]:
    stmt = select(OrgUnit).where(OrgUnit.parent_id == unit_id).order_by(OrgUnit.code)
    return session.exec(stmt).all()


def find_cycle(parents: dict[str, str | None]) -> list[str] | None:
    """Return one cycle (as a list of codes) in a code → parent-code mapping, or None.

    Used on the *proposed* tree before anything is written, so an import that
    would make a unit its own ancestor is refused with the codes involved.
    """
    state: dict[str, int] = {}  # 1 = on the current path, 2 = known acyclic
    for start in parents:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parents and state.get(node) != 2:
            if state.get(node) == 1:
                return path[path.index(node) :] + [node]
            state[node] = 1
            path.append(node)
            node = parents[node]
        for seen in path:
            state[seen] = 2
    return None
