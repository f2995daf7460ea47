"""Planner pages: my assignments (supervisors, and teachers' announced visits), a term's
coverage and quota progress (admins, scoped), the plan settings and a draw (school admins)."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, is_school_admin, login_required, top_units
from evalsys.accounts.models import User
from evalsys.accounts.service import audit
from evalsys.clock import local_today
from evalsys.db import get_session
from evalsys.feedback.vocab import name_of
from evalsys.org.models import Section, Term
from evalsys.planner import calendar, service, weeks
from evalsys.planner.draw import DrawError, draw_week
from evalsys.planner.forms import CalendarForm, DrawForm, PlanSettingsForm
from evalsys.planner.models import (
    ASSIGNMENT_STATUS_NAMES,
    TRIGGER_NAMES,
    DrawTrigger,
    PlanSetting,
)

bp = Blueprint("planner", __name__, url_prefix="/planner")

#: How draw.py words a supervisor's shortfall (stored in the draw's parameters, in English).
_SHORTFALL = re.compile(r"^(\d+) of (\d+): no other section in scope has a free slot this week$")


def shortfall_text(why: str) -> str:
    """A stored shortfall in the reader's language (an unknown wording as it was stored)."""
    m = _SHORTFALL.match(why or "")
    if m is None:
        return why
    return _(
        "%(made)s of %(asked)s: no other section in scope has a free slot this week",
        made=m.group(1),
        asked=m.group(2),
    )


def planner_name(what: str, code: str | None) -> str:
    """``planner_name("status", r.status)``: the reader's word for an assignment's status
    or a draw's trigger (an unknown code as it is)."""
    return name_of({"status": ASSIGNMENT_STATUS_NAMES, "trigger": TRIGGER_NAMES}[what], code)


# Globals of the whole app: planner/_rows.html is also used by the supervisors' dashboard.
bp.add_app_template_global(planner_name, "planner_name")


@bp.context_processor
def _helpers() -> dict:
    return {"shortfall_text": shortfall_text}


def _me() -> User:
    return current_user._get_current_object()


def _term_or_404(session: Session, code: str) -> Term:
    term = service.term_by_code(session, code)
    if term is None:
        abort(404)
    return term


@bp.route("/")
@login_required
def mine():
    """This week's (and next week's) assignments and the quota; a teacher's announced visits."""
    session = get_session()
    user = _me()
    today = local_today(current_app.config)
    blocks = []
    for term in service.current_terms(session, today):
        progress = service.quota_progress(session, user=user, term=term, today=today)
        end = progress.week_start + timedelta(days=13)
        rows = service.supervisor_assignments(
            session, user=user, term=term, start=progress.week_start, end=end
        )
        if rows or progress.visits_this_term or progress.assigned_this_week:
            this_week_end = progress.week_start + timedelta(days=6)
            blocks.append(
                {
                    "term": term,
                    "progress": progress,
                    "this_week": [r for r in rows if r.visit_date <= this_week_end],
                    "next_week": [r for r in rows if r.visit_date > this_week_end],
                }
            )
    announced = service.announced_visits(session, teacher=user, today=today)
    teaches = session.exec(select(Section.id).where(Section.teacher_id == user.id).limit(1))
    return render_template(
        "planner/mine.html",
        blocks=blocks,
        announced=announced,
        is_teacher=teaches.first() is not None,
        today=today,
        feed=calendar.feed_of(session, user),
        calendar_form=CalendarForm(),
    )


@bp.route("/terms/")
@login_required
def terms():
    session = get_session()
    if not top_units(session, _me(), Perm.MANAGE):
        abort(403)
    rows = session.exec(select(Term).order_by(col(Term.start_date).desc())).all()
    settings = {s.term_id for s in session.exec(select(PlanSetting)).all()}
    return render_template(
        "planner/terms.html",
        terms=rows,
        with_settings=settings,
        school_admin=is_school_admin(session, current_user),
    )


