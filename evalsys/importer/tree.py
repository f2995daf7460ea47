"""Checks of units.csv as a whole: the tree it forms together with the units already stored.

A row can look fine on its own and still break the tree: its parent may be
defined ten rows further down, or be an existing unit that the same file moves
below the row's own unit. So the proposed tree (database units overridden by the
file's rows) is built first and checked as one: unknown parents, cycles, the kind
each parent must have, and existing units left under a parent whose kind changed.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _

from evalsys.importer.common import UNITS, Planned
from evalsys.org.hierarchy import find_cycle
from evalsys.org.models import PARENT_KIND, OrgUnit, UnitKind

#: report(code of the file row, column, message)
Report = Callable[[str, str, str], None]


def check_tree(planned: dict[str, Planned], existing: dict[str, OrgUnit], report: Report) -> None:
    """Report every way the file's units would break the tree; write nothing."""
    code_of = {u.id: code for code, u in existing.items()}
    parents: dict[str, str | None] = {c: code_of.get(u.parent_id) for c, u in existing.items()}
    kinds: dict[str, str | None] = {code: u.kind for code, u in existing.items()}
    for code, row in planned.items():
        parents[code] = row.values["parent"]
        kinds[code] = row.values["kind"]
    for code in _check_parent_presence(planned, kinds, report):
        parents[code] = None  # already reported; don't chase a parent that isn't there
    in_cycle = _check_cycles(planned, parents, report)
    _check_parent_kinds(planned, parents, kinds, in_cycle, report)
    _check_existing_children(planned, existing, parents, kinds, in_cycle, report)


def _check_parent_presence(
    planned: dict[str, Planned], kinds: dict[str, str | None], report: Report
) -> list[str]:
    """Unknown parents, schools with a parent, colleges and departments without one."""
    bad: list[str] = []
    for code, row in planned.items():
        kind, parent = row.values["kind"], row.values["parent"]
        if kind == UnitKind.SCHOOL and parent is not None:
            report(code, "parent", _("a school is the top of the tree; leave its parent empty"))
            bad.append(code)
        elif parent is not None and parent not in kinds:
            message = _(
                "unknown parent '%(code)s': neither in %(file)s nor in the database",
                code=parent,
                file=UNITS.name,
            )
            report(code, "parent", message)
            bad.append(code)
        elif parent is None and kind is not None and kind != UnitKind.SCHOOL:
            wanted = PARENT_KIND[UnitKind(kind)]
            message = _(
                "missing value: a unit of kind '%(kind)s' needs a parent of kind '%(wanted)s'",
                kind=kind,
                wanted=wanted,
            )
            report(code, "parent", message)
    return bad


def _check_cycles(
    planned: dict[str, Planned], parents: dict[str, str | None], report: Report
) -> set[str]:
    """Report each cycle once, on the first file row in it; return the units in cycles."""
    parents = dict(parents)
    in_cycle: set[str] = set()
    while (cycle := find_cycle(parents)) is not None:
        members = cycle[:-1]
        in_cycle.update(members)
        rows = sorted((m for m in members if m in planned), key=lambda m: planned[m].row)
        # The stored tree has no cycle, so some row of the file closes this one.
        first = rows[0] if rows else members[0]
        # Told from the row's own unit, whatever order the stored units came in (the
        # database's order is no order: PostgreSQL and SQLite started the loop elsewhere).
        at = members.index(first)
        cycle = [*members[at:], *members[:at], first]
        if rows:
            report(
                first,
                "parent",
                _(
                    "cycle: %(cycle)s; a unit cannot be below itself,"
                    " give one of these units another parent",
                    cycle=" -> ".join(cycle),
                ),
            )
        parents[first] = None
    return in_cycle


def _check_parent_kinds(
    planned: dict[str, Planned],
    parents: dict[str, str | None],
    kinds: dict[str, str | None],
    in_cycle: set[str],
    report: Report,
) -> None:
    """A college hangs below a school, a department below a college."""
    for code, row in planned.items():
        kind, parent = row.values["kind"], parents[code]
        if code in in_cycle or kind is None or kind == UnitKind.SCHOOL or parent is None:
            continue
        wanted = PARENT_KIND[UnitKind(kind)]
        have = kinds.get(parent)
        if have is not None and have != wanted:
            message = _(
                "parent '%(parent)s' is of kind '%(have)s'; the parent of a unit of kind"
                " '%(kind)s' must be of kind '%(wanted)s'",
                parent=parent,
                have=have,
                kind=kind,
                wanted=wanted,
            )
            report(code, "parent", message)


def _check_existing_children(
    planned: dict[str, Planned],
    existing: dict[str, OrgUnit],
    parents: dict[str, str | None],
    kinds: dict[str, str | None],
    in_cycle: set[str],
    report: Report,
) -> None:
    """Stored units the file leaves alone, below a unit whose kind the file changes."""
    stranded: dict[str, list[str]] = {}
    for code, unit in existing.items():
        parent = parents.get(code)
        if code in planned or code in in_cycle or parent not in planned:
            continue
        wanted = PARENT_KIND[UnitKind(unit.kind)]
        if kinds[parent] is not None and kinds[parent] != wanted:
            stranded.setdefault(parent, []).append(code)
    for parent, children in stranded.items():
        report(
            parent,
            "kind",
            _(
                "as a unit of kind '%(kind)s' it would leave the stored units %(units)s below it"
                " with a parent of the wrong kind; give them a new parent in units.csv",
                kind=kinds[parent],
                units=", ".join(sorted(children)),
            ),
        )


def kind_changed_from_department(
    planned: dict[str, Planned], existing: dict[str, OrgUnit]
) -> dict[int, str]:
    """Stored departments the file turns into something else, id -> code.

    Their stored courses and tutor groups would then belong to a non-department.
    """
    changed: dict[int, str] = {}
    for code, row in planned.items():
        unit = existing.get(code)
        kind = row.values["kind"]
        if unit is None or unit.id is None or kind is None:
            continue
        if unit.kind == UnitKind.DEPARTMENT and kind != UnitKind.DEPARTMENT:
            changed[unit.id] = code
    return changed
