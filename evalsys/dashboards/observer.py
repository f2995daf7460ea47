"""Supervisors' and tutors' dashboard: my recent records, and the forms I may fill in.

"This week's assignments" belong here too; the spot-check planner (issue 6)
provides them through :func:`assignments`, which returns None until it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from evalsys.accounts.models import User
from evalsys.feedback.service import FeedbackRow, feedback_by_observer, submittable_kinds

RECENT = 5


@dataclass
class ObserverDashboard:
    kinds: list[str]
    recent: list[FeedbackRow]
    total: int
    #: The planner's assignments for this week, or None while there is no planner.
    assignments: Any


def assignments(session: Session, *, user: User) -> Any:
    """PLANNER HOOK: this week's spot-check assignments of ``user`` (None: no planner yet).

    The spot-check planner replaces this with its own query (a fixed number of
    queries, plain values) and templates/home/_observer.html shows them in the
    place marked "This week's assignments".
    """
    return None


def observer_dashboard(session: Session, *, user: User) -> ObserverDashboard | None:
    """None for users who may submit nothing and have written nothing."""
    kinds = submittable_kinds(session, user=user)
    page = feedback_by_observer(session, user=user, page=1, per_page=RECENT)
    if not kinds and not page.total:
        return None
    return ObserverDashboard(
        kinds=kinds,
        recent=page.items,
        total=page.total,
        assignments=assignments(session, user=user),
    )
