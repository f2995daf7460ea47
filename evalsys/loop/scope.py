"""Whose loop is it: who may read or change a unit's problems, and whom and what a unit's
forms may name.

Reading a unit's problems needs ``VIEW_REPORTS`` or ``MANAGE_LOOP`` on it
(:data:`READ_PERMS`); changing anything needs ``MANAGE_LOOP``
(:func:`require_manage`, which every changing service function calls, so the CLI, jobs
and any future API cannot bypass it). The rule itself is
:func:`evalsys.accounts.access.may`; this module only says which permissions the loop
asks for. An owner or attendee must be one of the unit's people (:func:`people_ids`), a
problem or a meeting of the unit's line of the org tree (:func:`in_subtree`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, or_
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, may, scope_ids
from evalsys.accounts.models import RoleGrant, User
from evalsys.loop.models import Problem
from evalsys.loop.rules import LoopPermissionError
from evalsys.org.models import OrgUnitClosure

#: Heads, deans and leaders (VIEW_REPORTS) read a unit's problems; managers too.
READ_PERMS = (Perm.MANAGE_LOOP, Perm.VIEW_REPORTS)


def can_manage(session: Session, user: User | Any, unit_id: int) -> bool:
    return may(session, user, Perm.MANAGE_LOOP, unit_id)


def require_manage(session: Session, user: User | None, unit_id: int) -> None:
    """Refuse unless ``user`` manages the unit's loop; ``user`` None is the system (CLI, jobs)."""
    if user is not None and not can_manage(session, user, unit_id):
        raise LoopPermissionError("you may not manage the problems of this unit")


def visible_problem_ids(user: User) -> Any:
    """A subquery of the ids of the problems the user may read (for lists and dashboards)."""
    units = scope_ids(user, READ_PERMS)
    return select(Problem.id).where(col(Problem.unit_id).in_(units))


def people_ids(unit_id: int) -> Select[Any]:
    """A subquery of the ids of the people an action or a meeting of the unit may name.

    Active users with a role at, above or below the unit: who the forms offer as
    owners and attendees, and all the service accepts. Anyone else — a teacher of
    another college, a head of the sister department — would be given a unit's
    problem to read (an action's owner opens its problem) or named on its
    meeting without belonging to it.
    """
    related = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)
    above = select(OrgUnitClosure.ancestor_id).where(OrgUnitClosure.descendant_id == unit_id)
    granted = select(RoleGrant.user_id).where(
        or_(col(RoleGrant.unit_id).in_(related), col(RoleGrant.unit_id).in_(above))
    )
    return select(User.id).where(col(User.id).in_(granted), User.active == True)  # noqa: E712


def people(session: Session, unit_id: int) -> list[User]:
    """The people of :func:`people_ids`, by name: the choices of the owner and attendee fields."""
    stmt = (
        select(User)
        .where(col(User.id).in_(people_ids(unit_id)))
        .order_by(col(User.name), col(User.id))
    )
    return list(session.exec(stmt).all())


def people_among(session: Session, unit_id: int, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` the unit's forms offer (unknown ids and strangers alike are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    stmt = select(User.id).where(col(User.id).in_(wanted), col(User.id).in_(people_ids(unit_id)))
    return {uid for uid in session.exec(stmt).all() if uid is not None}


def in_subtree(session: Session, unit_id: int, root_id: int) -> bool:
    """Is the unit ``root_id`` itself or one below it?"""
    return (
        session.exec(
            select(OrgUnitClosure.depth).where(
                OrgUnitClosure.ancestor_id == root_id, OrgUnitClosure.descendant_id == unit_id
            )
        ).first()
        is not None
    )
