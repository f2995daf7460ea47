"""Changing feedback records: store a new one (a draft, or submitted), save a draft again,
submit it, edit it within the author's window, withdraw it (or discard a draft); teacher
responses. Reading records back is :mod:`evalsys.feedback.reads`, what the forms offer
:mod:`evalsys.feedback.choices`.

Plain functions taking ``session`` as a keyword, used alike by the forms, the
JSON API, the CSV import, the CLI and tests. They flush but never commit: the
caller owns the unit of work (and a dry run simply rolls back).

Every check (:mod:`evalsys.feedback.checks`) runs before anything is written
and all problems are reported at once (:class:`FeedbackValidationError`), so a
form can show each message next to its field and an API can answer 422 with the
whole list. Scope is refused with :class:`FeedbackPermissionError` (403), a
record's state (withdrawn, edit window closed) with :class:`FeedbackStateError`.
An idempotency key reused for another request is :class:`IdempotencyKeyReused`
(:mod:`evalsys.feedback.idempotency`). Who may read a record is
:func:`evalsys.accounts.access.feedback_visible_to`; that only its author changes it is
checked again here (:func:`can_change`), with the edit window, for every caller.
Each change records a revision and announces itself with
:data:`evalsys.signals.feedback_changed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from evalsys import signals
from evalsys.accounts.models import User
from evalsys.clock import utcnow
from evalsys.feedback.checks import CheckedFeedback, check_feedback
from evalsys.feedback.idempotency import (
    IdempotencyKeyReused,
    bounded_lock_wait,
    digests_match,
)
from evalsys.feedback.inputs import (
    INPUT_COLUMNS,
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
    TeacherResponse,
)
from evalsys.feedback.reads import feedback_scores
from evalsys.feedback.vocab import FeedbackStatus, RevisionAction
from evalsys.org.models import Section
from evalsys.validation import text_problem

DEFAULT_EDIT_WINDOW = timedelta(hours=72)

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
    clicks, re-imports), even when the two calls race. No request digest is
    kept: use :func:`submit_or_replay` to refuse a key reused for other content.
    """
    return submit_or_replay(
        session,
        user=user,
        data=data,
        draft=draft,
        idempotency_key=idempotency_key,
        observer=observer,
        now=now,
        today=today,
    ).feedback


@dataclass(frozen=True)
class Submitted:
    """What :func:`submit_or_replay` did: stored ``feedback`` now, or found it (``replayed``)."""

    feedback: Feedback
    replayed: bool


def submit_or_replay(
    session: Session,
    *,
    user: User,
    data: FeedbackInput,
    draft: bool = False,
    idempotency_key: str | None = None,
    request_digest: str | None = None,
    in_flight_wait: timedelta | None = None,
    observer: User | None = None,
    now: datetime | None = None,
    today: date | None = None,
) -> Submitted:
    """Store a new record, or replay the one an earlier request stored under the same key.

    ``request_digest`` (:func:`evalsys.feedback.idempotency.body_digest` of the
    request) is stored beside the key; a later call with the key and another
    digest raises :class:`IdempotencyKeyReused` and stores nothing. Where either
    side has no digest, the key alone decides (see :mod:`evalsys.feedback.idempotency`).

    ``in_flight_wait`` bounds how long the insert waits for a concurrent,
    uncommitted record with the same key (PostgreSQL); past it,
    :class:`IdempotencyKeyInFlight`. None waits until the other transaction ends.
    """
    observer = observer or user
    now = now or utcnow()
    key = clean(idempotency_key)
    if key is not None:
        if len(key) > IDEMPOTENCY_KEY_LIMIT:
            raise FeedbackValidationError(
                [
                    (
                        "idempotency_key",
                        _l("longer than %(limit)s characters", limit=IDEMPOTENCY_KEY_LIMIT),
                    )
                ]
            )
        if (problem := text_problem(key)) is not None:
            raise FeedbackValidationError([("idempotency_key", problem)])
        assert observer.id is not None  # a stored user
        existing = _find_by_key(session, observer.id, key)
        if existing is not None:
            return _replay(existing, request_digest)
    checked = check_feedback(
        session, user=user, data=data, draft=draft, observer=observer, today=today
    )
    assert checked.rubric.id is not None  # the current rubric, a stored row
    feedback = Feedback(
        kind=checked.kind,
        rubric_id=checked.rubric.id,
        term_id=checked.term_id,
        section_id=checked.section_id,
        group_id=checked.group_id,
        department_id=checked.department_id,
        observer_id=checked.observer_id,
        status=(FeedbackStatus.DRAFT if draft else FeedbackStatus.SUBMITTED).value,
        idempotency_key=key,
        idempotency_digest=request_digest if key is not None else None,
        created_at=now,
        updated_at=now,
        submitted_at=None if draft else now,
        **checked.columns,
    )
    stored = _insert_once(session, feedback, key, in_flight_wait)
    if stored is not feedback:
        return _replay(stored, request_digest)
    assert feedback.id is not None  # flushed by _insert_once
    for item_id, value in checked.scores.items():
        session.add(FeedbackScore(feedback_id=feedback.id, item_id=item_id, value=value))
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
    return Submitted(feedback, replayed=False)


