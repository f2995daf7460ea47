"""The bulletin archive: ``/reports/bulletins/`` lists the weeks' bulletins the reader may
read; ``/reports/bulletins/WEEK/UNIT.pdf`` serves one in the reader's language.

Scoped as the term reports are, by Perm.VIEW_REPORTS on the unit: the school's leaders and
admins see the school's and every college's bulletin, a dean their college's, nobody else
any (a department head's scope holds no college). Every download goes to the audit log,
and what is served is what it names: the bytes are read once and checked against the row's
SHA-256; a file that does not match (a renderer killed between recording and renaming) is
not served.
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import col, select

from evalsys.accounts.access import Perm, login_required, scope_ids, unit_or_404
from evalsys.accounts.service import audit
from evalsys.bulletins.models import Bulletin
from evalsys.bulletins.render import latest_bulletin
from evalsys.bulletins.weeks import parse_week
from evalsys.db import get_session
from evalsys.i18n import current_locale, normalise
from evalsys.org.models import OrgUnit
from evalsys.reports import store

bp = Blueprint("bulletins", __name__, url_prefix="/reports/bulletins")

#: Weeks shown on the archive page (newest first).
WEEKS_SHOWN = 26


@bp.route("/")
@login_required
def index():
    """The newest rendering of each (week, unit, language) in the reader's scope."""
    session = get_session()
    newest = (
        select(func.max(col(Bulletin.id)))
        .where(col(Bulletin.unit_id).in_(scope_ids(current_user, Perm.VIEW_REPORTS)))
        .group_by(Bulletin.week, Bulletin.unit_id, Bulletin.locale)
    )
    rows = session.exec(
        select(Bulletin, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == Bulletin.unit_id)
        .where(col(Bulletin.id).in_(newest))
        .order_by(col(Bulletin.week).desc(), OrgUnit.kind != "school", OrgUnit.code)
    ).all()
    weeks: dict[str, dict[str, dict]] = {}
    for bulletin, unit in rows:
        by_unit = weeks.setdefault(bulletin.week, {})
        entry = by_unit.setdefault(unit.code, {"unit": unit, "files": {}})
        entry["files"][bulletin.locale] = bulletin
    shown = list(weeks.items())[:WEEKS_SHOWN]
    return render_template(
        "bulletins/index.html",
        weeks=[(week, list(units.values())) for week, units in shown],
    )


@bp.route("/<week>/<unit_code>.pdf")
@login_required
def download(week: str, unit_code: str):
    session = get_session()
    unit = unit_or_404(session, unit_code, current_user, Perm.VIEW_REPORTS)
    try:
        label = parse_week(week).label
    except ValueError:
        abort(404)
    unit_id = unit.id
    assert unit_id is not None  # loaded
    locale = normalise(request.args.get("lang")) or current_locale()
    # The newest rendering in the reader's language, else in any; its file settled first if a
    # renderer was killed between recording and renaming (store.read_current).
    row, pdf = store.read_current(
        session,
        lambda: latest_bulletin(session, unit_id, label, locale),
        Bulletin,
        current_app.logger,
    )
    if pdf is None:
        row, pdf = store.read_current(
            session,
            lambda: latest_bulletin(session, unit_id, label, None),
            Bulletin,
            current_app.logger,
        )
    if row is None or pdf is None:
        abort(404)
    audit(
        session,
        "bulletin.download",
        user_id=current_user.id,
        target=f"{label} {unit.code}",
        detail=f"bulletin {row.id} ({row.locale}), sha256 {row.sha256[:16]}",
        ip=request.remote_addr,
    )
    session.commit()
    return send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=False,
        download_name=f"bulletin-{unit.code}-{label}-{row.locale}.pdf",
        max_age=0,
    )
