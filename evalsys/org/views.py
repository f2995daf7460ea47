"""Unit pages: the hierarchy below a unit, for those whose grants cover it."""

from __future__ import annotations

import io

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, login_required, may, scope_ids, unit_or_404
from evalsys.accounts.models import User
from evalsys.accounts.service import audit
from evalsys.db import get_session
from evalsys.i18n import localized
from evalsys.org import hierarchy
from evalsys.org.glance import flag_anchor, unit_glance
from evalsys.org.models import (
    UNIT_KIND_NAMES,
    Course,
    OrgUnitClosure,
    Section,
    Term,
    UnitKind,
)

bp = Blueprint("org", __name__, url_prefix="/units")


@bp.route("/<code>")
@login_required
def unit(code: str):
    session = get_session()
    unit = unit_or_404(session, code, current_user, Perm.VIEW_UNIT)
    assert unit.id is not None  # loaded from the database
    trail = hierarchy.ancestors(session, unit.id)
    linkable = _viewable_ancestors(session, unit.id)
    children = hierarchy.children(session, unit.id)
    child_ids = [c.id for c in children]
    child_counts = _course_counts(session, child_ids)  # type: ignore[arg-type]  # stored rows
    courses = []
    if unit.kind == UnitKind.DEPARTMENT:
        courses = _courses_with_sections(session, unit.id)
    reports = may(session, current_user, Perm.VIEW_REPORTS, unit.id)
    asked_term = request.args.get("term") or None
    summary = None
    if reports:
        from evalsys.aggregation.summary import unit_summary

        summary = unit_summary(
            session,
            level=unit.kind,
            unit_id=unit.id,
            term_code=asked_term,
            min_n=current_app.config["MIN_N"],
        )
    report = None
    glance = None
    if summary is not None:
        assert summary.term.id is not None  # loaded from the database
        report = _term_report(session, summary.term.id, unit.id)
        glance = unit_glance(
            session,
            summary,
            level=unit.kind,
            unit_id=unit.id,
            unit_label=localized(unit, "name"),
            parent_label=localized(trail[-2], "name") if len(trail) > 1 else None,
        )
    feedback = may(session, current_user, Perm.VIEW_FEEDBACK, unit.id)
    return render_template(
        "org/unit.html",
        unit=unit,
        trail=[(a, a.id in linkable) for a in trail],
        children=[(c, child_counts.get(c.id, 0)) for c in children],  # type: ignore[arg-type]  # stored
        courses=courses,
        reports=reports,
        summary=summary,
        asked_term=asked_term,
        report=report,
        glance=glance,
        flag_anchor=flag_anchor,
        feedback=feedback,
        unit_kind_names=UNIT_KIND_NAMES,
    )


@bp.route("/<code>/courses/<course_code>")
@login_required
def course(code: str, course_code: str):
    """A course of a department: its figures by term and its sections (for those who may read
    the department's reports), each section's records (for those who may read its feedback).

    The access of the department's page: VIEW_UNIT on the department, denied by default; a
    course of another department is not found here.
    """
    from evalsys.org.course_page import course_in_department, course_page, trend_points
    from evalsys.reports import charts
    from evalsys.reports.render import chart_img

    session = get_session()
    unit = unit_or_404(session, code, current_user, Perm.VIEW_UNIT)
    assert unit.id is not None  # loaded from the database
    found = course_in_department(session, unit.id, course_code)
    if found is None:
        abort(404)
    asked_term = request.args.get("term") or None
    reports = may(session, current_user, Perm.VIEW_REPORTS, unit.id)
    page = course_page(
        session,
        found,
        term_code=asked_term,
        reports=reports,
        records=may(session, current_user, Perm.VIEW_FEEDBACK, unit.id),
        min_n=current_app.config["MIN_N"],
    )
    if page is None:
        abort(404)
    trail = hierarchy.ancestors(session, unit.id)
    linkable = _viewable_ancestors(session, unit.id)
    points = trend_points(page)
    trend = None
    if len(points) > 1:
        label = localized(found, "title")
        trend = chart_img(
            charts.cached(
                charts.trend_chart,
                points,
                unit_label=label,
                threshold=None,
                width_in=charts.screen_width(),
                style="screen",
            ),
            _("Overall mean of %(unit)s over terms", unit=label),
        )
    return render_template(
        "org/course.html",
        unit=unit,
        page=page,
        trail=[(a, a.id in linkable) for a in trail],
        asked_term=asked_term,
        trend=trend,
        points=points,
        reports=reports,
    )


