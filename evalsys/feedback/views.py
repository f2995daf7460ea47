"""Feedback pages: the three forms (new, finish a draft, edit, withdraw).

The record page and teacher responses are in :mod:`views_record`, the lists in
:mod:`views_lists`; all three add their routes to :mod:`blueprint`'s ``bp``. Every
rule a record must meet is the service's: the views turn form text into a
:class:`FeedbackInput`, call the service, and show its errors next to the fields
they name.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from sqlmodel import Session, col, select
from wtforms import ValidationError

from evalsys.accounts.access import FeedbackPerm, feedback_or_404, login_required, may
from evalsys.accounts.models import User
from evalsys.clock import utcnow
from evalsys.db import get_session
from evalsys.feedback import forms
from evalsys.feedback.autosave import epoch_ms, forget_device_copy
from evalsys.feedback.blueprint import bp, edit_window, local_time, me
from evalsys.feedback.checks import SUBMIT_PERM
from evalsys.feedback.choices import (
    group_choices,
    observer_level_of,
    open_terms,
    section_choices,
    submittable_kinds,
)
from evalsys.feedback.form_input import find_section, read_form, site_today
from evalsys.feedback.forms import (
    FeedbackForm,
    ItemView,
    SelectChoice,
    WithdrawForm,
    feedback_form_class,
)
from evalsys.feedback.inputs import (
    FeedbackError,
    FeedbackPermissionError,
    FeedbackStateError,
    FeedbackValidationError,
)
from evalsys.feedback.models import Feedback, Rubric
from evalsys.feedback.offline import offline_pages
from evalsys.feedback.reads import input_from_feedback
from evalsys.feedback.rubrics import current_rubric, rubric_items
from evalsys.feedback.vocab import (
    KIND_NAMES,
    FeedbackKind,
    FeedbackStatus,
    name_of,
    values,
)
from evalsys.feedback.writes import (
    can_change,
    edit_deadline,
    submit_feedback,
    update_feedback,
    withdraw_feedback,
)
from evalsys.org.models import Course, Section
from evalsys.pagination import page_count
from evalsys.validation import page_arg, storable

#: How many sections the search box lists; beyond it the section search page helps.
DATALIST_LIMIT = 500


_today = site_today


# --- choosing a form --------------------------------------------------------------------


@bp.route("/new")
@login_required
def choose():
    kinds = submittable_kinds(get_session(), user=me())
    if not kinds:
        abort(403)
    if len(kinds) == 1:
        return redirect(url_for(".new", kind=kinds[0]))
    return render_template("feedback/choose.html", kinds=kinds)


@bp.route("/sections")
@login_required
def sections():
    """Find a section in scope by code, course or teacher, then open the form on it."""
    kind = request.args.get("kind", FeedbackKind.SPOT_CHECK)
    if kind not in (FeedbackKind.SPOT_CHECK, FeedbackKind.OPEN_CLASS):
        abort(404)
    session = get_session()
    if kind not in submittable_kinds(session, user=me()):
        abort(403)
    query = request.args.get("q", "").strip()[:100]
    page = page_arg()
    per_page = 25
    found, total = section_choices(
        session,
        user=me(),
        kind=kind,
        today=_today(),
        query=query or None,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    pages = page_count(total, per_page)
    return render_template(
        "feedback/sections.html",
        kind=kind,
        query=query,
        found=found,
        total=total,
        page=min(page, pages),
        pages=pages,
    )


# --- the form, new ----------------------------------------------------------------------


@bp.route("/new/<kind>", methods=["GET", "POST"])
@login_required
def new(kind: str):
    if kind not in values(FeedbackKind):
        abort(404)
    session = get_session()
    user = me()
    if kind not in submittable_kinds(session, user=user):
        abort(403)
    rubric = current_rubric(session, kind)
    if rubric is None:
        return render_template(
            "error.html",
            code=503,
            title=_("No form yet"),
            text=_no_rubric_text(kind),
        ), 503
    assert rubric.id is not None  # a stored rubric
    items = [ItemView.of(kind, i) for i in rubric_items(session, rubric.id)]
    form_class = feedback_form_class(kind, items)

    if request.method == "GET":
        form = form_class(formdata=None, data=_new_form_data(kind, user))
        return _render_form(form, rubric, items, mode="new")

    form = form_class()
    if _token_refused():
        return _render_form(
            form, rubric, items, mode="new", status=400, general=[("", _csrf_message())]
        )
    key = (form.idempotency_key.data or "").strip() or None
    if key is not None and storable(key):  # the service refuses an unstorable key
        earlier = session.exec(
            select(Feedback.id).where(
                Feedback.observer_id == user.id, Feedback.idempotency_key == key
            )
        ).first()
        if earlier is not None:
            stored = session.get(Feedback, earlier)
            if stored is not None and stored.status == FeedbackStatus.DRAFT:
                # The form's autosave (or an earlier "save draft") made a draft under this
                # key: this POST finishes it, on the draft's own rubric, rather than being
                # taken for a resend of what the draft holds.
                return _finish_keyed_draft(stored, user=user)
            flash(_("This form was saved already; here is the record."), "info")
            return redirect(url_for(".record", feedback_id=earlier), 303)
    return _save(form, rubric, items, user=user, feedback=None, key=key)


def _finish_keyed_draft(draft: Feedback, *, user: User):
    """The form's POST for a draft stored under its key: save it again or submit it."""
    session = get_session()
    rubric = session.get(Rubric, draft.rubric_id)
    assert rubric is not None and rubric.id is not None
    items = [ItemView.of(draft.kind, i) for i in rubric_items(session, rubric.id)]
    form = feedback_form_class(draft.kind, items)()
    return _save(form, rubric, items, user=user, feedback=draft, key=draft.idempotency_key)


