"""Term reports on the web: `/reports/` lists what the user may read; `/reports/TERM/UNIT.pdf`
serves a unit's PDF in the reader's language; `/reports/TERM/UNIT.html` shows the same
report (the same data, the same charts) as a page for reading on screen.

Scoped by Perm.VIEW_REPORTS on the unit (a dean of one college never gets another's
report) and every download or view recorded in the audit log.

The PDF is served in the reader's language (``?lang=zh|en`` asks for the other one). When
that language's file has not been rendered yet but the report has been in another language
— the scheduler renders the site's language and those the people in charge chose — it is
rendered on demand, once, then kept and recorded like any other rendering; if that cannot be
done (the term's figures are gone, the rendering failed), the newest rendering in another
language is served rather than nothing. A report never rendered in any language is not
rendered by a download: when reports are published stays the scheduler's (or an admin's)
decision.

What is served is what the audit log names: the file is read once and its SHA-256 checked
against its row, and those bytes are sent. A file that does not match — a renderer killed
between recording a new version and renaming it into place — has its directory settled
(:func:`evalsys.reports.store.settle` installs the recorded version); one still wrong after
that (lost, altered) is rendered again, as a missing language is.
"""

from __future__ import annotations

import io
from datetime import datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import col, select

from evalsys.accounts.access import Perm, login_required, may, scope_ids, unit_or_404
from evalsys.accounts.service import audit
from evalsys.aggregation.models import AggregationRun, RunStatus
from evalsys.clock import site_now
from evalsys.db import get_session
from evalsys.i18n import LOCALE_NAMES, LOCALES, current_locale, localized, normalise
from evalsys.org.models import OrgUnit, Term
from evalsys.reports import publishing, store
from evalsys.reports.data import ReportError, report_data
from evalsys.reports.models import Report
from evalsys.reports.render import chart_svgs, latest_report, render_unit
from evalsys.scheduler.spawn import spawn_cli
from evalsys.validation import SafeForm

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
    ids = [row[2] for row in session.exec(latest_ids).all()]
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


def _scoped(term_code: str, unit_code: str) -> tuple[Term, OrgUnit]:
    """The term and unit, or 404; 403 unless the user may read the unit's reports."""
    session = get_session()
    term = session.exec(select(Term).where(Term.code == term_code)).first()
    if term is None:
        abort(404)
    return term, unit_or_404(session, unit_code, current_user, Perm.VIEW_REPORTS)


def _current(term: Term, unit: OrgUnit, locale: str | None) -> tuple[Report | None, bytes | None]:
    """The newest rendering in ``locale`` (None: any language) and its file's bytes — None
    unless they are the bytes its row describes."""
    session = get_session()
    return store.read_current(
        session,
        # Ignored: stored rows' ids, never None.
        lambda: latest_report(session, term.id, unit.id, locale),  # type: ignore[arg-type]
        Report,
        current_app.logger,
    )


@bp.route("/<term_code>/<unit_code>.pdf")
@login_required
def download(term_code: str, unit_code: str):
    term, unit = _scoped(term_code, unit_code)
    session = get_session()
    locale = normalise(request.args.get("lang")) or current_locale()
    report, pdf = _current(term, unit, locale)
    if pdf is None:
        # Not rendered in this language, or its file is not the one recorded: rendered now
        # if the report is out (recorded in this language, or another language's file is
        # there). Never rendered at all: not published yet.
        other, other_pdf = _current(term, unit, None)
        if report is not None or other_pdf is not None:
            if _render_now(term, unit, locale) is not None:
                report, pdf = _current(term, unit, locale)
            if pdf is None:
                report, pdf = other, other_pdf
    if report is None or pdf is None:
        return _not_out_yet(term, unit), 404
    audit(
        session,
        "report.download",
        user_id=current_user.id,
        target=f"{term.code} {unit.code}",
        detail=f"report {report.id} ({report.locale}), sha256 {report.sha256[:16]}",
        ip=request.remote_addr,
    )
    session.commit()
    return send_file(
        io.BytesIO(pdf),  # the bytes whose hash was checked, not the path read again
        mimetype="application/pdf",
        as_attachment=False,
        download_name=f"{unit.code}-{term.code}-{report.locale}.pdf",
        max_age=0,
    )


def _may_render(unit: OrgUnit) -> bool:
    """Administrators of the unit (or above it) may render its report by hand."""
    return may(get_session(), current_user, Perm.MANAGE, unit.id)  # type: ignore[arg-type]


