"""Tables of the term aggregation: runs, results, coverage and flags.

A term's results are derived data: every run deletes the term's rows and
inserts them again in one transaction (see :mod:`evalsys.aggregation.service`).
Rows are keyed by what they describe — (term, level, unit, kind, dimension) —
not by a surrogate id, so two runs over the same feedback give identical rows.

``unit_id`` points into a different table per level (``section``, ``course``,
``org_unit``); ``org_unit_id`` is the org unit the row lies in (the unit itself,
or the department of a course or section) and is what access scopes and "this
unit and below" filters join on.

The result, coverage and flag tables have no foreign keys, on purpose: they are
derived data, rewritten whole by one writer in one transaction from rows that
exist at that moment, and keys checked row by row (a trigger call per inserted
row on PostgreSQL) took over a third of the time of the section level.
Only :class:`AggregationRun` references the term (and cascades with it); delete
a term's aggregates with ``service.delete_term_aggregates`` before the term.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, text
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow
from evalsys.feedback.vocab import FeedbackKind, sql_in


class Level(StrEnum):
    SECTION = "section"
    COURSE = "course"
    DEPARTMENT = "department"
    COLLEGE = "college"
    SCHOOL = "school"


#: Top first: the order of reports, exports and of the computation itself
#: (a level compares itself with the level above, which must already be there).
LEVELS_TOP_DOWN: tuple[Level, ...] = (
    Level.SCHOOL,
    Level.COLLEGE,
    Level.DEPARTMENT,
    Level.COURSE,
    Level.SECTION,
)
ORG_LEVELS = (Level.SCHOOL, Level.COLLEGE, Level.DEPARTMENT)

#: The pseudo-kind "all kinds together" and the pseudo-dimension "the overall score".
ALL_KINDS = "all"
OVERALL = "overall"
RESULT_KINDS: tuple[str, ...] = (*(k.value for k in FeedbackKind), ALL_KINDS)


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Found still "running" by a later run of the same term: its process died.
    INTERRUPTED = "interrupted"


class FlagCode(StrEnum):
    BELOW_THRESHOLD = "below_threshold"
    DROP = "drop"
    BELOW_PARENT = "below_parent"


_LEVEL_CHECK = sql_in("level", Level)
_OVERALL_ALL = text(f"kind = '{ALL_KINDS}' AND dimension = '{OVERALL}'")
_KIND_CHECK = "kind IN (" + ", ".join(f"'{k}'" for k in RESULT_KINDS) + ")"


class AggregationRun(SQLModel, table=True):
    """One run of a term's aggregation, successful or not (the admins' record)."""

    __tablename__ = "aggregation_run"
    __table_args__ = (
        CheckConstraint(sql_in("status", RunStatus), name="status"),
        CheckConstraint("trigger IN ('cli', 'job', 'manual')", name="trigger"),
        Index("ix_aggregation_run_term_started", "term_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    term_id: int = Field(foreign_key="term.id", ondelete="CASCADE")
    status: str = Field(default=RunStatus.RUNNING.value, max_length=20)
    #: The final aggregation of an ended term (the one reports are rendered from).
    final: bool = False
    trigger: str = Field(default="manual", max_length=20)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    #: Submitted feedback records of the term, and their per-dimension values.
    record_count: int | None = None
    value_count: int | None = None
    result_count: int | None = None
    coverage_count: int | None = None
    flag_count: int | None = None
    #: The term's feedback as the run found it before reading it (see
    #: :func:`evalsys.aggregation.freshness.feedback_state`): the fresh-figures job runs the
    #: term again only when today's state differs.
    source_state: str | None = Field(default=None, max_length=100)
    #: MIN_N and the flag limits the run used, so a figure can be explained later.
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, max_length=4000)


class AggregateResult(SQLModel, table=True):
    """Statistics of one (kind, dimension) in one unit of one level, for one term.

    Values are on the common 0-100 scale. ``insufficient`` results (n < MIN_N)
    keep their numbers, but get no comparisons and no flags, and are never the
    reference of another unit's comparison.
    """

    __tablename__ = "aggregate_result"
    __table_args__ = (
        CheckConstraint(_LEVEL_CHECK, name="level"),
        CheckConstraint(_KIND_CHECK, name="kind"),
        CheckConstraint("n >= 0 AND observers >= 0 AND observers <= n", name="counts"),
        CheckConstraint(
            "band_fail + band_pass + band_fair + band_good + band_excellent = n", name="bands_sum"
        ),
        # A unit page lists its children's overall figures: index just those rows.
        Index(
            "ix_aggregate_result_children",
            "term_id",
            "parent_level",
            "parent_id",
            sqlite_where=_OVERALL_ALL,
            postgresql_where=_OVERALL_ALL,
        ),
    )

    term_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    level: str = Field(primary_key=True, max_length=20)
    unit_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(primary_key=True, max_length=20)
    dimension: str = Field(primary_key=True, max_length=40)
    unit_code: str = Field(max_length=60)
    org_unit_id: int
    parent_level: str | None = Field(default=None, max_length=20)
    parent_id: int | None = None

    n: int
    observers: int
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    #: Counts per grade band of the 0-100 value: <60, 60-70, 70-80, 80-90, >=90.
    band_fail: int = 0
    band_pass: int = 0
    band_fair: int = 0
    band_good: int = 0
    band_excellent: int = 0
    insufficient: bool

    #: Against the parent unit's result of the same kind and dimension (both sufficient).
    parent_mean: float | None = None
    parent_diff: float | None = None
    #: parent_diff / the parent's standard deviation.
    parent_z: float | None = None
    #: Against the same unit in the previous term (both sufficient).
    prev_mean: float | None = None
    prev_change: float | None = None


class AggregateCoverage(SQLModel, table=True):
    """How much of a unit was observed this term: counts and totals (shares are derived)."""

    __tablename__ = "aggregate_coverage"
    __table_args__ = (
        CheckConstraint(_LEVEL_CHECK, name="level"),
        CheckConstraint(
            "sections_spot <= sections AND sections_open <= sections"
            " AND teachers_spot <= teachers AND teachers_open <= teachers"
            " AND tutor_groups_reported <= tutor_groups",
            name="parts_le_totals",
        ),
    )

    term_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    level: str = Field(primary_key=True, max_length=20)
    unit_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    unit_code: str = Field(max_length=60)
    org_unit_id: int
    parent_level: str | None = Field(default=None, max_length=20)
    parent_id: int | None = None

    sections: int = 0
    sections_spot: int = 0
    sections_open: int = 0
    teachers: int = 0
    teachers_spot: int = 0
    teachers_open: int = 0
    tutor_groups: int = 0
    tutor_groups_reported: int = 0


class AggregateFlag(SQLModel, table=True):
    """Something that needs attention in one result, with the reason in words."""

    __tablename__ = "aggregate_flag"
    __table_args__ = (CheckConstraint(sql_in("flag", FlagCode), name="flag"),)

    term_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    level: str = Field(primary_key=True, max_length=20)
    unit_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(primary_key=True, max_length=20)
    dimension: str = Field(primary_key=True, max_length=40)
    flag: str = Field(primary_key=True, max_length=30)
    #: The figure that raised the flag (a mean, a change, a standardised difference)...
    value: float
    #: ...and the configured limit it crossed.
    threshold: float
    reason: str = Field(max_length=500)