def _new_form_data(kind: str, user: User) -> dict[str, Any]:
    """A fresh form: a new idempotency key, and what the link and the user's role tell.

    A link may carry the visit it is for (the planner's "log the visit" on an
    assignment): ``section``, ``date``, ``period``, ``room`` and ``announced``. Each
    is a default the user can still change, used only when it makes sense (a section
    the form offers the user, an ISO date, true/false); without one, today's date
    and an unannounced visit. A leader's open class starts at the observer level
    of their role. Only a fresh form (GET) is filled so: a form sent back with errors
    shows exactly what the user sent.
    """
    args = request.args
    data: dict[str, Any] = {
        "idempotency_key": uuid.uuid4().hex,
        "date": _link_date(args.get("date")) or _today().isoformat(),
    }
    if kind == FeedbackKind.SPOT_CHECK:
        data["announced"] = "true" if args.get("announced") == "true" else "false"
        for name, arg in (("class_period", "period"), ("location", "room")):
            text = args.get(arg, "").strip()
            if text and storable(text) and len(text) <= (forms.text_limit(name) or 200):
                data[name] = text
    code = args.get("section", "").strip()
    if code and kind != FeedbackKind.TUTOR_GROUP:
        section = offered_section(get_session(), user=user, kind=kind, code=code)
        if section is not None:
            data["section"] = code
            if kind == FeedbackKind.SPOT_CHECK:
                data["enrolled"] = str(section.enrolled)
    if kind == FeedbackKind.OPEN_CLASS:
        level = observer_level_of(get_session(), user=user)
        if level is not None:
            data["observer_level"] = level
    if kind == FeedbackKind.TUTOR_GROUP:
        groups = group_choices(get_session(), user=user, today=_today())
        if len(groups) == 1:
            data["group"] = groups[0].code
    return data


def _link_date(text: str | None) -> str | None:
    """A link's ``date`` if it is an ISO date (the service still checks it lies in the term)."""
    try:
        return date.fromisoformat((text or "").strip()).isoformat()
    except ValueError:
        return None


def offered_section(session: Session, *, user: User, kind: str, code: str) -> Section | None:
    """The section of a link's ``?section=``, if the form offers it to the user; else None.

    The rule of :func:`section_choices`: the kind's permission on the course's
    department, a term open for new records, not one's own section. A code
    outside the user's scope gets None like a code that does not exist, so the
    form opens empty either way and never shows another unit's section, its
    enrolment, or that it exists.
    """
    row = session.exec(
        select(Section, Course.department_id)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.code == code)
    ).first()
    if row is None:
        return None
    section, department_id = row
    if not may(session, user, SUBMIT_PERM[FeedbackKind(kind)], department_id):
        return None
    if section.teacher_id == user.id:
        return None
    if section.term_id not in {t.id for t in open_terms(session, today=_today())}:
        return None
    return section


# --- the form, editing or finishing a draft ---------------------------------------------


