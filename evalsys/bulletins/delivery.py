"""Emailing each unit's bulletin to the people in charge of it, once a week each.

The readers of a unit's bulletin are those holding a report role (leader, dean, head:
``REPORT_ROLES``, as for the term reports) granted on the unit itself, active and with an
email. Each gets it in their language (``User.locale``, else DEFAULT_LOCALE): the job renders
every language one of them needs. One ``bulletin_delivery`` row per (unit, week, reader) —
unique — so a week's bulletin never reaches anyone twice, however often the job runs or a
bulletin is rendered again; :func:`send_pending` sends what is pending or failed over the
same SMTP path as the reports (:mod:`evalsys.mail`, MAIL_* settings), committing after
each message and retrying until REPORT_DELIVERY_MAX_ATTEMPTS.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from sqlmodel import Session, col, select

from evalsys import mail
from evalsys.accounts.models import RoleGrant, User
from evalsys.accounts.service import audit
from evalsys.bulletins.models import Bulletin, BulletinDelivery
from evalsys.bulletins.render import latest_bulletin
from evalsys.i18n import in_locale, localized, normalise
from evalsys.org.models import OrgUnit
from evalsys.reports import sending
from evalsys.reports.models import DeliveryStatus

#: The roles whose holders get a unit's bulletin (the term reports' readers).
READER_ROLES = ("leader", "dean", "head")


def readers(session: Session, unit_id: int) -> list[User]:
    """Active people with an email holding a reader role on the unit itself, by id."""
    ids = select(RoleGrant.user_id).where(
        RoleGrant.unit_id == unit_id, col(RoleGrant.role).in_(READER_ROLES)
    )
    stmt = select(User).where(
        col(User.id).in_(ids),
        User.active == True,  # noqa: E712
        col(User.email).is_not(None),
    )
    return list(session.exec(stmt.order_by(col(User.id))).all())


def reader_locale(user: User, site: str) -> str:
    return normalise(user.locale) or site


def queue(session: Session, *, unit_id: int, week: str, site: str) -> int:
    """One pending delivery per reader of the unit not yet queued for the week, pointing at
    the newest rendering in the reader's language (else the site's, else any)."""
    done = set(
        session.exec(
            select(BulletinDelivery.user_id).where(
                BulletinDelivery.unit_id == unit_id, BulletinDelivery.week == week
            )
        ).all()
    )
    made = 0
    for user in readers(session, unit_id):
        assert user.id is not None  # loaded
        if user.id in done or not user.email:
            continue
        row = (
            latest_bulletin(session, unit_id, week, reader_locale(user, site))
            or latest_bulletin(session, unit_id, week, site)
            or latest_bulletin(session, unit_id, week, None)
        )
        if row is None or row.id is None:
            continue
        session.add(
            BulletinDelivery(
                bulletin_id=row.id, unit_id=unit_id, week=week, user_id=user.id, email=user.email
            )
        )
        made += 1
    session.flush()
    return made


def send_pending(session: Session, app: Flask) -> dict[str, int]:
    """Send every pending or failed delivery with attempts left; commit after each one."""
    counts = {"sent": 0, "failed": 0}
    config = app.config
    if not config.get("MAIL_SERVER"):
        return counts
    limit = int(config.get("REPORT_DELIVERY_MAX_ATTEMPTS", 5))
    rows = session.exec(
        select(BulletinDelivery, Bulletin, OrgUnit, User)
        .join(Bulletin, col(Bulletin.id) == BulletinDelivery.bulletin_id)
        .join(OrgUnit, col(OrgUnit.id) == BulletinDelivery.unit_id)
        .join(User, col(User.id) == BulletinDelivery.user_id)
        .where(
            col(BulletinDelivery.status).in_(
                [DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]
            ),
            BulletinDelivery.attempts < limit,
        )
        .order_by(col(BulletinDelivery.id))
    ).all()
    with app.app_context():
        for delivery, bulletin, unit, user in rows:

            def send(bulletin=bulletin, unit=unit, user=user, to=delivery.email) -> None:
                mail.send(config, _message(config, bulletin, unit, user, to))

            if sending.attempt(delivery, send, limit=limit, counts=counts):
                audit(
                    session,
                    "bulletin.email",
                    user_id=None,
                    target=f"{bulletin.week} {unit.code}",
                    detail=f"bulletin {bulletin.id} to {user.username} <{delivery.email}>",
                )
            session.add(delivery)
            session.commit()
    return counts


def _message(
    config: Mapping[str, Any], bulletin: Bulletin, unit: OrgUnit, user: User, email: str
) -> EmailMessage:
    """The email carrying the bulletin, written in the bulletin's language."""
    with in_locale(bulletin.locale):
        name = localized(unit, "name")
        return sending.pdf_message(
            config,
            to=email,
            reader_name=user.name,
            unit_name=name,
            subject=_(
                "%(unit)s · %(week)s: weekly supervision bulletin", unit=name, week=bulletin.week
            ),
            summary=_(
                "The supervision bulletin of %(unit)s for the week %(week)s is attached.",
                unit=name,
                week=bulletin.week,
            ),
            path=bulletin.path,
            filename=f"bulletin-{unit.code}-{bulletin.week}-{bulletin.locale}.pdf",
        )
