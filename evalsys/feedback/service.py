"""Feedback service: check, store, edit and withdraw feedback records; teacher responses.

Plain functions taking ``session`` as a keyword, used alike by the forms, the
JSON API, the CSV import, the CLI and tests. They flush but never commit: the
caller owns the unit of work (and a dry run simply rolls back).

Every check (:mod:`evalsys.feedback.checks`) runs before anything is written
and all problems are reported at once (:class:`FeedbackValidationError`), so a
form can show each message next to its field and an API can answer 422 with the
whole list. Scope is refused with :class:`FeedbackPermissionError` (403), a
record's state (withdrawn, edit window closed) with :class:`FeedbackStateError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from evalsys.accounts.models import User, utcnow
from evalsys.feedback.checks import CheckedFeedback, check_feedback, compute_overall_score
from evalsys.feedback.inputs import (
    COUNT_FIELDS,
    TEXT_FIELDS,
    FeedbackError,
    FeedbackInput,
    FeedbackPermissionError,
    FeedbackStateError,
    FeedbackValidationError,
    clean,
)
from evalsys.feedback.models import (
    IDEMPOTENCY_KEY_LIMIT,
    RESPONSE_LIMIT,
    Feedback,
    FeedbackRevision,
    FeedbackScore,
    Rubric,
    RubricItem,
    TeacherResponse,
)
from evalsys.feedback.rubrics import current_rubric
from evalsys.feedback.vocab import FeedbackStatus, RevisionAction
from evalsys.org.models import Section, TutorGroup

__all__ = [
    "DEFAULT_EDIT_WINDOW",
    "CheckedFeedback",
    "FeedbackError",
    "FeedbackInput",
    "FeedbackPermissionError",
    "FeedbackStateError",
    "FeedbackValidationError",
    "add_teacher_response",
    "can_change",
    "check_feedback",
    "compute_overall_score",
    "current_rubric",
    "edit_deadline",
    "edit_window_from_config",
    "feedback_scores",
    "input_from_feedback",
    "revisions",
    "submit_feedback",
    "update_feedback",
    "withdraw_feedback",
]

DEFAULT_EDIT_WINDOW = timedelta(hours=72)

#: The columns of :class:`Feedback` that come from the input (``date`` is stored as visit_date).
INPUT_COLUMNS = (
    "visit_date",
    "announced",
    "observer_level",
    "meeting_format",
    *COUNT_FIELDS,
    "overall_grade",
    *TEXT_FIELDS,
)
#: The columns compared and recorded when a record changes.
TRACKED_COLUMNS = ("section_id", "group_id", *INPUT_COLUMNS, "overall_score")


def edit_window_from_config(config: Mapping[str, Any]) -> timedelta:
    """The author's edit window from the app config (``FEEDBACK_EDIT_WINDOW_HOURS``, 72)."""
    hours = config.get("FEEDBACK_EDIT_WINDOW_HOURS", 72)
    return timedelta(hours=float(hours))


# --- storing ----------------------------------------------------------------------------


def submit_feedback(
    session: Session,
    *,
    user: User,
    data: FeedbackInput,
    draft: bool = False,
    idempotency_key: str | None = None,
    observer: User | None = None,
    now: datetime | None = None,
    today: date | None = None,
) -> Feedback:
    """Check and store a new record (a draft, or submitted) on the current rubric of its kind.

    With an ``idempotency_key``, a second call by the same observer with the same
    key returns the record the first call stored and stores nothing (double
    clicks, retried API requests), even when the two calls race.
    """
    observer = observer or user
    now = now or utcnow()
    key = clean(idempotency_key)
    if key is not None:
        if len(key) > IDEMPOTENCY_KEY_LIMIT:
            raise FeedbackValidationError(
                [("idempotency_key", f"longer than {IDEMPOTENCY_KEY_LIMIT} characters")]
            )
        existing = _find_by_key(session, observer.id, key)  # type: ignore[arg-type]
        if existing is not None:
            return existing
    checked = check_feedback(
        session, user=user, data=data, draft=draft, observer=observer, today=today
    )
    feedback = Feedback(
        kind=checked.kind,
        rubric_id=checked.rubric.id,  # type: ignore[arg-type]
        term_id=checked.term_id,
        section_id=checked.section_id,
        group_id=checked.group_id,
        department_id=checked.department_id,
        observer_id=checked.observer_id,
        status=(FeedbackStatus.DRAFT if draft else FeedbackStatus.SUBMITTED).value,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
        submitted_at=None if draft else now,
        **checked.columns,
    )
    stored = _insert_once(session, feedback, key)
    if stored is not feedback:
        return stored
    for item_id, value in checked.scores.items():
        session.add(FeedbackScore(feedback_id=feedback.id, item_id=item_id, value=value))  # type: ignore[arg-type]
    after = _tracked(feedback, _scores_by_code(checked))
    _record(
        session,
        feedback,
        user,
        RevisionAction.CREATE,
        {name: [None, value] for name, value in after.items() if value is not None}
        | {"status": [None, feedback.status]},
        now,
    )
    session.flush()
    return feedback


