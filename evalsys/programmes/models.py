"""Tables of programmes and their training plans.

A programme (专业) belongs to one department and groups courses, which may belong to
other departments (a public mathematics course serves many programmes), so the link is
a table of its own. A training plan (培养方案) is a versioned record: each version names
the term it takes effect in and summarises what it contains.

The change log is not a table here: an adjustment is decided in the loop as an action
that names the programme (``loop_action.plan_programme_id``) or one of its courses, and
the log reads those actions with their problem and meeting (:mod:`evalsys.programmes.service`).
One record per change, so the evidence and the decision cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)


class Programme(SQLModel, table=True):
    __tablename__ = "programme"
    __table_args__ = (CheckConstraint("length(code) > 0", name="code_not_empty"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    department_id: int = Field(foreign_key="org_unit.id", index=True)


class ProgrammeCourse(SQLModel, table=True):
    """A course of a programme's plan."""

    __tablename__ = "programme_course"

    programme_id: int = Field(foreign_key="programme.id", primary_key=True, ondelete="CASCADE")
    course_id: int = Field(
        foreign_key="course.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class TrainingPlan(SQLModel, table=True):
    """One version of a programme's training plan: from which term, and what it holds."""

    __tablename__ = "training_plan"
    __table_args__ = (
        CheckConstraint("length(version) > 0", name="version_not_empty"),
        UniqueConstraint("programme_id", "version", name="uq_training_plan_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True, ondelete="CASCADE")
    version: str = Field(max_length=40)
    effective_term_id: int = Field(foreign_key="term.id", index=True)
    summary: str | None = Field(default=None, max_length=4000)
