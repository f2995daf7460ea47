"""Report downloads: `/reports/` lists what the user may read; `/reports/TERM/UNIT.pdf` serves it.

Scoped by Perm.VIEW_REPORTS on the unit (a dean of one college never gets
another's PDF) and every download recorded in the audit log.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, render_template, request, send_file
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import col, select

from evalsys.accounts.access import Perm, login_required, may, scope_ids
from evalsys.accounts.service import audit
from evalsys.db import get_session
from evalsys.org.models import OrgUnit, Term
from evalsys.reports.models import Report
from evalsys.reports.render import latest_report

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.route("/")
@login_required
def index():
    """The newest rendering of each (term, unit) the user may download, newest term first."""
    session = get_session()
    newest = (
        select(Report.term_id, Report.unit_id, col(Report.id).label("id"))
        .where(col(Report.unit_id).in_(scope_ids(current_user, Perm.VIEW_REPORTS)))
        .subquery()
    )
    latest_ids = select(newest.c.term_id, newest.c.unit_id, func.max(newest.c.id)).group_by(
        newest.c.term_id, newest.c.unit_id
    )
    ids = [row[2] for row in session.exec(latest_ids).all()]  # type: ignore[call-overload]
    rows = session.exec(
        select(Report, Term, OrgUnit)
        .join(Term, col(Term.id) == Report.term_id)
        .join(OrgUnit, col(OrgUnit.id) == Report.unit_id)
        .where(col(Report.id).in_(ids))
        .order_by(col(Term.start_date).desc(), OrgUnit.code)
    ).all()
    terms: dict[str, dict] = {}
    for report, term, unit in rows:
        entry = terms.setdefault(term.code, {"term": term, "reports": []})
        entry["reports"].append({"report": report, "unit": unit})
    return render_template("reports/index.html", terms=list(terms.values()))


@bp.route("/<term_code>/<unit_code>.pdf")
@login_required
def download(term_code: str, unit_code: str):
    session = get_session()
    term = session.exec(select(Term).where(Term.code == term_code)).first()
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
    if term is None or unit is None:
        abort(404)
    if not may(session, current_user, Perm.VIEW_REPORTS, unit.id):  # type: ignore[arg-type]
        abort(403)
    report = latest_report(session, term.id, unit.id)  # type: ignore[arg-type]
    path = Path(report.path) if report is not None else None
    if report is None or path is None or not path.is_file():
        return (
            render_template(
                "error.html",
                code=404,
                title="Report not rendered yet",
                text=(
                    f"The {term.code} report of {unit.name} has not been rendered yet. "
                    f"An administrator can render it with "
                    f"`evalsys report --term {term.code} --unit {unit.code}`."
                ),
            ),
            404,
        )
    audit(
        session,
        "report.download",
        user_id=current_user.id,
        target=f"{term.code} {unit.code}",
        detail=f"report {report.id}, sha256 {report.sha256[:16]}",
        ip=request.remote_addr,
    )
    session.commit()
    return send_file(
        path,
        mimetype="application/pdf",
        as_attachment=False,
        download_name=f"{unit.code}-{term.code}.pdf",
        max_age=0,
    )