def _find_by_key(session: Session, observer_id: int, key: str) -> Feedback | None:
    stmt = select(Feedback).where(
        Feedback.observer_id == observer_id, Feedback.idempotency_key == key
    )
    return session.exec(stmt).first()


def _insert_once(session: Session, feedback: Feedback, key: str | None) -> Feedback:
    """Insert; if a racing request stored the same idempotency key first, return its record.

    The insert runs in a savepoint so that losing the race leaves the caller's
    transaction usable. SQLite's Python driver opens its transaction only at the
    first write, and a savepoint taken before then is released as a commit; so
    on SQLite before any write this falls back to rolling back the (so far
    write-free) transaction instead.
    """
    if key is None:
        session.add(feedback)
        session.flush()
        return feedback
    observer_id = feedback.observer_id
    if _savepoints_work(session):
        try:
            with session.begin_nested():
                session.add(feedback)
                session.flush()
        except IntegrityError:
            existing = _find_by_key(session, observer_id, key)
            if existing is None:
                raise
            return existing
    else:
        try:
            session.add(feedback)
            session.flush()
        except IntegrityError:
            session.rollback()
            existing = _find_by_key(session, observer_id, key)
            if existing is None:
                raise
            return existing
    return feedback


def _savepoints_work(session: Session) -> bool:
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return True
    dbapi = connection.connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", False))


def update_feedback(
    session: Session,
    *,
    user: User,
    feedback: Feedback,
    data: FeedbackInput,
    draft: bool = False,
    edit_window: timedelta = DEFAULT_EDIT_WINDOW,
    now: datetime | None = None,
    today: date | None = None,
) -> Feedback:
    """Replace a record's fields with ``data`` (save a draft again, submit it, or edit it).

    Only the author may, a submitted record only within ``edit_window`` of its
    submission; the record keeps its rubric version. Each change is recorded as
    a revision with the old and new value of every changed field.
    """
    now = now or utcnow()
    _check_may_change(feedback, user, edit_window, now)
    if data.kind != feedback.kind:
        raise FeedbackValidationError([("kind", f"a {feedback.kind} record stays {feedback.kind}")])
    if draft and feedback.status == FeedbackStatus.SUBMITTED:
        raise FeedbackStateError("a submitted record cannot go back to being a draft")
    rubric = session.get(Rubric, feedback.rubric_id)
    checked = check_feedback(session, user=user, data=data, draft=draft, rubric=rubric, today=today)
    before = _tracked(feedback, feedback_scores(session, feedback.id))  # type: ignore[arg-type]
    submitting = feedback.status == FeedbackStatus.DRAFT and not draft

    for name, value in checked.columns.items():
        setattr(feedback, name, value)
    feedback.section_id = checked.section_id
    feedback.group_id = checked.group_id
    feedback.term_id = checked.term_id
    feedback.department_id = checked.department_id
    after = _tracked(feedback, _scores_by_code(checked))
    changes = {name: [before.get(name), after.get(name)] for name in before.keys() | after.keys()}
    changes = {name: pair for name, pair in changes.items() if pair[0] != pair[1]}
    if not changes and not submitting:
        return feedback

    if any(name.startswith("scores.") for name in changes):
        session.exec(delete(FeedbackScore).where(col(FeedbackScore.feedback_id) == feedback.id))  # type: ignore[call-overload]
        session.flush()
        for item_id, value in checked.scores.items():
            session.add(FeedbackScore(feedback_id=feedback.id, item_id=item_id, value=value))  # type: ignore[arg-type]
    action = RevisionAction.EDIT
    if submitting:
        action = RevisionAction.SUBMIT
        changes["status"] = [feedback.status, FeedbackStatus.SUBMITTED.value]
        feedback.status = FeedbackStatus.SUBMITTED.value
        feedback.submitted_at = now
    feedback.updated_at = now
    session.add(feedback)
    _record(session, feedback, user, action, changes, now)
    session.flush()
    return feedback


def withdraw_feedback(
    session: Session,
    *,
    user: User,
    feedback: Feedback,
    reason: str | None = None,
    edit_window: timedelta = DEFAULT_EDIT_WINDOW,
    now: datetime | None = None,
) -> Feedback:
    """Withdraw a record (a draft at any time; a submitted one within the edit window).

    The record stays, marked withdrawn, with its revisions; aggregation reads
    submitted records only.
    """
    now = now or utcnow()
    _check_may_change(feedback, user, edit_window, now)
    reason = clean(reason)
    if reason is not None and len(reason) > RESPONSE_LIMIT:
        raise FeedbackValidationError(
            [("reason", f"{len(reason)} characters is too long; the limit is {RESPONSE_LIMIT}")]
        )
    changes: dict[str, Any] = {"status": [feedback.status, FeedbackStatus.WITHDRAWN.value]}
    if reason is not None:
        changes["reason"] = [None, reason]
    feedback.status = FeedbackStatus.WITHDRAWN.value
    feedback.updated_at = now
    session.add(feedback)
    _record(session, feedback, user, RevisionAction.WITHDRAW, changes, now)
    session.flush()
    return feedback


