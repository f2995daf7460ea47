"""Feedback service: check, store, edit and withdraw feedback records; teacher responses.

Plain functions taking ``session`` as a keyword, used alike by the forms, the
JSON API, the CSV import, the CLI and tests. They flush but never commit: the
caller owns the unit of work (and a dry run simply rolls back).

Every check (:mod:`evalsys.feedback.checks`) runs before anything is written
and all problems are reported at once (:class:`FeedbackValidationError`), so a
form can show each message next to its field and an API can answer 422 with the
whole list. Scope is refused with :class:`FeedbackPermissionError` (403), a
record's state (withdrawn, edit window closed) with :class:`FeedbackStateError`.
An idempotency key reused for another request is :class:`IdempotencyKeyReused`
(:mod:`evalsys.feedback.idempotency`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from evalsys import signals
from evalsys.accounts.access import (
    ROLE_PERMS,
    Perm,
    feedback_authored_by,
    feedback_reviewed_by,
    feedback_taught_to,
    scope_ids,
)
from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.clock import utcnow
from evalsys.feedback.checks import (
    SUBMIT_PERM,
    CheckedFeedback,
    check_feedback,
    compute_overall_score,
)
from evalsys.feedback.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    bounded_lock_wait,
    digests_match,
)
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
from evalsys.feedback.rows import FeedbackRow, count_feedback, feedback_rows
from evalsys.feedback.rubrics import current_rubric
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus, RevisionAction
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section, Term, TutorGroup
from evalsys.pagination import Page, clamp_page
from evalsys.validation import text_problem

__all__ = [
    "DEFAULT_EDIT_WINDOW",
    "CheckedFeedback",
    "FeedbackFilters",
    "GroupChoice",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "SectionChoice",
    "Submitted",
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
    "feedback_by_observer",
    "feedback_in_scope",
    "feedback_on_teacher",
    "feedback_scores",
    "group_choices",
    "input_from_feedback",
    "open_terms",
    "responses_for",
    "revisions",
    "section_choices",
    "submit_feedback",
    "submit_or_replay",
    "submittable_kinds",
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
        existing = _find_by_key(session, observer.id, key)  # type: ignore[arg-type]
        if existing is not None:
            return _replay(existing, request_digest)
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
        idempotency_digest=request_digest if key is not None else None,
        created_at=now,
        updated_at=now,
        submitted_at=None if draft else now,
        **checked.columns,
    )
    stored = _insert_once(session, feedback, key, in_flight_wait)
    if stored is not feedback:
        return _replay(stored, request_digest)
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
    return Submitted(feedback, replayed=False)


def _replay(existing: Feedback, request_digest: str | None) -> Submitted:
    if not digests_match(existing.idempotency_digest, request_digest):
        raise IdempotencyKeyReused(existing.id, existing.status)  # type: ignore[arg-type]
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
    if data.kind != feedback.kind:
        raise FeedbackValidationError(
            [("kind", _l("a %(kind)s record stays %(kind)s", kind=feedback.kind))]
        )
    if draft and feedback.status == FeedbackStatus.SUBMITTED:
        raise FeedbackStateError(_l("a submitted record cannot go back to being a draft"))
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
    session.add(
        FeedbackRevision(
            feedback_id=feedback.id,  # type: ignore[arg-type]
            at=now,
            user_id=user.id,
            action=action.value,
            changes=changes,
        )
    )
    # Listeners (the spot-check planner) keep their own records in step, in this transaction.
    signals.feedback_changed.send(feedback, session=session, action=action)


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
        raise FeedbackPermissionError(None, _l("only the teacher of the section may respond"))
    if feedback.status != FeedbackStatus.SUBMITTED:
        raise FeedbackStateError(_l("only a submitted record can have a response"))
    cleaned = clean(text)
    if cleaned is None:
        raise FeedbackValidationError([("text", _l("required: the text of your response"))])
    if len(cleaned) > RESPONSE_LIMIT:
        raise FeedbackValidationError([("text", _too_long(len(cleaned), RESPONSE_LIMIT))])
    response = TeacherResponse(
        feedback_id=feedback.id,  # type: ignore[arg-type]
        teacher_id=user.id,  # type: ignore[arg-type]
        text=cleaned,
        created_at=now or utcnow(),
    )
    session.add(response)
    session.flush()
    return response


# --- who may do what, for pages --------------------------------------------------------


def submittable_kinds(session: Session, *, user: User) -> list[str]:
    """The kinds of feedback the user may record at all (which forms to offer).

    The same rules as :func:`check_feedback`'s scope check, asked without a
    target: a grant carrying the kind's permission somewhere; for tutor-group
    reports a tutor role or a group the user tutors; an admin grant for all.
    Whether one particular section or group is allowed is still checked on submit.
    """
    roles = {
        Role(r) for r in session.exec(select(RoleGrant.role).where(RoleGrant.user_id == user.id))
    }
    perms: set[Perm] = set().union(*(ROLE_PERMS[r] for r in roles))
    kinds = [kind.value for kind, perm in SUBMIT_PERM.items() if perm in perms]
    tutors_a_group = session.exec(
        select(TutorGroup.id).where(TutorGroup.tutor_id == user.id).limit(1)
    ).first()
    if Perm.MANAGE in perms or Role.TUTOR in roles or tutors_a_group is not None:
        kinds.append(FeedbackKind.TUTOR_GROUP.value)
    return kinds


# --- what a form offers to choose from --------------------------------------------------

#: A term stays open for new records this long after its last day: visits of the
#: last weeks are often written up after the term ends.
OPEN_TERM_GRACE = timedelta(days=30)


def open_terms(session: Session, *, today: date) -> list[Term]:
    """Terms a new record can be about: begun, and not ended more than the grace ago."""
    stmt = (
        select(Term)
        .where(Term.start_date <= today, Term.end_date >= today - OPEN_TERM_GRACE)
        .order_by(col(Term.start_date).desc())
    )
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class SectionChoice:
    code: str
    course_title: str
    teacher_name: str | None
    term_code: str
    enrolled: int

    @property
    def label(self) -> str:
        """``CODE — course title — teacher``: what a search box shows and accepts."""
        return " — ".join((self.code, self.course_title, self.teacher_name or "—"))


def section_choices(
    session: Session,
    *,
    user: User,
    kind: str,
    today: date,
    query: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> tuple[list[SectionChoice], int]:
    """Sections of the open terms the user may record ``kind`` on, and how many match.

    Scope as in :func:`check_feedback`: the kind's permission on the course's
    department, and never one's own section. ``query`` matches the section
    code, the course title or the teacher's name, ignoring case.
    """
    perm = SUBMIT_PERM[FeedbackKind(kind)]
    course_ids = select(Course.id).where(col(Course.department_id).in_(scope_ids(user, perm)))
    term_ids = [t.id for t in open_terms(session, today=today)]
    teacher = aliased(User, name="teacher")
    conditions = [
        col(Section.course_id).in_(course_ids),
        col(Section.term_id).in_(term_ids),
        or_(col(Section.teacher_id).is_(None), col(Section.teacher_id) != user.id),
    ]
    text = clean(query)
    if text is not None:
        needle = text.lower()
        conditions.append(
            or_(
                func.lower(Section.code).contains(needle, autoescape=True),
                func.lower(Course.title).contains(needle, autoescape=True),
                func.lower(teacher.name).contains(needle, autoescape=True),
                func.lower(teacher.username).contains(needle, autoescape=True),
            )
        )
    base = (
        select(Section.code, Course.title, teacher.name, Term.code, Section.enrolled)
        .join(Course, col(Course.id) == Section.course_id)
        .join(Term, col(Term.id) == Section.term_id)
        .outerjoin(teacher, col(teacher.id) == Section.teacher_id)
        .where(*conditions)
    )
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(base.order_by(col(Section.code)).limit(limit).offset(offset)).all()
    return [SectionChoice(*row) for row in rows], total


@dataclass(frozen=True)
class GroupChoice:
    code: str
    name: str
    term_code: str
    size: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.code})"


def group_choices(session: Session, *, user: User, today: date) -> list[GroupChoice]:
    """Tutor groups of the open terms the user may report on: their own (admins: their units')."""
    term_ids = [t.id for t in open_terms(session, today=today)]
    stmt = (
        select(TutorGroup.code, TutorGroup.name, Term.code, TutorGroup.size)
        .join(Term, col(Term.id) == TutorGroup.term_id)
        .where(
            col(TutorGroup.term_id).in_(term_ids),
            or_(
                TutorGroup.tutor_id == user.id,
                col(TutorGroup.department_id).in_(scope_ids(user, Perm.MANAGE)),
            ),
        )
        .order_by(col(Term.start_date).desc(), col(TutorGroup.code))
    )
    return [GroupChoice(*row) for row in session.exec(stmt).all()]


# --- lists of records -------------------------------------------------------------------


@dataclass
class FeedbackFilters:
    """The filters of the reviewers' list; None means "any"."""

    term: str | None = None  # term code
    unit: str | None = None  # unit code: records of that unit and below
    kind: str | None = None
    teacher: str | None = None  # part of the section teacher's name or username
    score_min: float | None = None
    score_max: float | None = None


def _page_of_rows(
    session: Session,
    conditions: Sequence[Any],
    order: Sequence[Any],
    page: int,
    per_page: int,
) -> Page[FeedbackRow]:
    """Two queries whatever the page size: the count, then the page's rows with their joins."""
    total = count_feedback(session, conditions)
    page = clamp_page(page, total, per_page)
    rows = feedback_rows(
        session,
        conditions,
        order=[*order, col(Feedback.id).desc()],
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    return Page(rows, page, per_page, total)


def feedback_in_scope(
    session: Session,
    *,
    user: User,
    filters: FeedbackFilters | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page[FeedbackRow]:
    """Submitted records of the departments where the user has ``VIEW_FEEDBACK``, filtered.

    Every filter is a condition on the feedback row itself (subqueries for unit
    and teacher), so the count and the page run the same plain query.
    """
    conditions = scope_conditions(user, filters)
    order = [col(Feedback.visit_date).desc()]
    return _page_of_rows(session, conditions, order, page, per_page)


def scope_conditions(user: User | None, filters: FeedbackFilters | None = None) -> list[Any]:
    """The conditions on submitted feedback for a list or an export.

    ``user`` None is the whole school (the command line, run by whoever runs the server).
    """
    f = filters or FeedbackFilters()
    conditions: list[Any] = [Feedback.status == FeedbackStatus.SUBMITTED]
    if user is not None:
        conditions.append(feedback_reviewed_by(user))
    if f.term:
        conditions.append(col(Feedback.term_id).in_(select(Term.id).where(Term.code == f.term)))
    if f.unit:
        below = (
            select(OrgUnitClosure.descendant_id)
            .join(OrgUnit, col(OrgUnit.id) == OrgUnitClosure.ancestor_id)
            .where(OrgUnit.code == f.unit)
        )
        conditions.append(col(Feedback.department_id).in_(below))
    if f.kind:
        conditions.append(Feedback.kind == f.kind)
    if f.teacher:
        needle = f.teacher.strip().lower()
        taught = (
            select(Section.id)
            .join(User, col(User.id) == Section.teacher_id)
            .where(
                or_(
                    func.lower(User.name).contains(needle, autoescape=True),
                    func.lower(User.username).contains(needle, autoescape=True),
                )
            )
        )
        conditions.append(col(Feedback.section_id).in_(taught))
    if f.score_min is not None:
        conditions.append(col(Feedback.overall_score) >= f.score_min)
    if f.score_max is not None:
        conditions.append(col(Feedback.overall_score) <= f.score_max)
    return conditions


def feedback_by_observer(
    session: Session, *, user: User, page: int = 1, per_page: int = 25
) -> Page[FeedbackRow]:
    """The user's own records, drafts first (they wait to be finished), newest visit first."""
    conditions = [feedback_authored_by(user)]
    drafts_first = case((Feedback.status == FeedbackStatus.DRAFT, 0), else_=1)
    order = [drafts_first, col(Feedback.visit_date).desc()]
    return _page_of_rows(session, conditions, order, page, per_page)


def feedback_on_teacher(
    session: Session, *, user: User, page: int = 1, per_page: int = 25
) -> Page[FeedbackRow]:
    """Submitted records on the sections the user teaches, newest visit first."""
    conditions = [Feedback.status == FeedbackStatus.SUBMITTED, feedback_taught_to(user)]
    return _page_of_rows(session, conditions, [col(Feedback.visit_date).desc()], page, per_page)


def responses_for(
    session: Session, feedback_ids: Sequence[int]
) -> dict[int, list[TeacherResponse]]:
    """Teacher responses of several records in one query, oldest first."""
    if not feedback_ids:
        return {}
    stmt = (
        select(TeacherResponse)
        .where(col(TeacherResponse.feedback_id).in_(list(feedback_ids)))
        .order_by(col(TeacherResponse.created_at), col(TeacherResponse.id))
    )
    out: dict[int, list[TeacherResponse]] = {}
    for response in session.exec(stmt).all():
        out.setdefault(response.feedback_id, []).append(response)
    return out