def _not_out_yet(term: Term, unit: OrgUnit) -> str:
    """The page for a report not published yet: when it comes out by itself, where its
    figures can be read meanwhile, and for its administrators a button to render it now.
    Nobody is told to type a command."""
    due = publishing.publication_time(current_app.config, term)
    return render_template(
        "reports/not_out_yet.html",
        term=term,
        unit=unit,
        due=due,
        overdue=due <= site_now(current_app.config),
        has_figures=_has_figures(term),
        form=RenderForm() if _may_render(unit) else None,
    )


@bp.app_template_global()
def report_due(term: Term) -> datetime:
    """When the term's reports come out by themselves (for pages that lack one)."""
    return publishing.publication_time(current_app.config, term)


@bp.app_template_global()
def may_render_report(unit: OrgUnit) -> bool:
    return bool(current_user.is_authenticated) and _may_render(unit)


@bp.app_template_global()
def render_report_form() -> RenderForm:
    return RenderForm()


def _has_figures(term: Term) -> bool:
    """Has the term been aggregated (successfully) at least once?"""
    found = get_session().exec(
        select(func.count(col(AggregationRun.id))).where(
            AggregationRun.term_id == term.id,
            AggregationRun.status == RunStatus.SUCCEEDED.value,
        )
    )
    return bool(found.one())


class RenderForm(SafeForm):
    """Render one unit's report now, in a process of its own (administrators)."""


@bp.route("/<term_code>/<unit_code>/render", methods=["POST"])
@login_required
def render(term_code: str, unit_code: str):
    """Start rendering the unit's report (every language it is read in) in its own process."""
    term, unit = _scoped(term_code, unit_code)
    if not _may_render(unit):
        abort(403)
    if not RenderForm().validate_on_submit():
        abort(400)
    if not _has_figures(term):
        flash(_("The term's figures have not been computed yet: aggregate it first."), "error")
        return redirect(url_for("org.unit", code=unit.code))
    session = get_session()
    spawn_cli(
        ["report", "--term", term.code, "--unit", unit.code], f"report-{term.code}-{unit.code}"
    )
    audit(
        session,
        "report.render_requested",
        user_id=current_user.id,
        target=f"{term.code} {unit.code}",
        ip=request.remote_addr,
    )
    session.commit()
    flash(
        _(
            "Rendering the report of %(unit)s started in its own process; the PDF is ready "
            "in a minute or two.",
            unit=localized(unit, "name"),
        ),
        "success",
    )
    return redirect(url_for("org.unit", code=unit.code))


def _render_now(term: Term, unit: OrgUnit, locale: str) -> Report | None:
    """Render the unit's report in ``locale`` now (a language nobody in charge chose), or None
    when it cannot be made (the term was never aggregated, or the rendering failed)."""
    session = get_session()
    # Ignored below: werkzeug's proxy method, untyped.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session.commit()
    try:
        outcome = render_unit(session, app, term_code=term.code, unit_code=unit.code, locale=locale)
    except ReportError:
        session.rollback()
        return None
    except Exception:  # noqa: BLE001  (a failed rendering: serve what exists, and log it)
        session.rollback()
        app.logger.exception(
            "report %s %s (%s): on-demand rendering failed", term.code, unit.code, locale
        )
        return None
    return session.get(Report, outcome.report_id) if outcome.report_id else None


@bp.route("/<term_code>/<unit_code>.html")
@login_required
def view(term_code: str, unit_code: str):
    """The report as a page: the data and charts of the PDF, in the reader's language."""
    term, unit = _scoped(term_code, unit_code)
    session = get_session()
    locale = current_locale()
    try:
        data = report_data(
            session, term_code=term.code, unit_code=unit.code, config=current_app.config
        )
    except ReportError:
        session.rollback()
        return render_template("reports/view.html", data=None, term=term, unit=unit)
    audit(
        session,
        "report.view",
        user_id=current_user.id,
        target=f"{term.code} {unit.code}",
        detail=f"page ({locale})",
        ip=request.remote_addr,
    )
    session.commit()
    in_pdf = {p["anchor"]: True for p in data["parts"][1:]}
    return render_template(
        "reports/view.html",
        data=data,
        term=term,
        unit=unit,
        charts=chart_svgs(data, style="screen"),
        in_pdf=in_pdf,
        generated=site_now(current_app.config).strftime("%Y-%m-%d %H:%M"),
        other_locales=[(code, LOCALE_NAMES[code]) for code in LOCALES if code != locale],
    )
