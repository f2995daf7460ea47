"""Tables of the loop: problems and their evidence, meetings, actions, owners' emails.

A :class:`Problem` belongs to one org unit and one term. evalsys *proposes*
problems from the term's flags and from the problems observers wrote; a head or
dean confirms (open), merges or dismisses them. Proposals carry a ``source_key``
unique per (term, unit), so proposing again never duplicates.

Evidence points at flags by their key (term, level, unit, kind, dimension, flag)
rather than by a foreign key: aggregate flags are derived rows, deleted and
rewritten by every aggregation run. The flag's reason is copied at proposal time,
so the evidence still reads right after a re-run that no longer raises the flag.

Status rules live in :mod:`evalsys.loop.rules`; the CHECK constraints here only
keep impossible rows out (a dismissal without a reason, a merge without a target).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow
from evalsys.feedback.vocab import sql_in


class Category(StrEnum):
    ATTITUDE = "attitude"
    CONTENT = "content"
    METHOD = "method"
    ORGANISATION = "organisation"
    EFFECT = "effect"
    TRAINING_PLAN = "training_plan"
    PRACTICE = "practice"
    OTHER = "other"


CATEGORY_NAMES: dict[str, LazyString] = {
    Category.ATTITUDE: _l("Teaching attitude"),
    Category.CONTENT: _l("Teaching content"),
    Category.METHOD: _l("Teaching method"),
    Category.ORGANISATION: _l("Class organisation"),
    Category.EFFECT: _l("Teaching effectiveness"),
    Category.TRAINING_PLAN: _l("Training plan"),
    Category.PRACTICE: _l("Practical teaching"),
    Category.OTHER: _l("Other"),
}


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


SEVERITY_NAMES: dict[str, LazyString] = {
    Severity.LOW: _l("Minor"),
    Severity.MEDIUM: _l("Moderate"),
    Severity.HIGH: _l("Severe"),
}


class ProblemStatus(StrEnum):
    #: Found by evalsys, not yet looked at by a head or dean.
    PROPOSED = "proposed"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    DISMISSED = "dismissed"
    #: Folded into another problem (``merged_into_id``).
    MERGED = "merged"


STATUS_NAMES: dict[str, LazyString] = {
    ProblemStatus.PROPOSED: _l("Proposed"),
    ProblemStatus.OPEN: _l("Confirmed"),
    ProblemStatus.IN_PROGRESS: _l("Being fixed"),
    ProblemStatus.RESOLVED: _l("Resolved"),
    ProblemStatus.VERIFIED: _l("Verified"),
    ProblemStatus.DISMISSED: _l("Dismissed"),
    ProblemStatus.MERGED: _l("Merged"),
}


class ProblemSource(StrEnum):
    FLAG = "flag"
    FEEDBACK = "feedback"
    MANUAL = "manual"


class ActionStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


#: The statuses of an action still to be done: these can change, be reminded, fall overdue.
LIVE_ACTIONS = (ActionStatus.OPEN.value, ActionStatus.IN_PROGRESS.value)

ACTION_STATUS_NAMES: dict[str, LazyString] = {
    ActionStatus.OPEN: _l("Not started"),
    ActionStatus.IN_PROGRESS: _l("In progress"),
    ActionStatus.DONE: _l("Done"),
    ActionStatus.CANCELLED: _l("Cancelled"),
}


class NoticeKind(StrEnum):
    ASSIGNED = "assigned"
    REMINDER = "reminder"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    #: Claimed by a sender: no other sender touches it.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    GAVE_UP = "gave_up"


class Problem(SQLModel, table=True):
    __tablename__ = "loop_problem"
    __table_args__ = (
        CheckConstraint(sql_in("category", Category), name="category"),
        CheckConstraint(sql_in("severity", Severity), name="severity"),
        CheckConstraint(sql_in("status", ProblemStatus), name="status"),
        CheckConstraint(sql_in("source", ProblemSource), name="source"),
        CheckConstraint("length(title) > 0", name="title_not_empty"),
        CheckConstraint(
            "status <> 'dismissed' OR (dismiss_reason IS NOT NULL AND length(dismiss_reason) > 0)",
            name="dismissed_has_reason",
        ),
        CheckConstraint(
            "(status = 'merged') = (merged_into_id IS NOT NULL)", name="merged_has_target"
        ),
        # Proposals are idempotent: one per (term, unit, what raised it).
        UniqueConstraint("term_id", "unit_id", "source_key", name="uq_loop_problem_source"),
        Index("ix_loop_problem_term_unit", "term_id", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    term_id: int = Field(foreign_key="term.id", ondelete="CASCADE")
    unit_id: int = Field(foreign_key="org_unit.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=300)
    description: str | None = Field(default=None, max_length=4000)
    category: str = Field(default=Category.OTHER.value, max_length=20)
    severity: str = Field(default=Severity.MEDIUM.value, max_length=10)
    status: str = Field(default=ProblemStatus.PROPOSED.value, max_length=20)
    source: str = Field(default=ProblemSource.MANUAL.value, max_length=20)
    #: What raised a proposal ("flag:content", "feedback:42"); None for problems typed in.
    source_key: str | None = Field(default=None, max_length=200)
    dismiss_reason: str | None = Field(default=None, max_length=2000)
    merged_into_id: int | None = Field(
        default=None, foreign_key="loop_problem.id", index=True, ondelete="SET NULL"
    )
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    verified_at: datetime | None = None


class ProblemEvidence(SQLModel, table=True):
    """One flag or one feedback record that shows the problem."""

    __tablename__ = "loop_evidence"
    __table_args__ = (
        CheckConstraint("kind IN ('flag', 'feedback')", name="kind"),
        CheckConstraint(
            "(kind = 'feedback' AND feedback_id IS NOT NULL)"
            " OR (kind = 'flag' AND flag_code IS NOT NULL)",
            name="target_matches_kind",
        ),
        UniqueConstraint("problem_id", "key", name="uq_loop_evidence_problem_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    problem_id: int = Field(foreign_key="loop_problem.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)
    #: "flag:TERM:LEVEL:UNIT:KIND:DIMENSION:FLAG" or "feedback:ID": unique per problem.
    key: str = Field(max_length=200)
    feedback_id: int | None = Field(
        default=None, foreign_key="feedback.id", index=True, ondelete="CASCADE"
    )
    # The key of an aggregate_flag row (no foreign key: flags are rewritten by every run).
    flag_term_id: int | None = None
    flag_level: str | None = Field(default=None, max_length=20)
    flag_unit_id: int | None = None
    flag_kind: str | None = Field(default=None, max_length=20)
    flag_dimension: str | None = Field(default=None, max_length=40)
    flag_code: str | None = Field(default=None, max_length=30)
    #: The flag's reason or the observer's words, as they were when linked.
    text: str = Field(max_length=4000)
    #: The flagged figure or the record's overall score.
    value: float | None = None


class Meeting(SQLModel, table=True):
    """A subject discussion meeting (专题研讨会): who met, what was discussed and decided."""

    __tablename__ = "loop_meeting"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True, ondelete="CASCADE")
    term_id: int = Field(foreign_key="term.id", index=True, ondelete="CASCADE")
    held_on: date
    title: str = Field(max_length=300)
    #: Attendees without an account (guests, student representatives), as typed.
    other_attendees: str | None = Field(default=None, max_length=2000)
    decisions: str = Field(max_length=8000)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class MeetingAttendee(SQLModel, table=True):
    __tablename__ = "loop_meeting_attendee"

    meeting_id: int = Field(foreign_key="loop_meeting.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(
        foreign_key="user_account.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class MeetingProblem(SQLModel, table=True):
    __tablename__ = "loop_meeting_problem"

    meeting_id: int = Field(foreign_key="loop_meeting.id", primary_key=True, ondelete="CASCADE")
    problem_id: int = Field(
        foreign_key="loop_problem.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class Action(SQLModel, table=True):
    """What will be done about a problem, by whom, by when; maybe a training-plan change."""

    __tablename__ = "loop_action"
    __table_args__ = (
        CheckConstraint(sql_in("status", ActionStatus), name="status"),
        CheckConstraint("length(title) > 0", name="title_not_empty"),
        # A training-plan adjustment names what changes and where.
        CheckConstraint(
            "plan_change IS NULL OR plan_course_id IS NOT NULL OR plan_programme_id IS NOT NULL"
            " OR plan_programme IS NOT NULL",
            name="plan_change_has_target",
        ),
        Index("ix_loop_action_owner_status", "owner_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    problem_id: int = Field(foreign_key="loop_problem.id", index=True, ondelete="CASCADE")
    meeting_id: int | None = Field(
        default=None, foreign_key="loop_meeting.id", index=True, ondelete="SET NULL"
    )
    title: str = Field(max_length=500)
    owner_id: int = Field(foreign_key="user_account.id")
    due_date: date
    status: str = Field(default=ActionStatus.OPEN.value, max_length=20)
    notes: str | None = Field(default=None, max_length=4000)
    # Training-plan adjustment (培养方案调整), all optional: it becomes an entry of the
    # programme's change log (evalsys.programmes.service).
    plan_course_id: int | None = Field(
        default=None, foreign_key="course.id", index=True, ondelete="SET NULL"
    )
    plan_programme_id: int | None = Field(
        default=None, foreign_key="programme.id", index=True, ondelete="SET NULL"
    )
    #: The programme as typed before programmes were records; kept where no code matched.
    plan_programme: str | None = Field(default=None, max_length=200)
    plan_change: str | None = Field(default=None, max_length=2000)
    plan_from_term_id: int | None = Field(
        default=None, foreign_key="term.id", index=True, ondelete="SET NULL"
    )
    #: A head or dean compared the figures before and after and found the change worked.
    plan_verified_at: datetime | None = None
    plan_verified_by_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    done_at: datetime | None = None


class ActionNotice(SQLModel, table=True):
    """One email to an action's owner: the assignment, or the reminder for a due date.

    The unique key means a notice is queued — so sent — at most once per owner
    and due date; reassigning or moving the due date queues a new one.
    """

    __tablename__ = "loop_notice"
    __table_args__ = (
        CheckConstraint(sql_in("kind", NoticeKind), name="kind"),
        CheckConstraint(sql_in("status", NoticeStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        UniqueConstraint("action_id", "kind", "user_id", "due_date", name="uq_loop_notice_once"),
        Index("ix_loop_notice_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="loop_action.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254)
    due_date: date
    status: str = Field(default=NoticeStatus.PENDING.value, max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
