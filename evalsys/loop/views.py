"""The loop's pages: problems per unit and term, a problem with its evidence and actions,
meetings, actions, and each owner's own actions.

Reading a unit's problems needs VIEW_REPORTS or MANAGE_LOOP on it; changing
anything needs MANAGE_LOOP (heads, deans, admins), checked again by the service;
an action's owner may update its status and notes. Scope is the org tree: a dean
of one college sees nothing of another (403 on a direct address). What a form
names (an owner, attendees, problems, a meeting, a course, a merge target) is
resolved within the unit; one outside it is refused on its field with the words
of an unknown id (422), so the page never tells whether it exists.

The pages read and change only through the service modules beside this one (plain
functions taking the session); here are the forms, the access decisions (with
:mod:`evalsys.accounts.access`), the commit and the rendering.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import Session

from evalsys.accounts.access import Perm, login_required, may, require, top_units, unit_or_404
from evalsys.clock import local_today
from evalsys.db import get_session
from evalsys.feedback.vocab import name_of
from evalsys.i18n import fmt_date, localized
from evalsys.loop.actions import (
    ActionInput,
    action_choices,
    create_action,
    find_action,
    owned_actions,
    owns_action_on,
    update_action,
)
from evalsys.loop.forms import (
    ActionForm,
    ActionStatusForm,
    FilterForm,
    MeetingForm,
    MergeForm,
    ProblemForm,
    ProposeForm,
    StatusForm,
    parse_date,
    parse_id,
    put_errors,
)
from evalsys.loop.meetings import (
    create_meeting,
    find_meeting,
    meeting_details,
    problems_to_discuss,
)
from evalsys.loop.models import (
    ACTION_STATUS_NAMES,
    CATEGORY_NAMES,
    LIVE_ACTIONS,
    SEVERITY_NAMES,
    STATUS_NAMES,
    Problem,
    ProblemSource,
    ProblemStatus,
)
from evalsys.loop.problems import (
    ProblemPlace,
    change_status,
    create_problem,
    edit_problem,
    find_problem,
    get_problem,
    merge_problems,
    problem_details,
    problem_rows,
)
from evalsys.loop.proposals import propose_problems
from evalsys.loop.report import report_section
from evalsys.loop.rules import ACTIONABLE, TRANSITIONS, LoopStateError, LoopValidationError
from evalsys.loop.scope import READ_PERMS, people
from evalsys.loop.summary import summary
from evalsys.org import hierarchy
from evalsys.org.models import OrgUnit, Term
from evalsys.org.terms import term_by_code, terms_newest_first
from evalsys.programmes.models import Programme

bp = Blueprint("loop", __name__, url_prefix="/loop")

#: Buttons offered on a problem page for each target status.
STATUS_BUTTONS = {
    ProblemStatus.OPEN: _l("Confirm"),
    ProblemStatus.IN_PROGRESS: _l("Start work"),
    ProblemStatus.RESOLVED: _l("Mark resolved"),
    ProblemStatus.VERIFIED: _l("Verify and close"),
    ProblemStatus.DISMISSED: _l("Dismiss"),
}

#: The question a status button asks before it changes something that is hard to undo.
STATUS_CONFIRM = {
    ProblemStatus.RESOLVED: _l(
        "Mark this problem resolved? Next term's figures are the check that it really is."
    ),
    ProblemStatus.VERIFIED: _l("Verify and close this problem? A closed problem stays closed."),
    ProblemStatus.DISMISSED: _l("Dismiss this problem? A dismissed problem stays dismissed."),
}
MERGE_CONFIRM = _l(
    "Merge this problem into the one chosen? This one closes as merged; its evidence and "
    "actions go with it."
)

#: Where a problem came from, as its page says it.
SOURCE_NAMES = {
    ProblemSource.FLAG: _l("proposed from the term's flags"),
    ProblemSource.FEEDBACK: _l("proposed from an observer's record"),
    ProblemSource.MANUAL: _l("recorded by hand"),
}

#: The reader's words for the loop's codes, by what the code is of.
NAMES = {
    "category": CATEGORY_NAMES,
    "severity": SEVERITY_NAMES,
    "status": STATUS_NAMES,
    "action_status": ACTION_STATUS_NAMES,
}


def loop_name(what: str, code: str | None) -> str:
    """``loop_name("status", p.status)`` in any template, the PDF reports' too."""
    return name_of(NAMES[what], code)


