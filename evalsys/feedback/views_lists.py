"""Lists of records: my records, feedback in my scope (heads, deans), feedback on my classes.

Each page runs a fixed number of queries whatever its length: the service
loads a page's rows with their joins in one query (:func:`feedback_in_scope`
and friends) and responses for the whole page in one more.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, login_required, scope_ids, top_units
from evalsys.accounts.models import User
from evalsys.accounts.service import audit
from evalsys.db import get_session
from evalsys.feedback.blueprint import bp, me
from evalsys.feedback.choices import submittable_kinds
from evalsys.feedback.export import export_feedback
from evalsys.feedback.forms import FilterForm, SelectChoice
from evalsys.feedback.reads import (
    FeedbackFilters,
    feedback_by_observer,
    feedback_in_scope,
    feedback_on_teacher,
    responses_for,
)
from evalsys.feedback.vocab import KIND_NAMES, FeedbackKind, name_of, values
from evalsys.i18n import localized
from evalsys.org.models import OrgUnit, Term
from evalsys.tabular import FORMATS, XLSX_MIMETYPE, write_csv, write_xlsx
from evalsys.validation import page_arg

PER_PAGE = 25


@bp.route("/mine")
@login_required
def mine():
    session = get_session()
    page = feedback_by_observer(session, user=me(), page=page_arg(), per_page=PER_PAGE)
    kinds = submittable_kinds(session, user=me())
    return render_template("feedback/mine.html", page=page, kinds=kinds, args={})


@bp.route("/teaching")
@login_required
def teaching():
    session = get_session()
    page = feedback_on_teacher(session, user=me(), page=page_arg(), per_page=PER_PAGE)
    responses = responses_for(session, [row.id for row in page.items])
    return render_template(
        "feedback/teaching.html",
        page=page,
        responses=responses,
        show_observer=bool(current_app.config.get("FEEDBACK_SHOW_OBSERVER_TO_TEACHER", False)),
        args={},
    )


@bp.route("/")
@login_required
def index():
    """Submitted feedback of the units where the user may read feedback, with filters."""
    session = get_session()
    user = me()
    tops = top_units(session, user, Perm.VIEW_FEEDBACK)
    if not tops:
        abort(403)
    form, filters = _filters(session, user)
    page = feedback_in_scope(
        session, user=user, filters=filters, page=page_arg(), per_page=PER_PAGE
    )
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "feedback/list.html",
        page=page,
        form=form,
        scope_title=_scope_title(tops),
        filtered=any(v not in (None, "") for v in vars(filters).values()),
        args=args,
    )


@bp.route("/export.<fmt>")
@login_required
def export(fmt: str):
    """The list's records, with the same filters, as a CSV file or an Excel workbook."""
    if fmt not in FORMATS:
        abort(404)
    session = get_session()
    user = me()
    if not top_units(session, user, Perm.VIEW_FEEDBACK):
        abort(403)
    _form, filters = _filters(session, user)
    table = export_feedback(session, user=user, filters=filters)
    buffer: Any
    if fmt == "xlsx":
        buffer = io.BytesIO()
        count = write_xlsx(table.columns, table.rows, buffer, title="feedback")
        body, mimetype = buffer.getvalue(), XLSX_MIMETYPE
    else:
        buffer = io.StringIO()
        count = write_csv(table.columns, table.rows, buffer)
        body, mimetype = "\ufeff" + buffer.getvalue(), "text/csv; charset=utf-8"
    described = ", ".join(f"{k}={v}" for k, v in vars(filters).items() if v not in (None, ""))
    audit(
        session,
        "feedback.export",
        user_id=user.id,
        target=described or "all my units",
        detail=f"{fmt}, {count} records",
    )
    session.commit()
    name = "-".join(["feedback", *(str(v) for v in (filters.term, filters.unit) if v)])
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def _filters(session: Session, user: User) -> tuple[FilterForm, FeedbackFilters]:
    """The filter form from the query string, with choices limited to the user's scope."""
    form = FilterForm(request.args)
    terms = session.exec(select(Term).order_by(col(Term.start_date).desc())).all()
    units = session.exec(
        select(OrgUnit)
        .where(col(OrgUnit.id).in_(scope_ids(user, Perm.VIEW_FEEDBACK)))
        .order_by(OrgUnit.code)
    ).all()
    form.term.choices = [SelectChoice("", _("Any term"))] + [
        SelectChoice(term.code, localized(term, "name")) for term in terms
    ]
    form.unit.choices = [SelectChoice("", _("All my units"))] + [
        SelectChoice(
            unit.code,
            ("— " if unit.kind == "department" else "")
            + f"{localized(unit, 'name')} ({unit.code})",
        )
        for unit in units
    ]
    form.kind.choices = [SelectChoice("", _("Any kind"))] + [
        SelectChoice(k, name_of(KIND_NAMES, k)) for k in values(FeedbackKind)
    ]
    filters = FeedbackFilters(
        term=_choice(form.term.data, {term.code for term in terms}),
        unit=_choice(form.unit.data, {unit.code for unit in units}),
        kind=_choice(form.kind.data, set(values(FeedbackKind))),
        teacher=(form.teacher.data or "").strip()[:100] or None,
        score_min=form.score("score_min"),
        score_max=form.score("score_max"),
    )
    return form, filters


def _choice(value: Any, allowed: set[str]) -> str | None:
    return value if isinstance(value, str) and value in allowed else None


def _scope_title(tops: list[OrgUnit]) -> str:
    if len(tops) == 1:
        return localized(tops[0], "name")
    return ", ".join(localized(unit, "name") for unit in tops[:3]) + ("…" if len(tops) > 3 else "")
