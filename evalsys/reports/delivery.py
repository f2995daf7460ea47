"""Emailing each person in charge their unit's report, once per report version.

After a term's final aggregation, :func:`render_and_queue` renders the tree and
queues one ``report_delivery`` row per (report version, recipient): the school's
leaders get the school's report, each college's deans (and leaders granted on it)
the college's, each department's heads the department's. :func:`send_pending`
then sends what is pending or failed, over SMTP (MAIL_* settings), committing
after each message; the job ``deliver-reports`` calls it again later, so a failed
send is retried until REPORT_DELIVERY_MAX_ATTEMPTS. The unique constraint on
(term, unit, input hash, user) means a version is never queued — so never sent —
twice to anyone, however often the tree is re-rendered.

Each person gets the report in their language (``User.locale``, else DEFAULT_LOCALE): the
tree is rendered in every language someone it is for needs (see
:func:`evalsys.reports.render.needed_locales`), the delivery points at the rendering in
the recipient's language, and the email's subject and body are written in the language of
the PDF it carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from flask import Flask, has_app_context
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlmodel import Session, col, func, select

from evalsys import mail
from evalsys.accounts.models import RoleGrant, User
from evalsys.accounts.service import audit
from evalsys.aggregation.models import AggregationRun, RunStatus
from evalsys.i18n import default_locale, in_locale, localized, normalise
from evalsys.org.models import OrgUnit, Term
from evalsys.reports import render, sending
from evalsys.reports.data import REPORT_ROLES
from evalsys.reports.models import DeliveryStatus, Report, ReportDelivery


def render_and_queue(session: Session, app: Flask, term: Term) -> str:
    """Render the term's tree (skipping unchanged reports) and queue the deliveries."""
    code = term.code
    session.commit()
    codes = render.tree_units(session)
    # End this read transaction: the workers write the reports, and a snapshot held from
    # before (SQLite, PostgreSQL repeatable read) would not see their rows below.
    session.commit()
    note = ""
    outcomes: list[render.Outcome] | None = None
    if app.config.get("REPORT_QUEUE_URL"):
        # The workers render them; the deliver-reports job queues each as its row appears.
        from evalsys.reports.queue import QueueUnavailable

        try:
            outcomes = render.render_units(
                app, term_code=code, unit_codes=codes, queue=True, wait=False
            )
        except QueueUnavailable as err:
            app.logger.warning("%s: rendering here instead", err)
            note = "; the report queue is not reachable: rendered here"
    if outcomes is None:
        outcomes = render.render_units(
            app, term_code=code, unit_codes=codes, jobs=render.worker_count(app, None)
        )
    failed = [o for o in outcomes if o.status == "failed"]
    with app.app_context():
        queued = queue_deliveries(session, term_code=code)
    session.commit()
    on_queue = sum(o.status == "queued" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    summary = (
        f"reports {code}: {sum(o.status == 'rendered' for o in outcomes)} rendered, "
        f"{sum(o.status == 'unchanged' for o in outcomes)} unchanged, {len(failed)} failed"
        + (f", {on_queue} on the queue" if on_queue else "")
        + (f", {skipped} skipped (deleted meanwhile)" if skipped else "")
        + f"; {queued} deliveries queued{note}"
    )
    if failed:
        raise RuntimeError(summary + "; " + "; ".join(f"{o.unit}: {o.error}" for o in failed[:10]))
    return summary


def queue_deliveries(session: Session, *, term_code: str, since: datetime | None = None) -> int:
    """One pending delivery per (newest report of a unit in the person's language, person in
    charge with an email).

    The person's language is theirs (``User.locale``), else the site's DEFAULT_LOCALE (in an
    app context); when the unit has no rendering in it, the site's language, else the newest
    rendering of any language. With ``since``: only the reports rendered at or after it (the
    final run's end).
    """
    term = session.exec(select(Term).where(Term.code == term_code)).one()
    newest = (
        select(Report.unit_id, Report.locale, col(Report.id))
        .where(Report.term_id == term.id)
        .order_by(col(Report.unit_id), col(Report.id).desc())
    )
    if since is not None:
        newest = newest.where(Report.generated_at >= since)
    #: unit -> locale -> newest report id (dicts keep the newest-first order of the query).
    latest: dict[int, dict[str, int]] = {}
    for unit_id, locale, report_id in session.exec(newest).all():
        assert report_id is not None  # read from the table
        latest.setdefault(unit_id, {}).setdefault(locale, report_id)
    if not latest:
        return 0
    ids = [i for by_locale in latest.values() for i in by_locale.values()]
    reports = {r.id: r for r in session.exec(select(Report).where(col(Report.id).in_(ids)))}
    site = default_locale() if has_app_context() else None
    grants = session.exec(
        select(RoleGrant.unit_id, User)
        .join(User, col(User.id) == RoleGrant.user_id)
        .where(
            col(RoleGrant.unit_id).in_(latest.keys()),
            col(RoleGrant.role).in_(REPORT_ROLES),
            User.active == True,  # noqa: E712
            col(User.email).is_not(None),
        )
    ).all()
    existing = {
        (d.unit_id, d.input_hash, d.user_id)
        for d in session.exec(select(ReportDelivery).where(ReportDelivery.term_id == term.id))
    }
    made = 0
    assert term.id is not None  # loaded from the database
    for unit_id, user in grants:
        by_locale = latest[unit_id]
        wanted = normalise(user.locale) or site
        report_id = by_locale.get(wanted or "") or by_locale.get(site or "")
        report = reports[report_id or max(by_locale.values())]
        assert user.id is not None and report.id is not None  # loaded from the database
        key = (unit_id, report.input_hash, user.id)
        if key in existing or not user.email:
            continue
        existing.add(key)
        session.add(
            ReportDelivery(
                report_id=report.id,
                term_id=term.id,
                unit_id=unit_id,
                input_hash=report.input_hash,
                user_id=user.id,
                email=user.email,
            )
        )
        made += 1
    session.flush()
    return made


def queue_final_terms(session: Session, *, now: datetime, days: int = 30) -> int:
    """Queue the deliveries of every term finalised in the last ``days`` days.

    The catch-up path: when the hand-over after a final aggregation failed, a later
    ``evalsys report --term CODE`` renders the reports, and the ``deliver-reports``
    job queues them here. Only reports rendered after the final run count (earlier
    ones show provisional figures); the unique version key keeps anything queued
    before from being queued again.
    """
    finals = session.exec(
        select(Term.code, func.max(AggregationRun.finished_at))
        .join(AggregationRun, col(AggregationRun.term_id) == Term.id)
        .where(
            AggregationRun.final == True,  # noqa: E712
            AggregationRun.status == RunStatus.SUCCEEDED.value,
            col(AggregationRun.finished_at) >= now - timedelta(days=days),
        )
        .group_by(Term.code)
    ).all()
    return sum(
        queue_deliveries(session, term_code=code, since=finished) for code, finished in finals
    )


def send_pending(session: Session, app: Flask) -> dict[str, int]:
    """Send every pending or failed delivery with attempts left; commit after each one.

    Takes the app: each email is written in the language of its report, which needs the
    app's catalogues (an app context is entered here).
    """
    with app.app_context():
        return _send_pending(session, app.config)


def _send_pending(session: Session, config: Mapping[str, Any]) -> dict[str, int]:
    if not config.get("MAIL_SERVER"):
        return {"sent": 0, "failed": 0, "skipped": 0}
    limit = int(config.get("REPORT_DELIVERY_MAX_ATTEMPTS", 5))
    rows = session.exec(
        # SQLModel's select() is typed for at most four entities; it takes any number.
        select(ReportDelivery, Report, OrgUnit, Term, User)  # type: ignore[call-overload]
        .join(Report, col(Report.id) == ReportDelivery.report_id)
        .join(OrgUnit, col(OrgUnit.id) == ReportDelivery.unit_id)
        .join(Term, col(Term.id) == ReportDelivery.term_id)
        .join(User, col(User.id) == ReportDelivery.user_id)
        .where(
            col(ReportDelivery.status).in_(
                [DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]
            ),
            ReportDelivery.attempts < limit,
        )
        .order_by(ReportDelivery.id)
    ).all()
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for delivery, report, unit, term, user in rows:

        def send(report=report, unit=unit, term=term, user=user, to=delivery.email) -> None:
            mail.send(config, _message(config, report, unit, term, user, to))

        if sending.attempt(delivery, send, limit=limit, counts=counts):
            # A report leaving the system by mail is recorded like a download.
            audit(
                session,
                "report.email",
                user_id=None,
                target=f"{term.code} {unit.code}",
                detail=f"report {report.id} to {user.username} <{delivery.email}>",
            )
        session.add(delivery)
        session.commit()
    return counts


def _message(
    config: Mapping[str, Any], report: Report, unit: OrgUnit, term: Term, user: User, email: str
) -> EmailMessage:
    """The email carrying ``report``, written in the report's language (the recipient's, as
    chosen when it was queued)."""
    with in_locale(report.locale):
        name, term_name = localized(unit, "name"), localized(term, "name")
        return sending.pdf_message(
            config,
            to=email,
            reader_name=user.name,
            unit_name=name,
            subject=_("%(unit)s · %(term)s: teaching-quality report", unit=name, term=term_name),
            summary=ngettext(
                "The %(term)s teaching-quality report of %(unit)s (%(code)s) is attached "
                "(%(num)d page). It leads with what needs attention.",
                "The %(term)s teaching-quality report of %(unit)s (%(code)s) is attached "
                "(%(num)d pages). It leads with what needs attention.",
                report.pages,
                term=term_name,
                unit=name,
                code=unit.code,
            ),
            path=report.path,
            filename=f"{unit.code}-{term.code}-{report.locale}.pdf",
        )