# A global of the whole app, not only of this blueprint's pages: reports/_part.html
# includes loop/_report_section.html, rendered outside any request of this blueprint.
bp.add_app_template_global(loop_name, "loop_name")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"source_names": SOURCE_NAMES}


def _today() -> date:
    return local_today(current_app.config)


def _unit(session: Session, code: str, *, manage: bool) -> OrgUnit:
    """The unit of the address (404 if none) that the user may read, or ``manage`` (403)."""
    perm = Perm.MANAGE_LOOP if manage else READ_PERMS
    return unit_or_404(session, code, current_user, perm)


def _pick_term(terms: list[Term], code: str | None) -> Term | None:
    """The term named by ``code`` (``?term=``), else the default one."""
    return next((t for t in terms if t.code == code), None) or _default_term(terms, _today())


def _unit_and_term(session: Session, code: str) -> tuple[OrgUnit, Term]:
    """The preamble of the pages that change a unit's loop: the unit, the right to manage it
    and the term of ``?term=`` (else the default); 404 when there is no term at all."""
    unit = _unit(session, code, manage=True)
    term = _pick_term(terms_newest_first(session), request.args.get("term"))
    if term is None:
        abort(404)
    return unit, term


def _manages(session: Session, unit_id: int) -> bool:
    return may(session, current_user, Perm.MANAGE_LOOP, unit_id)


def _default_term(terms: list[Term], today: date) -> Term | None:
    """The term running today, else the newest that has started, else the newest."""
    for term in terms:
        if term.start_date <= today <= term.end_date:
            return term
    started = [t for t in terms if t.start_date <= today]
    return started[0] if started else (terms[0] if terms else None)


def _problem_or_404(session: Session, problem_id: int, *, manage: bool = False) -> ProblemPlace:
    """The problem, its unit and term (404); with ``manage``, 403 unless the user manages it."""
    found = find_problem(session, problem_id)
    if found is None:
        abort(404)
    if manage:
        require(session, Perm.MANAGE_LOOP, found.problem.unit_id)
    return found


# --- lists -----------------------------------------------------------------------------


@bp.route("/")
@login_required
def index():
    """Entry: the user's highest units with problems to read, and their own actions."""
    session = get_session()
    units = {u.id: u for u in top_units(session, current_user, Perm.MANAGE_LOOP)}
    for u in top_units(session, current_user, Perm.VIEW_REPORTS):
        units.setdefault(u.id, u)
    if len(units) == 1:
        only = next(iter(units.values()))
        return redirect(url_for("loop.problems", code=only.code))
    return render_template("loop/index.html", units=sorted(units.values(), key=lambda u: u.code))


@bp.route("/units/<code>")
@login_required
def problems(code: str):
    session = get_session()
    unit = _unit(session, code, manage=False)
    terms = terms_newest_first(session)
    form = FilterForm(request.args)
    form.term.choices = [(t.code, localized(t, "name")) for t in terms]  # type: ignore[assignment]
    term = _pick_term(terms, form.term.data)
    if term is None:
        return render_template("loop/problems.html", unit=unit, term=None, rows=[], form=form)
    form.term.data = term.code
    rows = problem_rows(
        session,
        unit_id=unit.id,  # type: ignore[arg-type]
        term_id=term.id,  # type: ignore[arg-type]
        today=_today(),
        status=form.status.data,
        category=form.category.data,
        severity=form.severity.data,
    )
    counts = summary(session, term_id=term.id, unit_id=unit.id)  # type: ignore[arg-type]
    last = {
        "loop": report_section(session, term=term, unit_id=unit.id),  # type: ignore[arg-type]
        "unit": {"name": unit.name, "name_en": unit.name_en, "code": unit.code},
        "child_level_label": None,
    }
    return render_template(
        "loop/problems.html",
        unit=unit,
        term=term,
        rows=rows,
        form=form,
        counts=counts,
        last=last,
        trail=hierarchy.ancestors(session, unit.id),  # type: ignore[arg-type]
        manage=_manages(session, unit.id),  # type: ignore[arg-type]
        propose_form=ProposeForm(term=term.code),
        filtered=any(request.args.get(k) for k in ("status", "category", "severity")),
    )


