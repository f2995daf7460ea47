"""Supervisors' and tutors' dashboard: my recent records, and the forms I may fill in.

"This week's assignments" belong here too; the spot-check planner (issue 6)
provides them through :func:`assignments`, which returns None until it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from evalsys.accounts.models import User
from evalsys.clock import local_today
from evalsys.feedback.choices import submittable_kinds
from evalsys.feedback.reads import feedback_by_observer
from evalsys.feedback.rows import FeedbackRow

RECENT = 5


@dataclass
class ObserverDashboard:
    kinds: list[str]
    recent: list[FeedbackRow]
    total: int
    #: The planner's assignments for this week, or None while there is no planner.
    assignments: Any


def assignments(session: Session, *, user: User) -> Any:
    """This week's spot-check assignments of ``user`` from the planner (None: none drawn).

    A fixed number of queries per running term (usually one term); the rows are the
    planner's own (:func:`evalsys.planner.service.supervisor_assignments`).
    """
    from flask import current_app

    from evalsys.planner import service as planner

    today = local_today(current_app.config)
    monday = today - timedelta(days=today.weekday())
    rows = []
    for term in planner.current_terms(session, today):
        rows += planner.supervisor_assignments(
            session, user=user, term=term, start=monday, end=monday + timedelta(days=6)
        )
    return rows or None


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
