"""What every change in the loop answers to: the moves a status may make, how a change is
refused, the limits on typed text, and the audit row each change leaves.

The loop's service is split by what it changes (:mod:`~evalsys.loop.proposals`,
:mod:`~evalsys.loop.problems`, :mod:`~evalsys.loop.meetings`,
:mod:`~evalsys.loop.actions`); its functions take ``session`` as a keyword, flush but
never commit (the caller owns the unit of work), and are used alike by the pages, the
CLI, the scheduler job and tests. Every change of a problem's or an action's status is
checked against :data:`TRANSITIONS` / :data:`ACTION_TRANSITIONS` and written to the audit
log (``AuditEvent``, action ``loop.*``, :func:`audit`) in the same transaction.

Errors: :class:`LoopValidationError` carries one message per form field (a page shows each
next to its field), :class:`LoopPermissionError` is a 403, :class:`LoopStateError` a
refused transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session, col

from evalsys.accounts.models import User
from evalsys.accounts.service import audit as audit_event
from evalsys.loop.models import LIVE_ACTIONS, Action, ActionStatus, ProblemStatus


class LoopError(Exception):
    """Base of the loop's refusals."""


class LoopPermissionError(LoopError):
    """The user may not do this on that unit (Perm.MANAGE_LOOP, or not the owner)."""


class LoopStateError(LoopError):
    """The change is not allowed from the current status."""


class LoopValidationError(LoopError):
    """Bad input: one message per field name."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


S = ProblemStatus
#: Where a problem may go from each status. Merging is its own function.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PROPOSED: frozenset({S.OPEN, S.DISMISSED}),
    S.OPEN: frozenset({S.IN_PROGRESS, S.RESOLVED, S.DISMISSED}),
    S.IN_PROGRESS: frozenset({S.RESOLVED, S.DISMISSED}),
    # A resolution that does not hold up when checked goes back to work.
    S.RESOLVED: frozenset({S.VERIFIED, S.IN_PROGRESS}),
    S.VERIFIED: frozenset(),
    S.DISMISSED: frozenset(),
    S.MERGED: frozenset(),
}
#: Statuses of problems that were confirmed as real (what reports count as "found").
FOUND = (S.OPEN.value, S.IN_PROGRESS.value, S.RESOLVED.value, S.VERIFIED.value)
#: Statuses in which a problem can take new actions.
ACTIONABLE = (S.OPEN.value, S.IN_PROGRESS.value)

A = ActionStatus
ACTION_TRANSITIONS: dict[str, frozenset[str]] = {
    A.OPEN: frozenset({A.IN_PROGRESS, A.DONE, A.CANCELLED}),
    A.IN_PROGRESS: frozenset({A.DONE, A.CANCELLED}),
    A.DONE: frozenset(),
    A.CANCELLED: frozenset(),
}


def overdue_condition(today: date) -> Any:
    """SQL condition on Action: due before today and still open or in progress (what every
    list marks overdue)."""
    return (col(Action.due_date) < today) & col(Action.status).in_(LIVE_ACTIONS)


TITLE_LIMIT = 300
TEXT_LIMIT = 4000


def clean(value: str | None) -> str:
    """Typed text without the blanks around it ("" for nothing)."""
    return (value or "").strip()


def too_long(limit: int, text: str) -> str:
    """The message of a field whose text is over ``limit`` characters."""
    return str(
        _(
            "At most %(limit)s characters (this is %(length)s); shorten it.",
            limit=limit,
            length=len(text),
        )
    )


def audit(session: Session, user: User | None, action: str, target: str, detail: str) -> None:
    """The audit row of a change, action ``loop.<action>``; ``user`` None is the system."""
    audit_event(
        session,
        f"loop.{action}",
        user_id=user.id if user is not None else None,
        target=target,
        detail=detail,
    )
