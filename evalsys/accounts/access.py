"""The one answer to "may this user do X on unit U", and deny-by-default for views.

A permission is granted by a role on a unit and covers the unit's subtree. Every
view must declare its access with :func:`public`, :func:`login_required` or (API
views) :func:`token_required`;
the app refuses to serve an endpoint that declares neither (see
:func:`enforce_declared_access`), so a route added without thought is closed,
not open. Views then check the unit with :func:`require`, or find what their address
names with :func:`unit_or_404` and :func:`feedback_or_404` (``api_…`` for the JSON API):
one place decides between 404 and 403 for every page. Who may read a feedback record is
one SQL condition, :func:`feedback_visible_to`, for lists and single records alike.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from flask import abort, current_app, request
from flask_login import current_user
from sqlalchemy import ColumnElement, Select, and_, exists, false, or_
from sqlmodel import Session, col, select

from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FeedbackStatus
from evalsys.org.models import OrgUnit, OrgUnitClosure, Section
from evalsys.validation import MAX_INT


class Perm(StrEnum):
    VIEW_UNIT = "view_unit"  # the unit page: hierarchy, courses, sections
    VIEW_FEEDBACK = "view_feedback"  # feedback records of every section in the unit
    VIEW_REPORTS = "view_reports"  # term reports and statistics
    SUBMIT_SPOT_CHECK = "submit_spot_check"
    SUBMIT_OPEN_CLASS = "submit_open_class"
    SUBMIT_TUTOR_REPORT = "submit_tutor_report"
    MANAGE_LOOP = "manage_loop"  # problems, meetings, actions
    MANAGE = "manage"  # users, imports, rubrics, schedules


#: Which roles carry which permissions. Admin carries all of them.
ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.SUPERVISOR: frozenset({Perm.VIEW_UNIT, Perm.SUBMIT_SPOT_CHECK}),
    Role.LEADER: frozenset(
        {Perm.VIEW_UNIT, Perm.SUBMIT_OPEN_CLASS, Perm.VIEW_FEEDBACK, Perm.VIEW_REPORTS}
    ),
    Role.TUTOR: frozenset({Perm.VIEW_UNIT, Perm.SUBMIT_TUTOR_REPORT}),
    Role.DEAN: frozenset({Perm.VIEW_UNIT, Perm.VIEW_FEEDBACK, Perm.VIEW_REPORTS, Perm.MANAGE_LOOP}),
    Role.HEAD: frozenset({Perm.VIEW_UNIT, Perm.VIEW_FEEDBACK, Perm.VIEW_REPORTS, Perm.MANAGE_LOOP}),
    # Teachers see their department's page; their own sections' feedback is
    # checked by teacher_id, not by this table.
    Role.TEACHER: frozenset({Perm.VIEW_UNIT}),
}


#: One permission, or several of which any one will do (the loop's pages are read with
#: VIEW_REPORTS or MANAGE_LOOP).
Perms = Perm | Collection[Perm]


def roles_with(perm: Perms) -> list[str]:
    wanted = {perm} if isinstance(perm, Perm) else set(perm)
    return sorted(role.value for role, perms in ROLE_PERMS.items() if wanted & perms)


def _grant_covers(user_id: int | None, perm: Perms, unit_id_column: Any) -> Any:
    """SQL condition: some grant of the user carrying ``perm`` sits at or above the unit.

    A user never stored (no id) holds no grant: the condition then matches nothing."""
    return exists().where(
        col(RoleGrant.user_id) == user_id,
        col(RoleGrant.role).in_(roles_with(perm)),
        col(OrgUnitClosure.ancestor_id) == RoleGrant.unit_id,
        col(OrgUnitClosure.descendant_id) == unit_id_column,
    )


def may(session: Session, user: User | Any, perm: Perms, unit_id: int) -> bool:
    """May ``user`` do ``perm`` (any of several) on the unit? One query, whatever the depth."""
    if not _active(user):
        return False
    stmt = select(_grant_covers(user.id, perm, unit_id))
    return bool(session.exec(stmt).one())


def scope_ids(user: User, perm: Perms) -> Select:
    """A subquery of the ids of every unit where ``user`` has ``perm`` (any of several),
    for ``.in_()`` filters."""
    return (
        select(OrgUnitClosure.descendant_id)
        .join(RoleGrant, col(RoleGrant.unit_id) == OrgUnitClosure.ancestor_id)
        .where(RoleGrant.user_id == user.id, col(RoleGrant.role).in_(roles_with(perm)))
        .distinct()
    )


def top_units(session: Session, user: User, perm: Perm) -> list[OrgUnit]:
    """The highest units where the user has ``perm`` (the entry points of their scope)."""
    granted = select(RoleGrant.unit_id).where(
        RoleGrant.user_id == user.id, col(RoleGrant.role).in_(roles_with(perm))
    )
    covered_by_other = (
        select(OrgUnitClosure.descendant_id)
        .where(col(OrgUnitClosure.ancestor_id).in_(granted))
        .where(OrgUnitClosure.depth > 0)
    )
    stmt = (
        select(OrgUnit)
        .where(col(OrgUnit.id).in_(granted))
        .where(col(OrgUnit.id).not_in(covered_by_other))
        .order_by(OrgUnit.code)
    )
    return list(session.exec(stmt).all())


def user_roles(session: Session, user: User) -> list[tuple[str, OrgUnit]]:
    stmt = (
        select(RoleGrant.role, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .where(RoleGrant.user_id == user.id)
        .order_by(RoleGrant.role, OrgUnit.code)
    )
    return [(role, unit) for role, unit in session.exec(stmt).all()]


def require(session: Session, perm: Perms, unit_id: int) -> None:
    """Abort with 403 unless the current user has ``perm`` on the unit."""
    if not may(session, current_user, perm, unit_id):
        abort(403)


# --- one object, one rule: load it (else 404), then check it (else 403) -----------------
#
# flaskr's ``get_post(id, check_author)`` and Indico's ``_process_args`` / ``_check_access``:
# every page, API call, report and loop view that names a unit or a record by its address
# goes through these, so "which status for which refusal" is decided here once.


def unit_by_code(session: Session, code: str) -> OrgUnit | None:
    return session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()


def unit_or_404(session: Session, code: str, user: User | Any, perm: Perms) -> OrgUnit:
    """The unit of the address: 404 if there is none, 403 unless ``user`` has ``perm`` on it.

    The unit pages have always told these two apart (the access matrix expects the 403);
    where a code must not reveal whether it exists (a section named on a form), the
    caller answers both alike itself.
    """
    unit = unit_by_code(session, code)
    if unit is None:
        abort(404)
    assert unit.id is not None  # loaded from the database
    if not may(session, user, perm, unit.id):
        abort(403)
    return unit


class FeedbackPerm(StrEnum):
    """What one may do with one feedback record (not a unit permission: it depends on the
    record's author, section and status as much as on grants)."""

    VIEW = "view"  # read it: see feedback_visible_to
    CHANGE = "change"  # edit or withdraw it: its author (the edit window is the service's)


def feedback_authored_by(user: User | Any) -> ColumnElement[bool]:
    """SQL condition: the user wrote the record."""
    return col(Feedback.observer_id) == user.id


def feedback_reviewed_by(user: User | Any) -> ColumnElement[bool]:
    """SQL condition: the record's department is in the user's ``VIEW_FEEDBACK`` scope
    (heads their department, deans their college, leaders and admins their units)."""
    return col(Feedback.department_id).in_(scope_ids(user, Perm.VIEW_FEEDBACK))


def feedback_taught_to(user: User | Any) -> ColumnElement[bool]:
    """SQL condition: the record is about a section the user teaches."""
    return col(Feedback.section_id).in_(select(Section.id).where(Section.teacher_id == user.id))


def feedback_visible_to(user: User | Any) -> ColumnElement[bool]:
    """SQL condition: the one definition of who may read a feedback record.

    Its author, always (drafts are theirs alone, and so is a draft discarded unsent, which
    is stored as withdrawn); reviewers of its department once it is submitted, and still
    after a submitted record is withdrawn; the teacher of its section while it is
    submitted. Lists filter with it, and the one-record check (:func:`feedback_lookup`)
    selects it, so a record is never in a list yet refused on its page, or the reverse.
    An inactive or anonymous user sees nothing, as with :func:`may`.
    """
    if not _active(user):
        return false()
    return or_(
        feedback_authored_by(user),
        and_(feedback_was_submitted(), feedback_reviewed_by(user)),
        and_(col(Feedback.status) == FeedbackStatus.SUBMITTED.value, feedback_taught_to(user)),
    )


def feedback_was_submitted() -> ColumnElement[bool]:
    """SQL condition: the record is submitted, or was before it was withdrawn.

    A draft its author discards is stored as withdrawn with no ``submitted_at``: it was
    never sent, so it stays as private as the draft was.
    """
    return or_(
        col(Feedback.status) == FeedbackStatus.SUBMITTED.value,
        and_(
            col(Feedback.status) == FeedbackStatus.WITHDRAWN.value,
            col(Feedback.submitted_at).is_not(None),
        ),
    )


def _active(user: User | Any) -> bool:
    """Logged in (or an API caller) and not deactivated: anyone else may do nothing."""
    return user is not None and getattr(user, "is_authenticated", True) and bool(user.active)


@dataclass(frozen=True)
class FeedbackAccess:
    """How a user stands to one record, as :func:`feedback_visible_to` and its parts say."""

    status: str
    sent: bool  # feedback_was_submitted: submitted, or withdrawn after it was
    can_view: bool  # feedback_visible_to
    author: bool
    reviewer: bool  # VIEW_FEEDBACK on the record's department
    teacher: bool  # teaches the section the record is about

    @property
    def hidden(self) -> bool:
        """Another's draft (or draft discarded unsent) does not exist for them: refused with
        404, never 403."""
        return not self.sent and not self.can_view

    def allows(self, perm: FeedbackPerm) -> bool:
        return self.author if perm == FeedbackPerm.CHANGE else self.can_view

    def sees_observer(self, *, shown_to_teacher: bool) -> bool:
        """Teachers see who observed them only where the site says so."""
        return self.author or self.reviewer or (self.teacher and shown_to_teacher)


def _access_columns(user: User | Any) -> list[Any]:
    if not _active(user):
        return [feedback_was_submitted(), false(), false(), false(), false()]
    return [
        feedback_was_submitted(),
        feedback_visible_to(user),
        feedback_authored_by(user),
        feedback_reviewed_by(user),
        feedback_taught_to(user),
    ]


def feedback_lookup(
    session: Session, feedback_id: int, user: User | Any
) -> tuple[Feedback, FeedbackAccess] | None:
    """The record and how ``user`` stands to it, in one query; None if there is no such id."""
    if not 0 < feedback_id <= MAX_INT:  # no integer column holds it: it names nothing
        return None
    stmt = select(Feedback, *_access_columns(user)).where(col(Feedback.id) == feedback_id)
    row = session.exec(stmt).first()
    if row is None:
        return None
    feedback, sent, visible, author, reviewer, teacher = row
    access = FeedbackAccess(feedback.status, *map(bool, (sent, visible, author, reviewer, teacher)))
    return feedback, access


def feedback_or_404(
    session: Session, feedback_id: int, user: User | Any, perm: FeedbackPerm | None
) -> tuple[Feedback, FeedbackAccess]:
    """The record of the address for the web pages: 404 if there is none or it is another's
    draft, 403 unless ``user`` may do ``perm`` with it (None: the caller's service decides,
    as withdrawing does after reading its form)."""
    found = feedback_lookup(session, feedback_id, user)
    if found is None or found[1].hidden:
        abort(404)
    feedback, access = found
    if perm is not None and not access.allows(perm):
        abort(403)
    return feedback, access


# --- the same, answered as the JSON API answers (evalsys.api.auth.error_response) ----------


def api_feedback_or_404(
    session: Session, feedback_id: int, user: User | Any
) -> tuple[Feedback, FeedbackAccess]:
    """The record for an API call: anything the caller may not read is a JSON 404, never a
    403, so an id tells nothing about records outside their scope."""
    found = feedback_lookup(session, feedback_id, user)
    if found is None or not found[1].can_view:
        _api_abort(404, f"no feedback record {feedback_id} that you may see")
    return found


def api_require(
    session: Session, user: User | Any, perm: Perms, unit_id: int, message: str
) -> None:
    """A JSON 403 with ``message`` unless ``user`` has ``perm`` on the unit. (The API finds
    the unit among a request's other parameters: an unknown code is one of its 422's field
    errors, not a 404, so only the scope check is shared.)"""
    if not may(session, user, perm, unit_id):
        _api_abort(403, message)


def _api_abort(status: int, message: str) -> NoReturn:
    from evalsys.api.auth import error_response

    # A response raised as is: the API's error handler does not rewrite it (it has no code).
    abort(error_response(status, message))


# --- declaring access on views -------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTR = "_evalsys_access"


def public(view: F) -> F:
    """Anyone, logged in or not, may open this view (the login page, health checks)."""
    setattr(view, ACCESS_ATTR, "public")
    return view


def login_required(view: F) -> F:
    """Only a logged-in, active user may open this view; it checks units itself."""
    setattr(view, ACCESS_ATTR, "user")
    return view


def token_required(view: F) -> F:
    """Only a request with a live API token (``Authorization: Bearer``) may open this view.

    Stateless: nobody is logged in, no session cookie is set; the view reads the
    caller with :func:`evalsys.api.auth.api_user`. Others get a JSON 401.
    """
    setattr(view, ACCESS_ATTR, "token")
    return view


def enforce_declared_access() -> Any:
    """``before_request`` hook: deny what is undeclared, send strangers to the login page."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 / 405 follow
    if endpoint == "static":
        return None
    view = current_app.view_functions.get(endpoint)
    rule = getattr(view, ACCESS_ATTR, None)
    if rule == "public":
        return None
    if rule == "user":
        if current_user.is_authenticated and current_user.active:
            return None
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]  # set by Flask-Login
    if rule == "token":
        from evalsys.api.auth import authenticate_request

        return authenticate_request()
    current_app.logger.error("endpoint %s declares no access rule; denied", endpoint)
    abort(403)


def is_school_admin(session: Session, user: User | Any) -> bool:
    """Admin of every root unit: the school-wide pages (schedule, rubrics, audit) are theirs."""
    roots = session.exec(select(OrgUnit.id).where(col(OrgUnit.parent_id).is_(None))).all()
    # A stored row's id is never None; SQLModel types the column as Optional for inserts.
    return bool(roots) and all(may(session, user, Perm.MANAGE, rid) for rid in roots)  # type: ignore[arg-type]


def require_school_admin(session: Session) -> None:
    """Abort with 403 unless the current user is a school admin."""
    if not is_school_admin(session, current_user):
        abort(403)