@bp.route("/units/<code>/propose", methods=["POST"])
@login_required
def propose(code: str):
    session = get_session()
    unit = _unit(session, code, manage=True)
    form = ProposeForm()
    if not form.validate_on_submit():  # first: the term code is checked as text before a query
        abort(400)
    term = term_by_code(session, form.term.data or "")
    if term is None:
        abort(400)
    result = propose_problems(session, term=term, unit=unit, user=current_user)
    session.commit()
    flash(
        _(
            "%(created)s new problems proposed; %(added)s pieces of evidence added to existing"
            " ones; %(unchanged)s unchanged.",
            created=result.created,
            added=result.evidence_added,
            unchanged=result.unchanged,
        ),
        "success",
    )
    return redirect(url_for("loop.problems", code=unit.code, term=term.code))


@bp.route("/units/<code>/problems/new", methods=["GET", "POST"])
@login_required
def new_problem(code: str):
    session = get_session()
    unit, term = _unit_and_term(session, code)
    form = ProblemForm()
    if form.validate_on_submit():
        try:
            problem = create_problem(
                session,
                term=term,
                unit=unit,
                user=current_user,
                title=form.title.data or "",
                category=form.category.data or "",
                severity=form.severity.data or "",
                description=form.description.data,
            )
        except LoopValidationError as err:
            session.rollback()
            put_errors(form, err.errors)
        else:
            session.commit()
            flash(_("Problem recorded."), "success")
            return redirect(url_for("loop.problem", problem_id=problem.id))
    return render_template("loop/problem_form.html", form=form, unit=unit, term=term)


# --- one problem -------------------------------------------------------------------------


@bp.route("/problems/<int:problem_id>", methods=["GET", "POST"])
@login_required
def problem(problem_id: int):
    session = get_session()
    problem, unit, term = _problem_or_404(session, problem_id)
    if not owns_action_on(session, problem_id=problem_id, user_id=current_user.id):
        require(session, READ_PERMS, problem.unit_id)
    manage = _manages(session, problem.unit_id)
    edit_form = ProblemForm(obj=problem if request.method == "GET" else None)
    if request.method == "POST":
        if not manage:
            abort(403)
        if edit_form.validate_on_submit():
            try:
                edit_problem(
                    session,
                    problem=problem,
                    user=current_user,
                    title=edit_form.title.data or "",
                    category=edit_form.category.data or "",
                    severity=edit_form.severity.data or "",
                    description=edit_form.description.data,
                )
            except LoopValidationError as err:
                session.rollback()
                put_errors(edit_form, err.errors)
            except LoopStateError as err:
                session.rollback()
                flash(str(err), "error")
            else:
                session.commit()
                flash(_("Problem updated."), "success")
                return redirect(url_for("loop.problem", problem_id=problem.id))
    return _problem_page(session, problem, unit, term, manage, edit_form=edit_form)


