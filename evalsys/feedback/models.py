"""Tables of feedback: versioned rubrics and their items, feedback records, scores, audit.

Scores are rows (one per item answered), never a JSON blob: aggregation groups
them in SQL by item and by the item's dimension. A feedback record keeps the
rubric version it was given on forever; publishing a new version changes only
which rubric new records use.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint, event, inspect
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow
from evalsys.feedback.vocab import (
    FeedbackKind,
    FeedbackStatus,
    Grade,
    MeetingFormat,
    ObserverLevel,
    RevisionAction,
    RubricStatus,
    sql_in,
)

#: Longest text accepted per field, in characters; the service names the limit when refusing.
TEXT_LIMITS: dict[str, int] = {
    "class_period": 40,
    "location": 200,
    "topics": 2000,
    "strengths": 4000,
    "problems": 4000,
    "suggestions": 4000,
    "comment": 4000,
}
RESPONSE_LIMIT = 4000
IDEMPOTENCY_KEY_LIMIT = 200
#: Hex SHA-256 of the request that stored a keyed record (:mod:`evalsys.feedback.idempotency`).
IDEMPOTENCY_DIGEST_LENGTH = 64


class Rubric(SQLModel, table=True):
    """One version of the form template of one kind. Immutable once published."""

    __tablename__ = "rubric"
    __table_args__ = (
        CheckConstraint(sql_in("kind", FeedbackKind), name="kind"),
        CheckConstraint(sql_in("status", RubricStatus), name="status"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("status = 'draft' OR published_at IS NOT NULL", name="published_at_set"),
        UniqueConstraint("kind", "version", name="uq_rubric_kind_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    version: int
    title: str = Field(max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    description_en: str | None = Field(default=None, max_length=2000)
    status: str = Field(default=RubricStatus.DRAFT.value, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None


class RubricItem(SQLModel, table=True):
    __tablename__ = "rubric_item"
    __table_args__ = (
        CheckConstraint("scale_max > scale_min", name="scale_max_above_min"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("length(code) > 0", name="code_not_empty"),
        UniqueConstraint("rubric_id", "code", name="uq_rubric_item_rubric_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rubric_id: int = Field(foreign_key="rubric.id", ondelete="CASCADE")
    code: str = Field(max_length=40)
    label: str = Field(max_length=200)
    label_en: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    description_en: str | None = Field(default=None, max_length=1000)
    #: How aggregation matches items across rubric versions (see vocab.DIMENSIONS).
    dimension: str = Field(max_length=40)
    scale_min: int
    scale_max: int
    weight: float
    required: bool = True
    position: int = 0


class Feedback(SQLModel, table=True):
    """One observation: a spot check, an open class, or a tutor-group report."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(sql_in("kind", FeedbackKind), name="kind"),
        CheckConstraint(sql_in("status", FeedbackStatus), name="status"),
        # A tutor-group report is about a group; the others are about a section.
        CheckConstraint(
            "(kind = 'tutor_group' AND group_id IS NOT NULL AND section_id IS NULL)"
            " OR (kind <> 'tutor_group' AND section_id IS NOT NULL AND group_id IS NULL)",
            name="target_matches_kind",
        ),
        CheckConstraint("announced IS NULL OR kind = 'spot_check'", name="announced_spot_only"),
        CheckConstraint(
            "observer_level IS NULL OR (kind = 'open_class' AND "
            + sql_in("observer_level", ObserverLevel)
            + ")",
            name="observer_level",
        ),
        CheckConstraint(
            "meeting_format IS NULL OR (kind = 'tutor_group' AND "
            + sql_in("meeting_format", MeetingFormat)
            + ")",
            name="meeting_format",
        ),
        CheckConstraint(
            "overall_grade IS NULL OR " + sql_in("overall_grade", Grade), name="overall_grade"
        ),
        CheckConstraint(
            "overall_score IS NULL OR (overall_score >= 0 AND overall_score <= 100)",
            name="overall_score_range",
        ),
        CheckConstraint(
            "(enrolled IS NULL OR enrolled >= 0) AND (present IS NULL OR present >= 0)"
            " AND (late IS NULL OR late >= 0) AND (attending IS NULL OR attending >= 0)",
            name="counts_nonneg",
        ),
        CheckConstraint(
            "present IS NULL OR enrolled IS NULL OR present <= enrolled",
            name="present_le_enrolled",
        ),
        CheckConstraint(
            "late IS NULL OR present IS NULL OR late <= present", name="late_le_present"
        ),
        UniqueConstraint("observer_id", "idempotency_key", name="uq_feedback_observer_key"),
        Index("ix_feedback_term_kind", "term_id", "kind"),
        # The fresh-figures job's look at a term (evalsys.aggregation.freshness), index only.
        Index("ix_feedback_term_state", "term_id", "status", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    rubric_id: int = Field(foreign_key="rubric.id", index=True)
    term_id: int = Field(foreign_key="term.id")
    section_id: int | None = Field(default=None, foreign_key="section.id", index=True)
    group_id: int | None = Field(default=None, foreign_key="tutor_group.id", index=True)
    #: The department of the section's course (or of the group) at the time of the visit:
    #: scope filters and roll-ups up the tree start here without joining two paths.
    department_id: int = Field(foreign_key="org_unit.id", index=True)
    observer_id: int = Field(foreign_key="user_account.id", index=True)
    status: str = Field(default=FeedbackStatus.DRAFT.value, max_length=20)

    visit_date: date
    class_period: str | None = Field(default=None, max_length=TEXT_LIMITS["class_period"])
    location: str | None = Field(default=None, max_length=TEXT_LIMITS["location"])
    announced: bool | None = None
    observer_level: str | None = Field(default=None, max_length=30)
    meeting_format: str | None = Field(default=None, max_length=30)
    enrolled: int | None = None
    present: int | None = None
    late: int | None = None
    attending: int | None = None
    topics: str | None = Field(default=None, max_length=TEXT_LIMITS["topics"])

    overall_grade: str | None = Field(default=None, max_length=20)
    #: Weighted mean of the answered items' normalised scores, times 100 (computed).
    overall_score: float | None = None
    strengths: str | None = Field(default=None, max_length=TEXT_LIMITS["strengths"])
    problems: str | None = Field(default=None, max_length=TEXT_LIMITS["problems"])
    suggestions: str | None = Field(default=None, max_length=TEXT_LIMITS["suggestions"])
    comment: str | None = Field(default=None, max_length=TEXT_LIMITS["comment"])

    idempotency_key: str | None = Field(default=None, max_length=IDEMPOTENCY_KEY_LIMIT)
    #: The digest of the request stored under the key (API only): a retry with the same key
    #: and another body is refused. NULL (older rows, the web form, imports): any body matches.
    idempotency_digest: str | None = Field(default=None, max_length=IDEMPOTENCY_DIGEST_LENGTH)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None


class FeedbackScore(SQLModel, table=True):
    """The value given to one rubric item, on the item's own scale."""

    __tablename__ = "feedback_score"

    feedback_id: int = Field(foreign_key="feedback.id", primary_key=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="rubric_item.id", primary_key=True, index=True)
    value: float


class FeedbackRevision(SQLModel, table=True):
    """One change to a feedback record: who, when, and each changed field as [old, new]."""

    __tablename__ = "feedback_revision"
    __table_args__ = (CheckConstraint(sql_in("action", RevisionAction), name="action"),)

    id: int | None = Field(default=None, primary_key=True)
    feedback_id: int = Field(foreign_key="feedback.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    action: str = Field(max_length=20)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TeacherResponse(SQLModel, table=True):
    """A teacher's reply to feedback on their own section."""

    __tablename__ = "teacher_response"

    id: int | None = Field(default=None, primary_key=True)
    feedback_id: int = Field(foreign_key="feedback.id", index=True, ondelete="CASCADE")
    teacher_id: int = Field(foreign_key="user_account.id", index=True)
    text: str = Field(max_length=RESPONSE_LIMIT)
    created_at: datetime = Field(default_factory=utcnow)


# --- published rubrics are immutable, whatever code path tries ------------------------


class RubricImmutableError(ValueError):
    """A change to a published or retired rubric; make a new version instead."""


def _committed_status(session: OrmSession, rubric: Rubric) -> str:
    """The rubric's status before this flush (a new rubric counts as a draft)."""
    state = inspect(rubric)
    if state.pending or state.transient:
        return RubricStatus.DRAFT
    history = state.attrs.status.history
    return history.deleted[0] if history.deleted else rubric.status


def _rubric_of(session: OrmSession, item: RubricItem) -> Rubric | None:
    with session.no_autoflush:
        return session.get(Rubric, item.rubric_id) if item.rubric_id is not None else None


def _changed_keys(obj: Any) -> set[str]:
    return {attr.key for attr in inspect(obj).attrs if attr.history.has_changes()}


@event.listens_for(OrmSession, "before_flush")
def _guard_published_rubrics(session: OrmSession, _context: Any, _instances: Any) -> None:
    for obj in session.dirty:
        if isinstance(obj, Rubric) and session.is_modified(obj):
            old = _committed_status(session, obj)
            allowed: set[str] = set()
            if old == RubricStatus.DRAFT:
                continue
            if old == RubricStatus.PUBLISHED and obj.status == RubricStatus.RETIRED:
                allowed = {"status"}
            changed = _changed_keys(obj) - allowed
            if changed:
                raise RubricImmutableError(
                    f"rubric {obj.kind} v{obj.version} is {old}: it cannot be changed "
                    f"({', '.join(sorted(changed))}); load a new version instead"
                )
    touched = [
        (obj, "changed")
        for obj in session.dirty
        if isinstance(obj, RubricItem) and session.is_modified(obj)
    ]
    touched += [(obj, "added") for obj in session.new if isinstance(obj, RubricItem)]
    touched += [(obj, "deleted") for obj in session.deleted if isinstance(obj, RubricItem)]
    for item, what in touched:
        rubric = _rubric_of(session, item)
        if rubric is not None and _committed_status(session, rubric) != RubricStatus.DRAFT:
            raise RubricImmutableError(
                f"rubric {rubric.kind} v{rubric.version} is {rubric.status}: item "
                f"'{item.code}' cannot be {what}; load a new version instead"
            )
    for obj in session.deleted:
        if isinstance(obj, Rubric) and _committed_status(session, obj) != RubricStatus.DRAFT:
            raise RubricImmutableError(
                f"rubric {obj.kind} v{obj.version} is {obj.status}: it cannot be deleted"
            )