@bp.route("/<code>/statistics.<fmt>")
@login_required
def statistics(code: str, fmt: str):
    """The unit's term results (it and everything below it) as CSV or an Excel workbook:
    the rows of ``evalsys export aggregates --unit CODE``, for those who may read reports."""
    from evalsys.aggregation import export, read
    from evalsys.aggregation.service import last_run
    from evalsys.tabular import FORMATS, XLSX_MIMETYPE, write_csv, write_xlsx

    if fmt not in FORMATS:
        abort(404)
    session = get_session()
    unit = unit_or_404(session, code, current_user, Perm.VIEW_REPORTS)
    term = session.exec(select(Term).where(Term.code == request.args.get("term", ""))).first()
    # A loaded row's id is never None; SQLModel types the column as Optional for inserts.
    if term is None or last_run(session, term.id, succeeded=True) is None:  # type: ignore[arg-type]
        abort(404)
    rows = read.result_rows(session, term=term, unit=read.find_unit(session, unit.code))
    audit(
        session,
        "aggregates.export",
        user_id=current_user.id,
        target=f"{term.code} {unit.code}",
        detail=f"{fmt}, {len(rows)} rows, web",
        ip=request.remote_addr,
    )
    session.commit()
    body: bytes | str
    if fmt == "xlsx":
        buffer = io.BytesIO()
        write_xlsx(export.CSV_FIELDS, export.sheet_rows(rows), buffer, title=term.code)
        body, mimetype = buffer.getvalue(), XLSX_MIMETYPE
    else:
        text = io.StringIO()
        write_csv(export.CSV_FIELDS, export.sheet_rows(rows), text)
        body, mimetype = "\ufeff" + text.getvalue(), "text/csv; charset=utf-8"
    name = f"{term.code}-{unit.code}-statistics.{fmt}"
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _term_report(session: Session, term_id: int, unit_id: int) -> dict | None:
    """The unit's newest PDF of the term (one query), and whether a later aggregation ran."""
    from evalsys.aggregation.models import AggregationRun, RunStatus
    from evalsys.reports.models import Report

    newer_run = (
        select(func.max(AggregationRun.finished_at))
        .where(
            AggregationRun.term_id == term_id,
            AggregationRun.status == RunStatus.SUCCEEDED.value,
        )
        .scalar_subquery()
    )
    row = session.exec(
        select(Report, newer_run)
        .where(Report.term_id == term_id, Report.unit_id == unit_id)
        .order_by(col(Report.id).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    report, last_run = row
    return {
        "pages": report.pages,
        "generated_at": report.generated_at,
        "stale": last_run is not None and last_run > report.generated_at,
    }


def _viewable_ancestors(session: Session, unit_id: int) -> set[int]:
    """Which of the unit's ancestors the user may open: breadcrumbs link only those."""
    stmt = select(OrgUnitClosure.ancestor_id).where(
        OrgUnitClosure.descendant_id == unit_id,
        col(OrgUnitClosure.ancestor_id).in_(scope_ids(current_user, Perm.VIEW_UNIT)),
    )
    return set(session.exec(stmt).all())


def _course_counts(session: Session, unit_ids: list[int]) -> dict[int, int]:
    """Courses under each child unit, counted in one grouped query."""
    if not unit_ids:
        return {}
    stmt = (
        select(OrgUnitClosure.ancestor_id, func.count(col(Course.id)))
        .join(Course, col(Course.department_id) == OrgUnitClosure.descendant_id)
        .where(col(OrgUnitClosure.ancestor_id).in_(unit_ids))
        .group_by(col(OrgUnitClosure.ancestor_id))
    )
    return dict(session.exec(stmt).all())


def _courses_with_sections(session: Session, department_id: int) -> list[dict]:
    """A department's courses and their sections per term, in two queries."""
    courses = session.exec(
        select(Course).where(Course.department_id == department_id).order_by(Course.code)
    ).all()
    rows = session.exec(
        select(Section, Term.code, User.name)
        .join(Term, col(Term.id) == Section.term_id)
        .join(User, col(User.id) == Section.teacher_id, isouter=True)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Course.department_id == department_id)
        .order_by(col(Term.start_date).desc(), Section.code)
    ).all()
    by_course: dict[int, list[dict]] = {}
    for section, term_code, teacher in rows:
        by_course.setdefault(section.course_id, []).append(
            {
                "code": section.code,
                "term": term_code,
                "teacher": teacher,
                "enrolled": section.enrolled,
            }
        )
    # Course ids read from the table are never None; SQLModel types the column as Optional.
    return [{"course": c, "sections": by_course.get(c.id, [])} for c in courses]  # type: ignore[arg-type]