@bp.route("/<int:feedback_id>/edit", methods=["GET", "POST"])
@login_required
def edit(feedback_id: int):
    session = get_session()
    user = me()
    feedback, _access = feedback_or_404(session, feedback_id, user, FeedbackPerm.CHANGE)
    rubric = session.get(Rubric, feedback.rubric_id)
    assert rubric is not None and rubric.id is not None
    items = [ItemView.of(feedback.kind, i) for i in rubric_items(session, rubric.id)]
    form_class = feedback_form_class(feedback.kind, items)
    if request.method == "POST" and _token_refused():
        return _render_form(
            form_class(),
            rubric,
            items,
            mode="edit",
            feedback=feedback,
            status=400,
            general=[("", _csrf_message())],
        )
    if not can_change(feedback, user, edit_window(), utcnow()):
        flash(_why_locked(feedback), "error")
        return redirect(url_for(".record", feedback_id=feedback.id), 303)
    if request.method == "GET":
        form = form_class(
            formdata=None, data=forms.form_data(input_from_feedback(session, feedback))
        )
        return _render_form(form, rubric, items, mode="edit", feedback=feedback)
    form = form_class()
    return _save(form, rubric, items, user=user, feedback=feedback, key=None)


@bp.record_once
def _forms_check_their_own_token(state: Any) -> None:
    """The two form views check the CSRF token themselves (:func:`_token_refused`, first
    thing on a POST), so that a stale token brings the form back with what was typed and a
    fresh token rather than the "form expired" page that loses the text."""
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(new)
        csrf.exempt(edit)


def _why_locked(feedback: Feedback) -> str:
    if feedback.status == FeedbackStatus.WITHDRAWN:
        return _("This record was withdrawn; it can no longer be changed.")
    deadline = edit_deadline(feedback, edit_window())
    return _(
        "The edit window of this record closed at %(when)s. "
        "Ask the teaching-quality office if it must still change.",
        when=local_time(deadline),
    )


@bp.route("/<int:feedback_id>/withdraw", methods=["POST"])
@login_required
def withdraw(feedback_id: int):
    session = get_session()
    user = me()
    # Who may withdraw is the service's answer, after the form is read.
    feedback, _access = feedback_or_404(session, feedback_id, user, None)
    form = WithdrawForm()
    if not form.validate():
        abort(400)
    was_draft = feedback.status == FeedbackStatus.DRAFT
    try:
        withdraw_feedback(
            session,
            user=user,
            feedback=feedback,
            reason=form.reason.data,
            edit_window=edit_window(),
        )
        session.commit()
    except FeedbackPermissionError:
        session.rollback()
        abort(403)
    except (FeedbackStateError, FeedbackValidationError) as err:
        session.rollback()
        flash(_why_not_withdrawn(err), "error")
        return redirect(url_for(".record", feedback_id=feedback_id), 303)
    flash(_("Draft discarded.") if was_draft else _("Record withdrawn."), "info")
    return redirect(url_for(".record", feedback_id=feedback_id), 303)


# --- saving -----------------------------------------------------------------------------


def _save(
    form: FeedbackForm,
    rubric: Rubric,
    items: list[ItemView],
    *,
    user: User,
    feedback: Feedback | None,
    key: str | None,
):
    """Check and store the form through the service; on any refusal, the form again."""
    session = get_session()
    mode = "new" if feedback is None else "edit"
    if not form.validate():  # the CSRF token (refused before this by _token_refused)
        return _render_form(form, rubric, items, mode=mode, feedback=feedback, status=400)
    draft = bool(form.save_draft.data) and (feedback is None or feedback.status == "draft")
    was_draft = feedback is None or feedback.status == FeedbackStatus.DRAFT
    general: list[tuple[str, str]] = []
    try:
        ambiguous = find_section(form, user=user)
        data = read_form(
            form, rubric, user=user, draft=draft, feedback=feedback, section_error=ambiguous
        )
        if feedback is None:
            stored = submit_feedback(
                session, user=user, data=data, draft=draft, idempotency_key=key, today=_today()
            )
        else:
            stored = update_feedback(
                session,
                user=user,
                feedback=feedback,
                data=data,
                draft=draft,
                edit_window=edit_window(),
                today=_today(),
            )
        session.commit()
    except FeedbackValidationError as err:
        session.rollback()
        general = form.show_errors(err.by_field())
        status = 422
    except FeedbackPermissionError as err:
        session.rollback()
        general = form.show_errors({err.field or "": [str(err)]})
        status = 403
    except FeedbackStateError as err:
        session.rollback()
        general = [("", str(err))]
        status = 409
    else:
        flash(_saved_message(stored, draft, edited=not was_draft), "success")
        response = redirect(url_for(".record", feedback_id=stored.id), 303)
        return forget_device_copy(response, stored, key=key)
    return _render_form(
        form, rubric, items, mode=mode, feedback=feedback, status=status, general=general
    )