def _problem_page(
    session: Session,
    problem: Problem,
    unit: OrgUnit,
    term: Term,
    manage: bool,
    *,
    edit_form: ProblemForm | None = None,
    status_form: StatusForm | None = None,
    merge_form: MergeForm | None = None,
    code: int = 200,
):
    details = problem_details(session, problem)
    if merge_form is None:
        merge_form = MergeForm()
    # Nothing chosen until the user chooses: a preselected target merged into whatever
    # came first in the list.
    targets = [(str(p.id), f"#{p.id} {p.title}") for p in details.merge_targets]
    merge_form.target.choices = (  # type: ignore[assignment]
        [("", str(_("— choose a problem —")))] + targets if targets else []
    )
    allowed = TRANSITIONS.get(problem.status, frozenset())
    return (
        render_template(
            "loop/problem.html",
            problem=problem,
            unit=unit,
            term=term,
            evidence=details.evidence,
            actions=details.actions,
            meetings=details.meetings,
            merged=details.merged,
            target=details.target,
            manage=manage,
            today=_today(),
            buttons=[
                (to, STATUS_BUTTONS[to], STATUS_CONFIRM.get(to))
                for to in STATUS_BUTTONS
                if to in allowed
            ],
            merge_confirm=MERGE_CONFIRM,
            edit_form=edit_form or ProblemForm(obj=problem),
            status_form=status_form or StatusForm(),
            merge_form=merge_form,
            can_merge=problem.status in ("proposed", "open") and merge_form.target.choices,
            can_act=problem.status in ACTIONABLE,
        ),
        code,
    )


@bp.route("/problems/<int:problem_id>/status", methods=["POST"])
@login_required
def problem_status(problem_id: int):
    session = get_session()
    problem, unit, term = _problem_or_404(session, problem_id, manage=True)
    form = StatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        change_status(
            session,
            problem=problem,
            to=form.to.data or "",
            user=current_user,
            reason=form.reason.data,
        )
    except LoopValidationError as err:
        session.rollback()
        put_errors(form, err.errors)
        return _problem_page(session, problem, unit, term, True, status_form=form, code=422)
    except LoopStateError as err:
        session.rollback()
        flash(str(err), "error")
        return _problem_page(session, problem, unit, term, True, status_form=form, code=409)
    session.commit()
    flash(
        _("The problem is now “%(status)s”.", status=name_of(STATUS_NAMES, problem.status)),
        "success",
    )
    return redirect(url_for("loop.problem", problem_id=problem.id))


@bp.route("/problems/<int:problem_id>/merge", methods=["POST"])
@login_required
def merge(problem_id: int):
    """Merge this problem into the chosen one (same unit and term)."""
    session = get_session()
    problem, unit, term = _problem_or_404(session, problem_id, manage=True)
    form = MergeForm()
    if not form.validate_on_submit():
        abort(400)
    target_id = parse_id(form.target.data)[0]
    target = get_problem(session, target_id) if target_id is not None else None
    if target is None or not _manages(session, target.unit_id):
        # A problem the user may not manage is answered as one that does not exist.
        form.target.errors = [_("Choose the problem to merge into.")]
        return _problem_page(session, problem, unit, term, True, merge_form=form, code=422)
    try:
        merge_problems(session, target=target, sources=[problem], user=current_user)
    except LoopValidationError as err:
        session.rollback()
        form.target.errors = list(err.errors.values())
        return _problem_page(session, problem, unit, term, True, merge_form=form, code=422)
    except LoopStateError as err:
        session.rollback()
        flash(str(err), "error")
        return _problem_page(session, problem, unit, term, True, merge_form=form, code=409)
    session.commit()
    flash(_("Merged into #%(id)s.", id=target.id), "success")
    return redirect(url_for("loop.problem", problem_id=target.id))


# --- meetings ----------------------------------------------------------------------------


