"""Reading the audit log: filters and pages for ``/admin/audit``. Writing is
:func:`evalsys.accounts.service.audit` (insert only; nothing updates or deletes a row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts.models import AuditEvent, User
from evalsys.clock import site_datetime
from evalsys.pagination import Page, clamp_page


@dataclass(frozen=True)
class AuditFilters:
    action: str | None = None
    #: The acting user's username, or the username/unit/term the event is about.
    who: str | None = None
    #: Text anywhere in the target or the detail.
    text: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    action: str
    username: str | None
    target: str | None
    detail: str | None
    ip: str | None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(filters: AuditFilters) -> list:
    where = []
    if filters.action:
        where.append(col(AuditEvent.action) == filters.action)
    if filters.who:
        acting = select(User.id).where(User.username == filters.who)
        where.append(col(AuditEvent.user_id).in_(acting) | (col(AuditEvent.target) == filters.who))
    if filters.text:
        pattern = _like(filters.text)
        where.append(
            col(AuditEvent.target).like(pattern, escape="\\")
            | col(AuditEvent.detail).like(pattern, escape="\\")
        )
    # Days on the site's calendar, the one the page shows the times in.
    if filters.since:
        where.append(col(AuditEvent.at) >= site_datetime(filters.since))
    if filters.until:
        where.append(col(AuditEvent.at) < site_datetime(filters.until + timedelta(days=1)))
    return where


def audit_page(
    session: Session, filters: AuditFilters, *, page: int, per_page: int
) -> Page[AuditRow]:
    """Newest first; two queries whatever the page size (count, then the rows with usernames)."""
    where = _conditions(filters)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*where)).one()
    page = clamp_page(page, total, per_page)
    rows = session.exec(
        select(AuditEvent, User.username)
        .outerjoin(User, col(User.id) == AuditEvent.user_id)
        .where(*where)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = [
        # Ignored below: a stored row's id, never None.
        AuditRow(e.id, e.at, e.action, name, e.target, e.detail, e.ip)  # type: ignore[arg-type]
        for e, name in rows
    ]
    return Page(items=items, page=page, per_page=per_page, total=total)


def actions(session: Session) -> list[str]:
    return list(session.exec(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