@bp.route("/terms/<code>")
@login_required
def term(code: str):
    """Coverage per department and each supervisor's progress, in the admin's units."""
    session = get_session()
    user = _me()
    tops = top_units(session, user, Perm.MANAGE)
    if not tops:
        abort(403)
    term = _term_or_404(session, code)
    settings = service.settings_of(session, term)
    today = local_today(current_app.config)
    target = settings.visits_per_teacher if settings is not None else 1
    week = max(1, min(weeks.week_of(term, today), weeks.last_week(term)))
    start = weeks.week_start(term, week)
    school_admin = is_school_admin(session, current_user)
    form = DrawForm(formdata=None, data={"week": weeks.next_week_to_draw(term, today)})
    supervisors = service.supervisor_rows(session, term=term, viewer=user, today=today)
    return render_template(
        "planner/term.html",
        term=term,
        settings=settings,
        target=max(target, 1),
        tops=tops,
        coverage=service.coverage_by_department(
            session, term=term, viewer=user, target=max(target, 1)
        ),
        unvisited=service.unvisited_teachers(
            session, term=term, viewer=user, target=max(target, 1)
        ),
        supervisors=supervisors,
        weeks_due=None if settings is None else service.weeks_due(settings, term, today),
        week=week,
        assignments=service.term_assignments(
            session, term=term, viewer=user, start=start, end=start + timedelta(days=6)
        ),
        draws=service.draw_rows(
            session,
            term=term,
            viewer=None if school_admin else user,
            supervisors={row.username for row in supervisors},
        ),
        school_admin=school_admin,
        form=form,
    )


@bp.route("/terms/<code>/settings", methods=["GET", "POST"])
@login_required
def settings(code: str):
    session = get_session()
    if not is_school_admin(session, current_user):
        abort(403)
    term = _term_or_404(session, code)
    stored = service.settings_of(session, term)
    new = stored is None
    if stored is None:
        assert term.id is not None  # loaded from the database
        stored = PlanSetting(term_id=term.id)  # the defaults
    form = PlanSettingsForm(data=PlanSettingsForm.data_of(stored))
    form.last_week = weeks.last_week(term)
    if form.validate_on_submit():
        service.save_settings(session, term=term, values=form.values(), user=_me())
        audit(
            session, "plan.settings", user_id=_me().id, target=term.code, detail=str(form.values())
        )
        session.commit()
        flash(_("Plan settings of %(term)s saved.", term=term.code), "success")
        return redirect(url_for(".term", code=term.code), 303)
    status = 422 if form.errors else 200
    return render_template(
        "planner/settings.html", term=term, form=form, new=new, last_week=form.last_week
    ), status


@bp.route("/terms/<code>/draw", methods=["POST"])
@login_required
def draw(code: str):
    session = get_session()
    if not is_school_admin(session, current_user):
        abort(403)
    term = _term_or_404(session, code)
    form = DrawForm()
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            label = form[field].label.text if field in form else field
            flash(
                _("%(field)s: %(errors)s", field=label, errors=" ".join(map(str, errors))),
                "error",
            )
        return redirect(url_for(".term", code=term.code), 303)
    week = form.week.data
    assert week is not None  # InputRequired, and the form validated
    try:
        made = draw_week(
            session,
            term=term,
            week=week,
            seed=form.seed.data,
            trigger=DrawTrigger.MANUAL,
            user=_me(),
        )
    except DrawError as err:
        session.rollback()
        flash(str(err.message), "error")
        return redirect(url_for(".term", code=term.code), 303)
    audit(
        session,
        "plan.draw",
        user_id=_me().id,
        target=term.code,
        detail=f"week {made.week} seed {made.seed}",
    )
    session.commit()
    flash(
        ngettext(
            "Drew week %(week)s with seed %(seed)s: %(num)d assignment.",
            "Drew week %(week)s with seed %(seed)s: %(num)d assignments.",
            made.parameters["assignments"],
            week=made.week,
            seed=made.seed,
        ),
        "success",
    )
    return redirect(url_for(".term", code=term.code), 303)