@bp.route("/units/<code>/meetings/new", methods=["GET", "POST"])
@login_required
def new_meeting(code: str):
    session = get_session()
    unit, term = _unit_and_term(session, code)
    form = MeetingForm()
    form.attendees.choices = [(str(u.id), u.name) for u in people(session, unit.id)]  # type: ignore[arg-type,assignment]
    live = problems_to_discuss(session, unit.id)  # type: ignore[arg-type]
    form.problems.choices = [(str(p.id), f"{tc} · #{p.id} {p.title}") for p, tc in live]  # type: ignore[assignment]
    if request.method == "GET" and request.args.get("problem"):
        # Chosen only if offered: the select shows nothing of a problem outside the unit.
        form.problems.data = [request.args["problem"]]
    status = 200
    if form.validate_on_submit():
        held_on, date_error = parse_date(form.held_on.data)
        ids = [parse_id(v)[0] for v in form.attendees.data or []]
        pids = [parse_id(v)[0] for v in form.problems.data or []]
        errors: dict[str, str] = {}
        try:
            meeting = create_meeting(
                session,
                unit=unit,
                term=term,
                user=current_user,
                held_on=held_on,
                title=form.title.data or "",
                decisions=form.decisions.data or "",
                attendee_ids=[i for i in ids if i is not None],
                other_attendees=form.other_attendees.data,
                problem_ids=[i for i in pids if i is not None],
            )
        except LoopValidationError as err:
            session.rollback()
            errors = err.errors
        if date_error:
            errors = {**errors, "held_on": date_error}
        if errors:
            put_errors(form, errors)
            status = 422
        else:
            session.commit()
            flash(_("Meeting recorded."), "success")
            return redirect(url_for("loop.meeting", meeting_id=meeting.id))
    return render_template("loop/meeting_form.html", form=form, unit=unit, term=term), status


@bp.route("/meetings/<int:meeting_id>")
@login_required
def meeting(meeting_id: int):
    session = get_session()
    found = find_meeting(session, meeting_id)
    if found is None:
        abort(404)
    meeting, unit = found
    require(session, READ_PERMS, meeting.unit_id)
    details = meeting_details(session, meeting)
    return render_template(
        "loop/meeting.html",
        meeting=meeting,
        unit=unit,
        attendees=details.attendees,
        problems=details.problems,
        actions=details.actions,
    )


# --- actions -----------------------------------------------------------------------------


def _action_choices(session: Session, form: ActionForm, unit: OrgUnit) -> None:
    choices = action_choices(session, unit.id)  # type: ignore[arg-type]
    form.owner_id.choices = [("", _("— choose —"))] + [  # type: ignore[assignment]
        (str(u.id), u.name) for u in choices.owners
    ]
    form.meeting_id.choices = [("", _("— none —"))] + [  # type: ignore[assignment]
        (str(m.id), f"{fmt_date(m.held_on)} {m.title}") for m in choices.meetings
    ]
    form.plan_course_id.choices = [("", _("— no course —"))] + [  # type: ignore[assignment]
        (str(c.id), f"{c.code} {c.title}") for c in choices.courses
    ]
    form.plan_programme_id.choices = [("", _("— no programme —"))] + [  # type: ignore[assignment]
        (str(p.id), f"{p.code} {localized(p, 'name')}") for p in choices.programmes
    ]
    form.plan_from_term_id.choices = [("", "—")] + [  # type: ignore[assignment]
        (str(t.id), t.name) for t in choices.terms
    ]


#: The id fields of the action form.
_ACTION_IDS = ("owner_id", "meeting_id", "plan_course_id", "plan_programme_id", "plan_from_term_id")


def _action_input(
    form: ActionForm, legacy_programme: str | None = None
) -> tuple[ActionInput, dict[str, str]]:
    """The form's values; ``legacy_programme``: an edited action's free-text programme, kept
    (the form no longer offers free text)."""
    errors: dict[str, str] = {}
    due, err = parse_date(form.due_date.data)
    if err:
        errors["due_date"] = err
    ids: dict[str, int | None] = {}
    for name in _ACTION_IDS:
        ids[name], err = parse_id(getattr(form, name).data)
        if err:
            errors[name] = err
    data = ActionInput(
        title=form.title.data or "",
        due_date=due,
        notes=form.notes.data,
        plan_programme=legacy_programme,
        plan_change=form.plan_change.data,
        **ids,
    )
    return data, errors


def _merge_errors(parse_errors: dict[str, str], err: LoopValidationError | None):
    # A date that could not be read is reported as such, not as "give a due date".
    return {**(err.errors if err else {}), **parse_errors}


