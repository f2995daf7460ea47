"""Tables of the school hierarchy and what is taught in it.

Rules that the database can hold are written as constraints here, so that no
code path (a CSV import, a future API, a hand-made SQL fix) can break them.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (sets the naming convention before any table)


class UnitKind(StrEnum):
    SCHOOL = "school"
    COLLEGE = "college"
    DEPARTMENT = "department"


#: The reader's word for each kind of unit (gettext, resolved when shown).
UNIT_KIND_NAMES: dict[str, LazyString] = {
    UnitKind.SCHOOL: _l("School"),
    UnitKind.COLLEGE: _l("College"),
    UnitKind.DEPARTMENT: _l("Department"),
}


#: The kind a unit's parent must have; a school has none.
PARENT_KIND: dict[UnitKind, UnitKind | None] = {
    UnitKind.SCHOOL: None,
    UnitKind.COLLEGE: UnitKind.SCHOOL,
    UnitKind.DEPARTMENT: UnitKind.COLLEGE,
}


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"
    __table_args__ = (
        CheckConstraint("kind IN ('school', 'college', 'department')", name="kind"),
        # A school is the root; every college and department hangs below something.
        CheckConstraint(
            "(kind = 'school' AND parent_id IS NULL)"
            " OR (kind <> 'school' AND parent_id IS NOT NULL)",
            name="root_is_school",
        ),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("length(code) > 0", name="code_not_empty"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=20)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)


class OrgUnitClosure(SQLModel, table=True):
    """Every (ancestor, descendant) pair, self included at depth 0.

    One indexed lookup answers both "the subtree of U" and "the ancestors of U",
    which the access check and the roll-ups up the tree run on every request.
    Rebuilt from the parent pointers by :func:`evalsys.org.hierarchy.rebuild_closure`.
    """

    __tablename__ = "org_unit_closure"
    __table_args__ = (
        CheckConstraint("depth >= 0", name="depth_nonneg"),
        Index("ix_org_unit_closure_descendant", "descendant_id", "ancestor_id"),
    )

    ancestor_id: int = Field(foreign_key="org_unit.id", primary_key=True, ondelete="CASCADE")
    descendant_id: int = Field(foreign_key="org_unit.id", primary_key=True, ondelete="CASCADE")
    depth: int


class Term(SQLModel, table=True):
    __tablename__ = "term"
    __table_args__ = (CheckConstraint("end_date > start_date", name="end_after_start"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    #: The term's name for English readers ("Autumn 2026"); None: the name serves both.
    name_en: str | None = Field(default=None, max_length=200)
    start_date: date
    end_date: date


class Course(SQLModel, table=True):
    __tablename__ = "course"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    title: str = Field(max_length=300)
    title_en: str | None = Field(default=None, max_length=300)
    department_id: int = Field(foreign_key="org_unit.id", index=True)


class Section(SQLModel, table=True):
    """A course taught in one term by one teacher."""

    __tablename__ = "section"
    __table_args__ = (
        CheckConstraint("enrolled >= 0", name="enrolled_nonneg"),
        Index("ix_section_term_course", "term_id", "course_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60, unique=True)
    course_id: int = Field(foreign_key="course.id", index=True)
    term_id: int = Field(foreign_key="term.id")
    teacher_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    enrolled: int = 0
    #: When the class meets, e.g. "Mon 1-2; Wed 3-4" (see evalsys.org.timetable); the
    #: spot-check planner draws visits from these slots. None: not known.
    meetings: str | None = Field(default=None, max_length=200)


class TutorGroup(SQLModel, table=True):
    __tablename__ = "tutor_group"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_nonneg"),
        UniqueConstraint("code", name="uq_tutor_group_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60)
    name: str = Field(max_length=200)
    department_id: int = Field(foreign_key="org_unit.id", index=True)
    term_id: int = Field(foreign_key="term.id", index=True)
    tutor_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    size: int = 0
