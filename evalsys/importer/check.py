"""Checks of every row of every file, all done before anything is written.

The checks run file by file in the order the files are written, so a reference
can point at a row of an earlier file in the same import or at a stored row. A
bad row still registers its code: a later file naming it then gets no second,
misleading "unknown" error, and the one real problem is reported once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.accounts.service import AccountError, parse_role_list
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
    ImportIssue,
    Planned,
    RowReader,
    max_length,
)
from evalsys.importer.snapshot import Snapshot
from evalsys.importer.tree import check_tree, kind_changed_from_department
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup, UnitKind
from evalsys.org.timetable import TimetableError, format_meetings, parse_meetings
from evalsys.programmes.models import Programme, TrainingPlan

#: Roles are written ``dean@CODE;teacher@CODE``, so a unit code cannot hold these.
_UNIT_CODE = re.compile(r"[^\s@;,]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_KINDS = tuple(kind.value for kind in UnitKind)

RowCheck = Callable[[RowReader, str | None], dict[str, Any]]


@dataclass
class Plans:
    """What the files ask for, by file, then by natural key."""

    rows: dict[str, dict[str, Planned]] = field(default_factory=dict)
    #: Files that could not be read or lack columns: references to them are not checked,
    #: so one unreadable file does not bury its real error under hundreds of "unknown"s.
    unverified: set[str] = field(default_factory=set)

    def of(self, spec: FileSpec) -> dict[str, Planned]:
        return self.rows.get(spec.name, {})


def check_tables(
    session: Session,
    tables: Mapping[str, list[dict[str, str]]],
    snapshot: Snapshot,
    issues: list[ImportIssue],
    unverified: set[str],
    *,
    progress: Callable[[str, str, int, int], None] | None = None,
) -> Plans:
    """Check every row of every file against the others and the stored rows.

    ``progress("check", file, rows checked, rows)`` is called after each row.
    """
    return _Checker(session, snapshot, issues, unverified, progress).run(tables)


class _Checker:
    def __init__(
        self,
        session: Session,
        snapshot: Snapshot,
        issues: list[ImportIssue],
        unverified: set[str],
        progress: Callable[[str, str, int, int], None] | None = None,
    ) -> None:
        self.progress = progress
        self.session = session
        self.snapshot = snapshot
        self.issues = issues
        self.plans = Plans(unverified=set(unverified))

    def run(self, tables: Mapping[str, list[dict[str, str]]]) -> Plans:
        row_checks: dict[str, RowCheck] = {
            UNITS.name: self._unit,
            PEOPLE.name: self._person,
            TERMS.name: self._term,
            COURSES.name: self._course,
            SECTIONS.name: self._section,
            GROUPS.name: self._group,
            PROGRAMMES.name: self._programme,
        }
        for spec in SPECS:
            if spec.name in tables:
                self._check_file(spec, tables[spec.name], row_checks[spec.name])
        self._check_departments_kept()
        return self.plans

    # --- file level -----------------------------------------------------------------

    def _check_file(self, spec: FileSpec, rows: list[dict[str, str]], check_row: RowCheck) -> None:
        columns = frozenset(column for row in rows for column in row)
        missing = [column for column in spec.columns if column not in columns]
        if rows and missing:
            self._missing_columns(spec, columns, missing)
            self.plans.unverified.add(spec.name)
            return
        planned: dict[str, Planned] = {}
        key_limit = max_length(spec.model, spec.key)
        for number, data in enumerate(rows, start=2):
            if self.progress is not None:
                self.progress("check", spec.name, number - 1, len(rows))
            if not any(data.values()):
                continue  # an empty line, or one Excel filled with commas only
            reader = RowReader(spec.name, number, data, columns, self.issues)
            key = reader.text(spec.key, limit=key_limit)
            values = check_row(reader, key)
            if key is None:
                continue
            if key in planned:
                first = planned[key].row
                message = _(
                    "duplicate %(column)s '%(key)s': already on row %(row)s",
                    column=spec.key,
                    key=key,
                    row=first,
                )
                reader.error(spec.key, message)
                continue
            planned[key] = Planned(number, values)
        self.plans.rows[spec.name] = planned
        if spec is UNITS:
            check_tree(planned, self.snapshot.units, self._unit_reporter(planned))

    def _missing_columns(self, spec: FileSpec, columns: frozenset[str], missing: list[str]) -> None:
        if len(columns) == 1 and any(sep in next(iter(columns)) for sep in ";\t"):
            message = _(
                "missing column(s) %(missing)s; the header (row 1) must name %(columns)s;"
                " the header looks separated by ';' or tabs: save it as CSV with commas",
                missing=", ".join(missing),
                columns=", ".join(spec.columns),
            )
        else:
            message = _(
                "missing column(s) %(missing)s; the header (row 1) must name %(columns)s",
                missing=", ".join(missing),
                columns=", ".join(spec.columns),
            )
        self.issues.append(ImportIssue(spec.name, 1, ", ".join(missing), message))

    def _unit_reporter(self, planned: dict[str, Planned]) -> Callable[[str, str, str], None]:
        def report(code: str, column: str, message: str) -> None:
            self.issues.append(ImportIssue(UNITS.name, planned[code].row, column, message))

        return report

    # --- rows -----------------------------------------------------------------------

    def _unit(self, r: RowReader, code: str | None) -> dict[str, Any]:
        if code is not None and not _UNIT_CODE.fullmatch(code):
            r.error(
                "code",
                _("'%(code)s' holds a space, '@', ';' or ','; a unit code cannot", code=code),
            )
        values: dict[str, Any] = {
            "name": r.text("name", limit=max_length(OrgUnit, "name")),
            "kind": self._kind(r),
            "parent": r.text("parent", required=False),
        }
        if r.has("name_en"):
            limit = max_length(OrgUnit, "name_en")
            values["name_en"] = r.text("name_en", required=False, limit=limit)
        return values

    def _kind(self, r: RowReader) -> str | None:
        kind = r.text("kind")
        if kind is None:
            return None
        if kind.lower() not in _KINDS:
            r.error(
                "kind",
                _("unknown kind '%(kind)s'; use %(kinds)s", kind=kind, kinds=", ".join(_KINDS)),
            )
            return None
        return kind.lower()

    def _person(self, r: RowReader, username: str | None) -> dict[str, Any]:
        return {
            "name": r.text("name", limit=max_length(User, "name")),
            "email": self._email(r, max_length(User, "email")),
            "roles": self._roles(r),
        }

    def _email(self, r: RowReader, limit: int | None) -> str | None:
        email = r.text("email", required=False, limit=limit)
        if email is not None and not _EMAIL.fullmatch(email):
            r.error(
                "email",
                _("'%(email)s' is not an e-mail address like name@example.edu", email=email),
            )
            return None
        return email

    def _roles(self, r: RowReader) -> frozenset[tuple[str, str]] | None:
        text = r.text("roles", required=False)
        if text is None:
            return frozenset()
        try:
            specs = parse_role_list(text)
        except AccountError as err:
            r.error("roles", str(err))
            return None
        for spec in specs:
            if not self._known(UNITS, spec.unit_code, self.snapshot.units):
                r.error(
                    "roles",
                    _(
                        "unknown unit '%(code)s' in '%(role)s': neither in %(file)s nor in the"
                        " database",
                        code=spec.unit_code,
                        role=str(spec),
                        file=UNITS.name,
                    ),
                )
        return frozenset((spec.role, spec.unit_code) for spec in specs)

    def _term(self, r: RowReader, code: str | None) -> dict[str, Any]:
        start, end = r.day("start_date"), r.day("end_date")
        if start is not None and end is not None and end <= start:
            r.error(
                "end_date",
                _(
                    "the end date %(end)s is not after the start date %(start)s",
                    end=end.isoformat(),
                    start=start.isoformat(),
                ),
            )
        values: dict[str, Any] = {
            "name": r.text("name", limit=max_length(Term, "name")),
            "start_date": start,
            "end_date": end,
        }
        if r.has("name_en"):
            limit = max_length(Term, "name_en")
            values["name_en"] = r.text("name_en", required=False, limit=limit)
        return values

    def _course(self, r: RowReader, code: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "title": r.text("title", limit=max_length(Course, "title")),
            "department": self._department(r, course=True),
        }
        if r.has("title_en"):
            values["title_en"] = r.text(
                "title_en", required=False, limit=max_length(Course, "title_en")
            )
        return values

    def _section(self, r: RowReader, code: str | None) -> dict[str, Any]:
        values = {
            "course": self._ref(r, "course", COURSES, self.snapshot.courses),
            "term": self._ref(r, "term", TERMS, self.snapshot.terms),
            "teacher": self._ref(r, "teacher", PEOPLE, self.snapshot.users, required=False),
            "enrolled": r.count("enrolled"),
        }
        if r.has("meetings"):
            values["meetings"] = _meetings(r)
        return values

    def _group(self, r: RowReader, code: str | None) -> dict[str, Any]:
        return {
            "name": r.text("name", limit=max_length(TutorGroup, "name")),
            "department": self._department(r, course=False),
            "term": self._ref(r, "term", TERMS, self.snapshot.terms),
            "tutor": self._ref(r, "tutor", PEOPLE, self.snapshot.users, required=False),
            "size": r.count("size"),
        }

    def _programme(self, r: RowReader, code: str | None) -> dict[str, Any]:
        department = self._ref(r, "department", UNITS, self.snapshot.units)
        kind = self._unit_kind(department)
        if kind is not None and kind != UnitKind.DEPARTMENT:
            r.error(
                "department",
                _(
                    "'%(code)s' is of kind '%(kind)s'; a programme belongs to a department",
                    code=department,
                    kind=kind,
                ),
            )
        values: dict[str, Any] = {
            "name": r.text("name", limit=max_length(Programme, "name")),
            "department": department,
            "courses": self._course_list(r),
        }
        if r.has("name_en"):
            limit = max_length(Programme, "name_en")
            values["name_en"] = r.text("name_en", required=False, limit=limit)
        plan = self._plan(r, code)
        if plan is not None:
            values["plan"] = plan
        return values

    def _course_list(self, r: RowReader) -> frozenset[str] | None:
        """Course codes separated by ';' (or '；', as a Chinese keyboard types it)."""
        text = r.text("courses", required=False)
        if text is None:
            return frozenset()
        codes = {part.strip() for part in text.replace("；", ";").split(";") if part.strip()}
        unknown = sorted(c for c in codes if not self._known(COURSES, c, self.snapshot.courses))
        if unknown:
            r.error(
                "courses",
                _(
                    "unknown course(s) %(codes)s: neither in %(file)s nor in the database",
                    codes=", ".join(f"'{c}'" for c in unknown),
                    file=COURSES.name,
                ),
            )
            return None
        return frozenset(codes)

    def _plan(self, r: RowReader, code: str | None) -> tuple[str, str | None, str | None] | None:
        """One version of the plan: (version, effective term code, summary), or None.

        Without a plan_summary column a stored version keeps its summary, as any
        optional column left out keeps the stored value."""
        version = None
        if r.has("plan_version"):
            version = r.text(
                "plan_version", required=False, limit=max_length(TrainingPlan, "version")
            )
        summary_limit = max_length(TrainingPlan, "summary")
        if version is None:
            for column in ("plan_term", "plan_summary"):
                if r.data.get(column, ""):
                    r.error(
                        "plan_version",
                        _("missing value: a plan's %(column)s needs its version", column=column),
                    )
                    break
            return None
        term = self._ref(r, "plan_term", TERMS, self.snapshot.terms)
        if r.has("plan_summary"):
            summary = r.text("plan_summary", required=False, limit=summary_limit)
        else:
            stored = self.snapshot.programmes.get(code or "")
            plan = self.snapshot.plans.get((stored.id, version)) if stored and stored.id else None
            summary = plan.summary if plan is not None else None
        return (version, term, summary)

    # --- references -----------------------------------------------------------------

    def _known(self, target: FileSpec, code: str, stored: Mapping[str, Any]) -> bool:
        return (
            code in stored or code in self.plans.of(target) or target.name in self.plans.unverified
        )

    def _ref(
        self,
        r: RowReader,
        column: str,
        target: FileSpec,
        stored: Mapping[str, Any],
        *,
        required: bool = True,
    ) -> str | None:
        code = r.text(column, required=required)
        if code is not None and not self._known(target, code, stored):
            message = _(
                "unknown %(column)s '%(code)s': neither in %(file)s nor in the database",
                column=column,
                code=code,
                file=target.name,
            )
            r.error(column, message)
        return code

    def _department(self, r: RowReader, *, course: bool) -> str | None:
        code = self._ref(r, "department", UNITS, self.snapshot.units)
        kind = self._unit_kind(code)
        if kind is not None and kind != UnitKind.DEPARTMENT:
            if course:
                message = _(
                    "'%(code)s' is of kind '%(kind)s'; a course belongs to a department",
                    code=code,
                    kind=kind,
                )
            else:
                message = _(
                    "'%(code)s' is of kind '%(kind)s'; a tutor group belongs to a department",
                    code=code,
                    kind=kind,
                )
            r.error("department", message)
        return code

    def _unit_kind(self, code: str | None) -> str | None:
        """The kind the unit will have after the import (None: unknown or itself bad)."""
        if code is None:
            return None
        planned = self.plans.of(UNITS).get(code)
        if planned is not None:
            return planned.values["kind"]
        unit = self.snapshot.units.get(code)
        return unit.kind if unit is not None else None

    def _check_departments_kept(self) -> None:
        """A stored department turned into a college must not keep courses or groups."""
        units = self.plans.of(UNITS)
        changed = kind_changed_from_department(units, self.snapshot.units)
        if not changed:
            return
        left: dict[str, list[str]] = {}
        for code, course in self.snapshot.courses.items():
            if course.department_id in changed and code not in self.plans.of(COURSES):
                left.setdefault(changed[course.department_id], []).append(
                    _("course %(code)s", code=code)
                )
        stmt = select(TutorGroup.code, TutorGroup.department_id).where(
            col(TutorGroup.department_id).in_(list(changed))
        )
        for code, department_id in self.session.exec(stmt):
            if code not in self.plans.of(GROUPS):
                left.setdefault(changed[department_id], []).append(
                    _("tutor group %(code)s", code=code)
                )
        held = select(Programme.code, Programme.department_id).where(
            col(Programme.department_id).in_(list(changed))
        )
        for code, department_id in self.session.exec(held):
            if code not in self.plans.of(PROGRAMMES):
                left.setdefault(changed[department_id], []).append(
                    _("programme %(code)s", code=code)
                )
        for unit_code, things in left.items():
            self.issues.append(
                ImportIssue(
                    UNITS.name,
                    units[unit_code].row,
                    "kind",
                    _(
                        "%(things)s belong to '%(unit)s', and only a department holds courses"
                        " and tutor groups; move them to a department first",
                        things=", ".join(sorted(things)),
                        unit=unit_code,
                    ),
                )
            )


def _meetings(r: RowReader) -> str | None:
    """The timetable cell in its canonical form ("Mon 1-2; Wed 3-4"), or None when empty."""
    text = r.text("meetings", required=False, limit=max_length(Section, "meetings"))
    if text is None:
        return None
    try:
        canonical = format_meetings(parse_meetings(text)) or None
    except TimetableError as err:
        r.error("meetings", str(err))
        return None
    limit = max_length(Section, "meetings")
    if canonical is not None and limit is not None and len(canonical) > limit:
        # "周一 1-2@A" is stored as "Mon 1-2 @ A": a cell just within the limit can outgrow it.
        r.error(
            "meetings",
            _(
                "written out as '%(text)s' it is longer than %(max)s characters",
                text=canonical,
                max=limit,
            ),
        )
        return None
    return canonical