def _replay(existing: Feedback, request_digest: str | None) -> Submitted:
    if not digests_match(existing.idempotency_digest, request_digest):
        assert existing.id is not None  # a stored row
        raise IdempotencyKeyReused(existing.id, existing.status)
    return Submitted(existing, replayed=True)


def _find_by_key(session: Session, observer_id: int, key: str) -> Feedback | None:
    stmt = select(Feedback).where(
        Feedback.observer_id == observer_id, Feedback.idempotency_key == key
    )
    return session.exec(stmt).first()


def _insert_once(
    session: Session, feedback: Feedback, key: str | None, in_flight_wait: timedelta | None = None
) -> Feedback:
    """Insert; if a racing request stored the same idempotency key first, return its record.

    The insert runs in a savepoint so that losing the race leaves the caller's
    transaction usable. SQLite's Python driver opens its transaction only at the
    first write, and a savepoint taken before then is released as a commit; so
    on SQLite before any write this falls back to rolling back the (so far
    write-free) transaction instead.

    On PostgreSQL the insert of a key that a concurrent transaction has inserted
    but not committed waits for that transaction: a commit turns into the
    IntegrityError handled here (the winner's record), a rollback lets this
    insert through. ``in_flight_wait`` bounds the wait (:class:`IdempotencyKeyInFlight`).
    """
    if key is None:
        session.add(feedback)
        session.flush()
        return feedback
    observer_id = feedback.observer_id
    if _savepoints_work(session):
        try:
            with session.begin_nested(), bounded_lock_wait(session, in_flight_wait):
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
    assert feedback.id is not None  # a stored record
    if data.kind != feedback.kind:
        raise FeedbackValidationError(
            [("kind", _l("a %(kind)s record stays %(kind)s", kind=feedback.kind))]
        )
    if draft and feedback.status == FeedbackStatus.SUBMITTED:
        raise FeedbackStateError(_l("a submitted record cannot go back to being a draft"))
    rubric = session.get(Rubric, feedback.rubric_id)
    checked = check_feedback(session, user=user, data=data, draft=draft, rubric=rubric, today=today)
    before = _tracked(feedback, feedback_scores(session, feedback.id))
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
        session.exec(delete(FeedbackScore).where(col(FeedbackScore.feedback_id) == feedback.id))
        session.flush()
        for item_id, value in checked.scores.items():
            session.add(FeedbackScore(feedback_id=feedback.id, item_id=item_id, value=value))
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
        raise FeedbackValidationError([("reason", _too_long(len(reason), RESPONSE_LIMIT))])
    changes: dict[str, Any] = {"status": [feedback.status, FeedbackStatus.WITHDRAWN.value]}
    if reason is not None:
        changes["reason"] = [None, reason]
    feedback.status = FeedbackStatus.WITHDRAWN.value
    feedback.updated_at = now
    session.add(feedback)
    _record(session, feedback, user, RevisionAction.WITHDRAW, changes, now)
    session.flush()
    return feedback


def _too_long(length: int, limit: int) -> LazyString:
    return _l(
        "%(length)s characters is too long; the limit is %(limit)s", length=length, limit=limit
    )


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
        raise FeedbackPermissionError(None, _l("only the author may change this record"))
    if feedback.status == FeedbackStatus.WITHDRAWN:
        raise FeedbackStateError(_l("this record was withdrawn; it can no longer be changed"))
    deadline = edit_deadline(feedback, edit_window)
    if deadline is not None and now > deadline:
        hours = edit_window.total_seconds() / 3600
        raise FeedbackStateError(
            _l(
                "the %(hours)s-hour edit window closed at %(when)s UTC",
                hours=format(hours, "g"),
                when=deadline.strftime("%Y-%m-%d %H:%M"),
            )
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
    assert feedback.id is not None  # stored, or flushed before its first revision
    session.add(
        FeedbackRevision(
            feedback_id=feedback.id,
            at=now,
            user_id=user.id,
            action=action.value,
            changes=changes,
        )
    )
    # Listeners (the spot-check planner) keep their own records in step, in this transaction.
    signals.feedback_changed.send(feedback, session=session, action=action)


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
        raise FeedbackPermissionError(None, _l("only the teacher of the section may respond"))
    if feedback.status != FeedbackStatus.SUBMITTED:
        raise FeedbackStateError(_l("only a submitted record can have a response"))
    cleaned = clean(text)
    if cleaned is None:
        raise FeedbackValidationError([("text", _l("required: the text of your response"))])
    if len(cleaned) > RESPONSE_LIMIT:
        raise FeedbackValidationError([("text", _too_long(len(cleaned), RESPONSE_LIMIT))])
    assert feedback.id is not None and user.id is not None  # stored rows
    response = TeacherResponse(
        feedback_id=feedback.id,
        teacher_id=user.id,
        text=cleaned,
        created_at=now or utcnow(),
    )
    session.add(response)
    session.flush()
    return response