def _saved_message(feedback: Feedback, draft: bool, *, edited: bool) -> str:
    what = name_of(KIND_NAMES, feedback.kind)
    if draft:
        return _("%(kind)s saved as a draft. Finish it any time from My records.", kind=what)
    deadline = local_time(edit_deadline(feedback, edit_window()))
    if edited:
        return _(
            "%(kind)s updated. You can edit or withdraw it until %(deadline)s.",
            kind=what,
            deadline=deadline,
        )
    return _(
        "%(kind)s submitted. You can edit or withdraw it until %(deadline)s.",
        kind=what,
        deadline=deadline,
    )


def _token_refused() -> bool:
    """Is the POST's CSRF token missing, forged or expired (as CSRFProtect would judge)?"""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return False
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return True
    return False


def _csrf_message() -> str:
    return _(
        "The form's security token was missing or expired (a long pause, or signing in "
        "again), so nothing was saved. Everything you typed is still here: check it and "
        "submit again."
    )


def _no_rubric_text(kind: str) -> str:
    if kind == FeedbackKind.OPEN_CLASS:
        return _(
            "There is no published open class rubric yet. "
            "Ask the teaching-quality office to publish one."
        )
    if kind == FeedbackKind.TUTOR_GROUP:
        return _(
            "There is no published tutor group rubric yet. "
            "Ask the teaching-quality office to publish one."
        )
    return _(
        "There is no published spot check rubric yet. "
        "Ask the teaching-quality office to publish one."
    )


def _why_not_withdrawn(err: FeedbackError) -> str:
    """A refusal to withdraw, as one sentence (a reason that is too long names its limit)."""
    if isinstance(err, FeedbackValidationError):
        messages = [m for ms in err.by_field().values() for m in ms]
        return _("The reason was not accepted: %(problem)s", problem="; ".join(messages))
    text = str(err)
    return text[:1].upper() + text[1:]


def _render_form(
    form: FeedbackForm,
    rubric: Rubric,
    items: list[ItemView],
    *,
    mode: str,
    feedback: Feedback | None = None,
    status: int = 200,
    general: list[tuple[str, str]] | None = None,
):
    session = get_session()
    kind = form.kind
    user = me()
    sections: list[Any] = []
    sections_total = 0
    if kind != FeedbackKind.TUTOR_GROUP:
        sections, sections_total = section_choices(
            session, user=user, kind=kind, today=_today(), limit=DATALIST_LIMIT
        )
    else:
        groups = group_choices(session, user=user, today=_today())
        choices = [SelectChoice(g.code, g.label) for g in groups]
        current = (form.group.data or "").strip()
        if current and current not in {g.code for g in groups}:
            choices.append(SelectChoice(current, current))  # keep what was sent
        if len(groups) != 1 or current == "":
            choices.insert(0, SelectChoice("", _("— Choose a group —")))
        form.group.choices = choices
        sections_total = len(groups)
    is_draft = feedback is None or feedback.status == FeedbackStatus.DRAFT
    deadline = None if feedback is None else edit_deadline(feedback, edit_window())
    updated = feedback.updated_at if feedback is not None else None
    return render_template(
        "feedback/form.html",
        form=form,
        kind=kind,
        rubric=rubric,
        dimensions=_by_dimension(form),
        layout=forms.LAYOUT[kind],
        label=lambda name: forms.label(kind, name),
        required=forms.REQUIRED[kind],
        text_limit=forms.text_limit,
        sections=sections,
        sections_total=sections_total,
        datalist_limit=DATALIST_LIMIT,
        mode=mode,
        feedback=feedback,
        is_draft=is_draft,
        deadline=deadline,
        general=[message for _, message in general or []],
        summary=form.summary(),
        today=_today().isoformat(),
        server_updated_ms=epoch_ms(updated),
        posted=request.method == "POST",
        autosave_seconds=current_app.config.get("FEEDBACK_AUTOSAVE_SECONDS", 20),
        offline_pages=offline_pages(session, user),
    ), status


def _by_dimension(form: FeedbackForm) -> list[tuple[Any, list[Any]]]:
    """The score fields in rubric order, in runs of one dimension (for sub-headings)."""
    runs: list[tuple[Any, list[Any]]] = []
    for field in form.score_fields():
        if runs and runs[-1][1][0].item.dimension == field.item.dimension:
            runs[-1][1].append(field)
        else:
            runs.append((field.item.dimension_label, [field]))
    return runs