def edit_deadline(feedback: Feedback, edit_window: timedelta) -> datetime | None:
    """When the author's edit window closes (None: a draft, open until submitted)."""
    if feedback.status != FeedbackStatus.SUBMITTED or feedback.submitted_at is None:
        return None
    return feedback.submitted_at + edit_window


def can_change(feedback: Feedback, user: User, edit_window: timedelta, now: datetime) -> bool:
    """May ``user`` edit or withdraw the record now? (For showing the buttons.)"""
    try:
        _check_may_change(feedback, user, edit_window, now)
    except FeedbackError:
        return False
    return True


def _check_may_change(
    feedback: Feedback, user: User, edit_window: timedelta, now: datetime
) -> None:
    if feedback.observer_id != user.id or not user.active:
        raise FeedbackPermissionError(None, "only the author may change this record")
    if feedback.status == FeedbackStatus.WITHDRAWN:
        raise FeedbackStateError("this record was withdrawn; it can no longer be changed")
    deadline = edit_deadline(feedback, edit_window)
    if deadline is not None and now > deadline:
        hours = edit_window.total_seconds() / 3600
        raise FeedbackStateError(
            f"the {hours:g}-hour edit window closed at {deadline:%Y-%m-%d %H:%M} UTC"
        )


def _scores_by_code(checked: CheckedFeedback) -> dict[str, float]:
    code = {item.id: item.code for item in checked.items}
    return {code[item_id]: value for item_id, value in checked.scores.items()}


def _tracked(feedback: Feedback, scores: Mapping[str, float]) -> dict[str, Any]:
    """The record's tracked columns and its scores (``scores.CODE``) as JSON values."""
    out = {name: _json_value(getattr(feedback, name)) for name in TRACKED_COLUMNS}
    out.update({f"scores.{code}": value for code, value in scores.items()})
    return out


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _record(
    session: Session,
    feedback: Feedback,
    user: User,
    action: RevisionAction,
    changes: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        FeedbackRevision(
            feedback_id=feedback.id,  # type: ignore[arg-type]
            at=now,
            user_id=user.id,
            action=action.value,
            changes=changes,
        )
    )


# --- reading ----------------------------------------------------------------------------


def feedback_scores(session: Session, feedback_id: int) -> dict[str, float]:
    """The record's scores by item code."""
    stmt = (
        select(RubricItem.code, FeedbackScore.value)
        .join(RubricItem, col(RubricItem.id) == FeedbackScore.item_id)
        .where(FeedbackScore.feedback_id == feedback_id)
        .order_by(col(RubricItem.position))
    )
    return {code: value for code, value in session.exec(stmt).all()}


def revisions(session: Session, feedback_id: int) -> list[FeedbackRevision]:
    stmt = (
        select(FeedbackRevision)
        .where(FeedbackRevision.feedback_id == feedback_id)
        .order_by(col(FeedbackRevision.at), col(FeedbackRevision.id))
    )
    return list(session.exec(stmt).all())


def input_from_feedback(session: Session, feedback: Feedback) -> FeedbackInput:
    """The stored record as input again: what an edit form starts from."""
    section = session.get(Section, feedback.section_id) if feedback.section_id else None
    group = session.get(TutorGroup, feedback.group_id) if feedback.group_id else None
    data = FeedbackInput(
        kind=feedback.kind,
        section=section.code if section else None,
        group=group.code if group else None,
        date=feedback.visit_date,
        scores=dict(feedback_scores(session, feedback.id)),  # type: ignore[arg-type]
    )
    for name in INPUT_COLUMNS:
        if name != "visit_date":
            setattr(data, name, getattr(feedback, name))
    return data


# --- teacher responses ------------------------------------------------------------------


def add_teacher_response(
    session: Session,
    *,
    user: User,
    feedback: Feedback,
    text: str,
    now: datetime | None = None,
) -> TeacherResponse:
    """The teacher of the section replies to a submitted record about it."""
    section = session.get(Section, feedback.section_id) if feedback.section_id else None
    if section is None or section.teacher_id != user.id or not user.active:
        raise FeedbackPermissionError(None, "only the teacher of the section may respond")
    if feedback.status != FeedbackStatus.SUBMITTED:
        raise FeedbackStateError("only a submitted record can have a response")
    cleaned = clean(text)
    if cleaned is None:
        raise FeedbackValidationError([("text", "required: the text of your response")])
    if len(cleaned) > RESPONSE_LIMIT:
        raise FeedbackValidationError(
            [("text", f"{len(cleaned)} characters is too long; the limit is {RESPONSE_LIMIT}")]
        )
    response = TeacherResponse(
        feedback_id=feedback.id,  # type: ignore[arg-type]
        teacher_id=user.id,  # type: ignore[arg-type]
        text=cleaned,
        created_at=now or utcnow(),
    )
    session.add(response)
    session.flush()
    return response