@bp.route("/problems/<int:problem_id>/actions/new", methods=["GET", "POST"])
@login_required
def new_action(problem_id: int):
    session = get_session()
    problem, unit, term = _problem_or_404(session, problem_id, manage=True)
    form = ActionForm()
    _action_choices(session, form, unit)
    if request.method == "GET" and request.args.get("meeting"):
        # Chosen only if offered: the select shows nothing of a meeting outside the unit's line.
        form.meeting_id.data = request.args["meeting"]
    status = 200
    if form.validate_on_submit():
        data, parse_errors = _action_input(form)
        failure: LoopValidationError | None = None
        try:
            create_action(session, problem=problem, user=current_user, data=data, today=_today())
        except LoopValidationError as err:
            session.rollback()
            failure = err
        except LoopStateError as err:
            session.rollback()
            flash(str(err), "error")
            return redirect(url_for("loop.problem", problem_id=problem.id))
        if failure or parse_errors:
            session.rollback()
            put_errors(form, _merge_errors(parse_errors, failure))
            status = 422
        else:
            session.commit()
            flash(_("Action recorded; its owner will be emailed."), "success")
            return redirect(url_for("loop.problem", problem_id=problem.id))
    return render_template(
        "loop/action_form.html", form=form, problem=problem, unit=unit, term=term, action=None
    ), status


@bp.route("/actions/<int:action_id>", methods=["GET", "POST"])
@login_required
def action(action_id: int):
    """An action: its owner updates status and notes; a head or dean may also edit it."""
    session = get_session()
    found = find_action(session, action_id)
    if found is None:
        abort(404)
    action, problem, unit, term, owner = found
    manage = _manages(session, problem.unit_id)
    if not manage and action.owner_id != current_user.id:
        abort(403)
    status_form = ActionStatusForm(status=action.status, notes=action.notes, prefix="s")
    edit_form = ActionForm(prefix="e", obj=None)
    _action_choices(session, edit_form, unit)
    code = 200
    if request.method == "GET":
        for name in ("title", "plan_change", "notes"):
            getattr(edit_form, name).data = getattr(action, name) or ""
        edit_form.due_date.data = action.due_date.isoformat()
        for name in _ACTION_IDS:
            value = getattr(action, name)
            getattr(edit_form, name).data = "" if value is None else str(value)
    elif "s-status" in request.form and status_form.validate_on_submit():
        try:
            update_action(
                session,
                action=action,
                user=current_user,
                status=status_form.status.data,
                notes=status_form.notes.data,
                today=_today(),
            )
        except LoopValidationError as err:
            session.rollback()
            put_errors(status_form, err.errors)
            code = 422
        except LoopStateError as err:
            session.rollback()
            status_form.status.errors = [str(err)]
            code = 409
        else:
            session.commit()
            flash(_("Action updated."), "success")
            return redirect(url_for("loop.action", action_id=action.id))
    elif "e-title" in request.form:
        if not manage:
            abort(403)
        if edit_form.validate_on_submit():
            data, parse_errors = _action_input(edit_form, action.plan_programme)
            failure = None
            try:
                update_action(session, action=action, user=current_user, data=data, today=_today())
            except LoopValidationError as err:
                failure = err
            except LoopStateError as err:
                session.rollback()
                flash(str(err), "error")
                return redirect(url_for("loop.action", action_id=action.id))
            if failure or parse_errors:
                session.rollback()
                put_errors(edit_form, _merge_errors(parse_errors, failure))
                code = 422
            else:
                session.commit()
                flash(_("Action updated."), "success")
                return redirect(url_for("loop.action", action_id=action.id))
    else:
        abort(400)
    return (
        render_template(
            "loop/action.html",
            action=action,
            owner=owner,
            problem=problem,
            unit=unit,
            term=term,
            manage=manage,
            live=action.status in LIVE_ACTIONS,
            programme=(
                session.get(Programme, action.plan_programme_id)
                if action.plan_programme_id is not None
                else None
            ),
            overdue=action.status in LIVE_ACTIONS and action.due_date < _today(),
            status_form=status_form,
            edit_form=edit_form,
        ),
        code,
    )


@bp.route("/mine")
@login_required
def mine():
    """The actions the user owns: overdue first, then by due date; done ones at the end."""
    session = get_session()
    rows = owned_actions(session, current_user.id)
    return render_template("loop/mine.html", rows=rows, today=_today())
