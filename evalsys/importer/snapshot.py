"""What the database holds before an import, loaded with one query per table.

Every lookup the checks and the writes make (does this code exist, what kind is
that unit, which grants does this user have) is answered from these dictionaries,
so an import of a thousand rows costs a handful of queries, not a thousand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from evalsys.accounts.models import RoleGrant, User
from evalsys.importer.common import GROUPS, PEOPLE, PROGRAMMES, SECTIONS
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup
from evalsys.programmes.models import Programme, ProgrammeCourse, TrainingPlan

#: Codes per IN (...) list: far below SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 5000


@dataclass
class Snapshot:
    """Existing rows keyed by their natural key (code, or username for people)."""

    units: dict[str, OrgUnit]
    users: dict[str, User]
    terms: dict[str, Term]
    courses: dict[str, Course]
    #: Only the sections and groups the files name: these tables grow every term.
    sections: dict[str, Section]
    groups: dict[str, TutorGroup]
    #: Grants of the users people.csv names, by user id.
    grants: dict[int, list[RoleGrant]] = field(default_factory=dict)
    #: Programmes, the course codes of each (by programme id) and their plans by
    #: (programme id, version): loaded only when programmes.csv is imported.
    programmes: dict[str, Programme] = field(default_factory=dict)
    programme_courses: dict[int, frozenset[str]] = field(default_factory=dict)
    plans: dict[tuple[int, str], TrainingPlan] = field(default_factory=dict)

    @cached_property
    def unit_code(self) -> dict[int, str]:
        return {u.id: code for code, u in self.units.items() if u.id is not None}

    @cached_property
    def username(self) -> dict[int, str]:
        return {u.id: name for name, u in self.users.items() if u.id is not None}

    @cached_property
    def term_code(self) -> dict[int, str]:
        return {t.id: code for code, t in self.terms.items() if t.id is not None}

    @cached_property
    def course_code(self) -> dict[int, str]:
        return {c.id: code for code, c in self.courses.items() if c.id is not None}


def load_snapshot(session: Session, keys: Mapping[str, set[str]]) -> Snapshot:
    """Load what the checks need; ``keys`` holds the natural keys each file names."""
    snapshot = Snapshot(
        units=_all(session, OrgUnit, "code"),
        users=_all(session, User, "username"),
        terms=_all(session, Term, "code"),
        courses=_all(session, Course, "code"),
        sections=_named(session, Section, "code", keys.get(SECTIONS.name, set())),
        groups=_named(session, TutorGroup, "code", keys.get(GROUPS.name, set())),
    )
    user_ids = [snapshot.users[u].id for u in keys.get(PEOPLE.name, set()) if u in snapshot.users]
    for grant in _where_in(session, RoleGrant, "user_id", user_ids):
        snapshot.grants.setdefault(grant.user_id, []).append(grant)
    if PROGRAMMES.name in keys:
        snapshot.programmes = _all(session, Programme, "code")
        codes: dict[int, set[str]] = {}
        for link in session.exec(select(ProgrammeCourse)):
            codes.setdefault(link.programme_id, set()).add(snapshot.course_code[link.course_id])
        snapshot.programme_courses = {i: frozenset(c) for i, c in codes.items()}
        snapshot.plans = {
            (p.programme_id, p.version): p for p in session.exec(select(TrainingPlan))
        }
    return snapshot


def _all(session: Session, model: type[SQLModel], key: str) -> dict[str, Any]:
    return {getattr(row, key): row for row in session.exec(select(model))}


def _named(session: Session, model: type[SQLModel], key: str, codes: set[str]) -> dict[str, Any]:
    return {getattr(row, key): row for row in _where_in(session, model, key, codes)}


def _where_in(
    session: Session, model: type[SQLModel], attribute: str, values: Iterable[Any]
) -> list[Any]:
    """Rows whose ``attribute`` is one of ``values``: one query unless there are thousands."""
    values = sorted(set(values))
    column = col(getattr(model, attribute))
    rows: list[Any] = []
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        rows.extend(session.exec(select(model).where(column.in_(chunk))))
    return rows
