"""Tables of the spot-check planner: per-term settings, draws and their assignments.

A :class:`Draw` is one week's lottery for one term: it records the seed and every
parameter it used, so the same seed over the same inputs gives the same
assignments again (see :mod:`evalsys.planner.draw`). An :class:`Assignment` is one
visit a supervisor is asked to make: a section, a date and a block of periods,
announced to the teacher or not. It becomes *done* when the supervisor submits a
spot check of that section in that week (:mod:`evalsys.planner.link`), *missed*
when its week ends without one.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow
from evalsys.feedback.vocab import sql_in


class AssignmentStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    MISSED = "missed"


class DrawTrigger(StrEnum):
    CLI = "cli"
    JOB = "job"
    MANUAL = "manual"


#: The reader's words for the codes above.
ASSIGNMENT_STATUS_NAMES: dict[str, LazyString] = {
    AssignmentStatus.PLANNED: _l("Planned"),
    AssignmentStatus.DONE: _l("Visited"),
    AssignmentStatus.MISSED: _l("Missed"),
}
TRIGGER_NAMES: dict[str, LazyString] = {
    DrawTrigger.CLI: _l("from the command line"),
    DrawTrigger.JOB: _l("by the weekly job"),
    DrawTrigger.MANUAL: _l("on this page"),
}


class PlanSetting(SQLModel, table=True):
    """How a term's spot checks are planned: quotas, the coverage target, the weights.

    One row per term; a term without one is not drawn. Weights multiply: a new
    teacher who was also never visited weighs ``weight_new_staff * weight_never_visited``.
    """

    __tablename__ = "plan_setting"
    __table_args__ = (
        CheckConstraint(
            "visits_per_week >= 0 AND max_visits_per_week >= visits_per_week", name="quota"
        ),
        CheckConstraint("visits_per_teacher >= 0", name="coverage_nonneg"),
        CheckConstraint("buffer_weeks >= 0", name="buffer_nonneg"),
        CheckConstraint("quota_from_week >= 1", name="quota_from_week_positive"),
        CheckConstraint(
            "weight_new_staff > 0 AND weight_low_rated > 0 AND weight_never_visited > 0",
            name="weights_positive",
        ),
        CheckConstraint("unannounced_share >= 0 AND unannounced_share <= 1", name="share"),
    )

    term_id: int = Field(
        foreign_key="term.id",
        primary_key=True,
        ondelete="CASCADE",
        sa_column_kwargs={"autoincrement": False},
    )
    #: Each supervisor's quota: at least this many class visits a week...
    visits_per_week: int = 2
    #: ...and at most this many, when the coverage target needs more than the quota.
    max_visits_per_week: int = 4
    #: The week of the term the quota starts: "expected by now" counts the quota for
    #: every ended week from this one (a plan started mid-term sets its first week).
    quota_from_week: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    #: The coverage target: every teacher of the term visited at least this often (0: none).
    visits_per_teacher: int = 1
    #: Aim to reach the target this many weeks before the term ends (room for missed visits).
    buffer_weeks: int = 2
    #: Teachers with no section in any earlier term.
    weight_new_staff: float = 2.0
    #: Teachers whose sections' overall spot-check/open-class mean last term was below...
    weight_low_rated: float = 2.0
    #: ...this score (0-100).
    low_rating_threshold: float = 70.0
    #: Teachers no submitted spot check has ever observed.
    weight_never_visited: float = 1.5
    #: Share of assignments drawn as unannounced (推门听课), kept from the teacher.
    unannounced_share: float = 0.5
    #: Whether the weekly job draws this term.
    active: bool = True
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", index=True, ondelete="SET NULL"
    )


class Draw(SQLModel, table=True):
    """One week's draw of one term: the seed and the parameters it ran with."""

    __tablename__ = "plan_draw"
    __table_args__ = (
        CheckConstraint("week >= 1", name="week_positive"),
        CheckConstraint(sql_in("trigger", DrawTrigger), name="trigger"),
        UniqueConstraint("term_id", "week", name="uq_plan_draw_term_week"),
    )

    id: int | None = Field(default=None, primary_key=True)
    term_id: int = Field(foreign_key="term.id", ondelete="CASCADE")
    #: Week 1 is the (Monday-to-Sunday) week holding the term's first day.
    week: int
    seed: int
    week_start: date
    #: The settings, the inputs' sizes and what could not be planned (see draw.draw_week).
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    trigger: str = Field(default=DrawTrigger.MANUAL.value, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", index=True, ondelete="SET NULL"
    )


class Assignment(SQLModel, table=True):
    """One visit a supervisor is asked to make."""

    __tablename__ = "plan_assignment"
    __table_args__ = (
        CheckConstraint(sql_in("status", AssignmentStatus), name="status"),
        CheckConstraint("first_period >= 1 AND last_period >= first_period", name="periods"),
        CheckConstraint("weight > 0", name="weight_positive"),
        # Done needs its record (kept in code: a deleted record sets the link to NULL).
        CheckConstraint("status = 'done' OR feedback_id IS NULL", name="feedback_only_if_done"),
        # One supervisor, one class at a time (blocks starting together; overlaps are
        # refused by the draw itself).
        UniqueConstraint(
            "supervisor_id", "visit_date", "first_period", name="uq_plan_assignment_slot"
        ),
        UniqueConstraint("draw_id", "supervisor_id", "section_id", name="uq_plan_assignment_once"),
        UniqueConstraint("feedback_id", name="uq_plan_assignment_feedback"),
        Index("ix_plan_assignment_term_supervisor", "term_id", "supervisor_id", "visit_date"),
        Index("ix_plan_assignment_section", "section_id", "visit_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    draw_id: int = Field(foreign_key="plan_draw.id", ondelete="CASCADE", index=True)
    term_id: int = Field(foreign_key="term.id", ondelete="CASCADE")
    supervisor_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    section_id: int = Field(foreign_key="section.id", ondelete="CASCADE")
    visit_date: date
    first_period: int
    last_period: int
    #: Announced visits are shown to the teacher in advance; unannounced ones never are.
    announced: bool
    status: str = Field(default=AssignmentStatus.PLANNED.value, max_length=20)
    #: The submitted spot check that fulfilled it.
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id", ondelete="SET NULL")
    #: The section's weight in the draw and why ("new staff", "never visited", "coverage").
    weight: float = 1.0
    reasons: str | None = Field(default=None, max_length=200)


class CalendarFeed(SQLModel, table=True):
    """A person's private calendar address (``/calendar/<token>.ics``): their visits in
    their phone's calendar. Only a SHA-256 digest of the token is kept, as for API tokens;
    a new address replaces the old one, and stopping the feed deletes the row."""

    __tablename__ = "calendar_feed"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", unique=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    #: When a calendar last read it (kept to the quarter hour), so its owner sees it in use.
    last_read_at: datetime | None = None
