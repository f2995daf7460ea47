"""From checked plans to rows: first the differences, then (unless a dry run) the writes.

Differences are computed with references as codes, not ids, so a dry run counts
exactly what an import would create and update without writing a row or knowing
the ids new rows would get. The writes then go table by table in one flush each
(SQLAlchemy batches the INSERTs), parents before children.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from evalsys.accounts import sessions
from evalsys.accounts.models import RoleGrant, SessionEnd, User
from evalsys.accounts.service import audit_grant_changes
from evalsys.importer.check import Plans
from evalsys.importer.common import (
    COURSES,
    GROUPS,
    PEOPLE,
    PROGRAMMES,
    SECTIONS,
    SPECS,
    TERMS,
    UNITS,
    FileSpec,
    Planned,
)
from evalsys.importer.snapshot import Snapshot
from evalsys.org import hierarchy
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup, UnitKind
from evalsys.programmes.importing import link_free_text
from evalsys.programmes.models import Programme, ProgrammeCourse, TrainingPlan


@dataclass
class FileChanges:
    """What one file would change: rows to create, stored rows to update, the rest."""

    spec: FileSpec
    create: dict[str, Planned] = field(default_factory=dict)
    #: (stored row, {value name: new value}) for the values that differ.
    update: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        created, updated = len(self.create), len(self.update)
        return {"created": created, "updated": updated, "unchanged": self.unchanged}


# --- stored rows in the same terms as the plans (references as codes) ---------------


def _unit_values(unit: OrgUnit, s: Snapshot) -> dict[str, Any]:
    parent = s.unit_code.get(unit.parent_id) if unit.parent_id is not None else None
    return {"name": unit.name, "name_en": unit.name_en, "kind": unit.kind, "parent": parent}


def _user_values(user: User, s: Snapshot) -> dict[str, Any]:
    grants = s.grants.get(user.id, []) if user.id is not None else []
    roles = frozenset((g.role, s.unit_code[g.unit_id]) for g in grants)
    return {"name": user.name, "email": user.email, "roles": roles}


def _term_values(term: Term, s: Snapshot) -> dict[str, Any]:
    return {
        "name": term.name,
        "name_en": term.name_en,
        "start_date": term.start_date,
        "end_date": term.end_date,
    }


def _course_values(course: Course, s: Snapshot) -> dict[str, Any]:
    department = s.unit_code[course.department_id]
    return {"title": course.title, "title_en": course.title_en, "department": department}


def _section_values(section: Section, s: Snapshot) -> dict[str, Any]:
    return {
        "course": s.course_code[section.course_id],
        "term": s.term_code[section.term_id],
        "teacher": s.username.get(section.teacher_id) if section.teacher_id is not None else None,
        "enrolled": section.enrolled,
        "meetings": section.meetings,
    }


def _group_values(group: TutorGroup, s: Snapshot) -> dict[str, Any]:
    return {
        "name": group.name,
        "department": s.unit_code[group.department_id],
        "term": s.term_code[group.term_id],
        "tutor": s.username.get(group.tutor_id) if group.tutor_id is not None else None,
        "size": group.size,
    }


def _programme_values(programme: Programme, s: Snapshot) -> dict[str, Any]:
    return {
        "name": programme.name,
        "name_en": programme.name_en,
        "department": s.unit_code[programme.department_id],
        "courses": s.programme_courses.get(programme.id, frozenset())
        if programme.id is not None
        else frozenset(),
    }


def _plan_value(programme: Programme, version: str, s: Snapshot) -> Any:
    """The stored plan of that version as the file writes it, or None."""
    plan = s.plans.get((programme.id, version))  # type: ignore[arg-type]  # a stored row
    if plan is None:
        return None
    return (plan.version, s.term_code[plan.effective_term_id], plan.summary)


_STORED: dict[str, tuple[Callable[[Snapshot], dict[str, Any]], Callable[[Any, Snapshot], Any]]] = {
    UNITS.name: (lambda s: s.units, _unit_values),
    PEOPLE.name: (lambda s: s.users, _user_values),
    TERMS.name: (lambda s: s.terms, _term_values),
    COURSES.name: (lambda s: s.courses, _course_values),
    SECTIONS.name: (lambda s: s.sections, _section_values),
    GROUPS.name: (lambda s: s.groups, _group_values),
    PROGRAMMES.name: (lambda s: s.programmes, _programme_values),
}


def diff(plans: Plans, snapshot: Snapshot) -> dict[str, FileChanges]:
    """Compare each planned row with the stored one of the same key, file by file."""
    changes: dict[str, FileChanges] = {}
    for spec in SPECS:
        if spec.name not in plans.rows:
            continue
        table, values_of = _STORED[spec.name]
        stored, found = table(snapshot), FileChanges(spec)
        for key, planned in plans.rows[spec.name].items():
            row = stored.get(key)
            if row is None:
                found.create[key] = planned
                continue
            current = values_of(row, snapshot)
            if "plan" in planned.values:  # one version of the plan: compare with that one
                current["plan"] = _plan_value(row, planned.values["plan"][0], snapshot)
            changed = {k: v for k, v in planned.values.items() if current[k] != v}
            if changed:
                found.update.append((row, changed))
            else:
                found.unchanged += 1
        changes[spec.name] = found
    return changes


# --- writing ---------------------------------------------------------------------------

#: Values naming another row: value name -> (model attribute, file whose keys it names).
_REFERENCES: dict[str, dict[str, tuple[str, str]]] = {
    UNITS.name: {"parent": ("parent_id", UNITS.name)},
    COURSES.name: {"department": ("department_id", UNITS.name)},
    SECTIONS.name: {
        "course": ("course_id", COURSES.name),
        "term": ("term_id", TERMS.name),
        "teacher": ("teacher_id", PEOPLE.name),
    },
    GROUPS.name: {
        "department": ("department_id", UNITS.name),
        "term": ("term_id", TERMS.name),
        "tutor": ("tutor_id", PEOPLE.name),
    },
    PROGRAMMES.name: {"department": ("department_id", UNITS.name)},
}

#: Values written apart from the row's own columns (grants, a programme's courses and plan).
_APART = frozenset({"roles", "courses", "plan"})


def apply(
    session: Session,
    snapshot: Snapshot,
    changes: dict[str, FileChanges],
    *,
    progress: Callable[[str, str, int, int], None] | None = None,
) -> None:
    """Write the changes in file order; the caller commits (or rolls back).

    ``progress("write", file, rows, rows)`` is called when a file's rows are written.
    """
    writer = _Writer(session, snapshot)
    for spec in SPECS:
        found = changes.get(spec.name)
        if found is None:
            continue
        if spec is UNITS:
            writer.units(found)
        elif spec is PEOPLE:
            writer.people(found)
        elif spec is PROGRAMMES:
            writer.programmes(found)
        else:
            writer.write(spec, found.update, found.create)
        if progress is not None:
            rows = sum(found.counts().values())
            progress("write", spec.name, rows, rows)


class _Writer:
    def __init__(self, session: Session, snapshot: Snapshot) -> None:
        self.session = session
        self.snapshot = snapshot
        #: Natural key -> id per file, stored rows first, new rows added after each flush.
        self.ids: dict[str, dict[str, int]] = {
            UNITS.name: {code: id_ for id_, code in snapshot.unit_code.items()},
            PEOPLE.name: {name: id_ for id_, name in snapshot.username.items()},
            TERMS.name: {code: id_ for id_, code in snapshot.term_code.items()},
            COURSES.name: {code: id_ for id_, code in snapshot.course_code.items()},
        }

    def attributes(self, spec: FileSpec, values: dict[str, Any]) -> dict[str, Any]:
        """Model attributes for planned values: codes become ids; grants are written apart."""
        references = _REFERENCES.get(spec.name, {})
        attributes: dict[str, Any] = {}
        for name, value in values.items():
            if name in _APART:
                continue
            if name in references:
                attribute, target = references[name]
                attributes[attribute] = None if value is None else self.ids[target][value]
            else:
                attributes[name] = value
        return attributes

    def write(
        self,
        spec: FileSpec,
        updates: list[tuple[Any, dict[str, Any]]],
        creates: dict[str, Planned],
    ) -> dict[str, Any]:
        """Update and create the rows, flush once, and record the new ids."""
        for row, changed in updates:
            for attribute, value in self.attributes(spec, changed).items():
                setattr(row, attribute, value)
            self.session.add(row)
        new: dict[str, Any] = {
            key: spec.model(**{spec.key: key}, **self.attributes(spec, planned.values))
            for key, planned in creates.items()
        }
        self.session.add_all(new.values())
        self.session.flush()
        self.ids.setdefault(spec.name, {}).update({key: row.id for key, row in new.items()})
        return new

    def units(self, found: FileChanges) -> None:
        """Schools, then colleges, then departments: each new parent has its id in time."""
        for kind in UnitKind:
            updates = [(u, c) for u, c in found.update if c.get("kind", u.kind) == kind]
            creates = {k: p for k, p in found.create.items() if p.values["kind"] == kind}
            self.write(UNITS, updates, creates)
        hierarchy.rebuild_closure(self.session)

    def programmes(self, found: FileChanges) -> None:
        """Programmes, then their course lists made exactly the listed ones, then the plan
        versions; free-text programmes of loop actions that are now codes get linked."""
        new = self.write(PROGRAMMES, found.update, found.create)
        wanted = [(row, c) for row, c in found.update] + [
            (new[k], p.values) for k, p in found.create.items()
        ]
        course_ids = self.ids[COURSES.name]
        term_ids = self.ids[TERMS.name]
        for programme, values in wanted:
            assert programme.id is not None  # written and flushed above
            if "courses" in values:
                stored = self.snapshot.programme_courses.get(programme.id, frozenset())
                for code in stored - values["courses"]:
                    link = self.session.get(ProgrammeCourse, (programme.id, course_ids[code]))
                    self.session.delete(link)
                for code in sorted(values["courses"] - stored):
                    self.session.add(
                        ProgrammeCourse(programme_id=programme.id, course_id=course_ids[code])
                    )
            if "plan" in values:
                version, term, summary = values["plan"]
                plan = self.snapshot.plans.get((programme.id, version)) or TrainingPlan(
                    programme_id=programme.id, version=version, effective_term_id=0
                )
                plan.effective_term_id = term_ids[term]
                plan.summary = summary
                self.session.add(plan)
        self.session.flush()
        link_free_text(self.session)

    def people(self, found: FileChanges) -> None:
        """Users, then their grants made exactly the listed ones (as replace_grants does)."""
        roles_changed = [(user, c["roles"]) for user, c in found.update if "roles" in c]
        new = self.write(PEOPLE, found.update, found.create)
        roles_changed += [(new[k], p.values["roles"]) for k, p in found.create.items()]
        for user, roles in roles_changed:
            self._replace_grants(user, roles)
        self.session.flush()

    def _replace_grants(self, user: User, roles: frozenset[tuple[str, str]]) -> None:
        unit_ids = self.ids[UNITS.name]
        wanted = {(role, unit_ids[code]) for role, code in roles}
        stored = self.snapshot.grants.get(user.id, []) if user.id is not None else []
        removed = []
        for grant in stored:
            if (grant.role, grant.unit_id) not in wanted:
                removed.append((grant.role, grant.unit_id))
                self.session.delete(grant)
        have = {(grant.role, grant.unit_id) for grant in stored}
        added = sorted(wanted - have)
        assert user.id is not None  # people() wrote (and flushed) every user first
        for role, unit_id in added:
            self.session.add(RoleGrant(user_id=user.id, role=role, unit_id=unit_id))
        # Role changes are audited one by one (the import's own event only counts rows).
        codes = {unit_id: code for code, unit_id in unit_ids.items()}
        audit_grant_changes(
            self.session, user.username, added=added, removed=removed, how="import", codes=codes
        )
        if removed:  # whoever lost a role logs in again, under the roles they have now
            sessions.end_all(self.session, user, reason=SessionEnd.ROLES)
