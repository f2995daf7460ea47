"""The record page: one record with its scores, responses and history; teacher responses.

Who sees a record is :func:`evalsys.accounts.access.feedback_visible_to`'s answer
(the lists and the API ask it too): its author, reviewers (``VIEW_FEEDBACK`` on its
department: heads, deans, leaders, admins) and the teacher of its section; drafts
only their author. A teacher sees the observer's name only where
``FEEDBACK_SHOW_OBSERVER_TO_TEACHER`` is on.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlmodel import col, select

from evalsys.accounts.access import FeedbackAccess, FeedbackPerm, feedback_or_404, login_required
from evalsys.accounts.models import User
from evalsys.clock import utcnow
from evalsys.db import get_session
from evalsys.feedback import forms
from evalsys.feedback.blueprint import bp, edit_window, me
from evalsys.feedback.forms import ItemView, ResponseForm, WithdrawForm
from evalsys.feedback.inputs import (
    FeedbackPermissionError,
    FeedbackStateError,
    FeedbackValidationError,
)
from evalsys.feedback.models import Feedback, FeedbackRevision, Rubric
from evalsys.feedback.reads import feedback_scores, responses_for
from evalsys.feedback.rubrics import rubric_items
from evalsys.feedback.vocab import (
    FEEDBACK_STATUS_NAMES,
    GRADE_NAMES,
    MEETING_FORMAT_NAMES,
    OBSERVER_LEVEL_NAMES,
    FeedbackStatus,
    suggested_grade,
)
from evalsys.feedback.writes import add_teacher_response, can_change, edit_deadline
from evalsys.i18n import fmt_date, fmt_num, localized
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup


@bp.route("/<int:feedback_id>")
@login_required
def record(feedback_id: int):
    feedback, access = feedback_or_404(get_session(), feedback_id, me(), FeedbackPerm.VIEW)
    return _render(feedback, access)


@bp.route("/<int:feedback_id>/respond", methods=["POST"])
@login_required
def respond(feedback_id: int):
    session = get_session()
    feedback, access = feedback_or_404(session, feedback_id, me(), FeedbackPerm.VIEW)
    form = ResponseForm()
    if not form.validate():
        return _render(feedback, access, response_form=form, status=400)
    try:
        add_teacher_response(session, user=me(), feedback=feedback, text=form.text.data or "")
        session.commit()
    except FeedbackPermissionError:
        session.rollback()
        abort(403)
    except (FeedbackValidationError, FeedbackStateError) as err:
        session.rollback()
        if isinstance(err, FeedbackValidationError):
            form.text.errors = [m for ms in err.by_field().values() for m in ms]
        else:
            form.text.errors = [str(err)]
        return _render(feedback, access, response_form=form, status=422)
    flash(_("Your response was added."), "success")
    return redirect(url_for(".record", feedback_id=feedback_id) + "#responses", 303)


def _render(
    feedback: Feedback,
    access: FeedbackAccess,
    *,
    response_form: ResponseForm | None = None,
    status: int = 200,
):
    session = get_session()
    user = me()
    shown_to_teacher = bool(current_app.config.get("FEEDBACK_SHOW_OBSERVER_TO_TEACHER", False))
    sees_observer = access.sees_observer(shown_to_teacher=shown_to_teacher)
    target = _target(feedback)
    rubric = session.get(Rubric, feedback.rubric_id)
    assert rubric is not None
    items = [ItemView.of(feedback.kind, i) for i in rubric_items(session, rubric.id)]  # type: ignore[arg-type]
    scores = feedback_scores(session, feedback.id)  # type: ignore[arg-type]
    responses = responses_for(session, [feedback.id])  # type: ignore[list-item]
    names = _names(
        session,
        {feedback.observer_id} | {r.teacher_id for r in responses.get(feedback.id, [])},  # type: ignore[arg-type]
    )
    history = []
    if access.author or access.reviewer:
        history = _history(session, feedback, items)
    is_teacher_here = access.teacher and feedback.status == FeedbackStatus.SUBMITTED
    changeable = can_change(feedback, user, edit_window(), utcnow())
    return render_template(
        "feedback/record.html",
        fb=feedback,
        access=access,
        target=target,
        rubric=rubric,
        items=items,
        scores=scores,
        observer=names.get(feedback.observer_id) if sees_observer else None,
        observer_level=OBSERVER_LEVEL_NAMES.get(feedback.observer_level or ""),
        meeting_format=MEETING_FORMAT_NAMES.get(feedback.meeting_format or ""),
        suggested=suggested_grade(feedback.overall_score),
        responses=[
            {"text": r.text, "at": r.created_at, "by": names.get(r.teacher_id, "")}
            for r in responses.get(feedback.id, [])  # type: ignore[call-overload]
        ],
        response_form=response_form or (ResponseForm(formdata=None) if is_teacher_here else None),
        history=history,
        changeable=changeable,
        deadline=edit_deadline(feedback, edit_window()),
        withdraw_form=WithdrawForm(formdata=None) if changeable else None,
        label=lambda name: forms.label(feedback.kind, name),
    ), status


def _target(feedback: Feedback) -> dict[str, Any]:
    """What the record is about, in plain values, in one query."""
    session = get_session()
    if feedback.section_id is not None:
        row = session.exec(
            select(Section.code, Course, User.name, Term.code, OrgUnit)
            .join(Course, col(Course.id) == Section.course_id)
            .join(Term, col(Term.id) == Section.term_id)
            .join(OrgUnit, col(OrgUnit.id) == Course.department_id)
            .outerjoin(User, col(User.id) == Section.teacher_id)
            .where(Section.id == feedback.section_id)
        ).one()
        code, course, teacher, term, unit = row
        return {"code": code, "title": localized(course, "title"), "course_code": course.code,
                "teacher": teacher, "term": term, "unit": localized(unit, "name"),
                "is_group": False}  # fmt: skip
    row = session.exec(
        select(TutorGroup.code, TutorGroup.name, Term.code, OrgUnit, TutorGroup.size)
        .join(Term, col(Term.id) == TutorGroup.term_id)
        .join(OrgUnit, col(OrgUnit.id) == TutorGroup.department_id)
        .where(TutorGroup.id == feedback.group_id)
    ).one()
    code, name, term, unit, size = row
    return {"code": code, "title": name, "term": term, "unit": localized(unit, "name"),
            "size": size, "is_group": True}  # fmt: skip


def _names(session: Any, user_ids: set[int]) -> dict[int, str]:
    ids = [i for i in user_ids if i is not None]
    if not ids:
        return {}
    return dict(session.exec(select(User.id, User.name).where(col(User.id).in_(ids))).all())


#: How the history names the tracked columns that are not form fields.
_HISTORY_LABELS: dict[str, LazyString] = {
    "section_id": forms.LABELS["section"],
    "group_id": forms.LABELS["group"],
    "overall_score": _l("Overall score"),
    "status": _l("Status"),
    "reason": _l("Reason"),
}


#: Coded values shown with their words.
_VALUE_LABELS: dict[str, dict[str, LazyString]] = {
    "overall_grade": GRADE_NAMES,
    "observer_level": OBSERVER_LEVEL_NAMES,
    "meeting_format": MEETING_FORMAT_NAMES,
    "announced": {True: forms.ANNOUNCED_NAMES["true"], False: forms.ANNOUNCED_NAMES["false"]},  # type: ignore[dict-item]
    "status": FEEDBACK_STATUS_NAMES,
}


def _history(session: Any, feedback: Feedback, items: list[ItemView]) -> list[dict[str, Any]]:
    """The record's revisions, oldest first, each change with a readable label and values."""
    rows = session.exec(
        select(FeedbackRevision, User.name)
        .outerjoin(User, col(User.id) == FeedbackRevision.user_id)
        .where(FeedbackRevision.feedback_id == feedback.id)
        .order_by(col(FeedbackRevision.at), col(FeedbackRevision.id))
    ).all()
    by_code = {item.code: item for item in items}
    ids = {
        name: {v for rev, _ in rows for v in rev.changes.get(name, []) if v is not None}
        for name in ("section_id", "group_id")
    }
    codes: dict[tuple[str, int], str] = {}
    if ids["section_id"]:
        stmt = select(Section.id, Section.code).where(col(Section.id).in_(ids["section_id"]))
        codes.update({("section_id", i): c for i, c in session.exec(stmt).all()})
    if ids["group_id"]:
        stmt = select(TutorGroup.id, TutorGroup.code).where(col(TutorGroup.id).in_(ids["group_id"]))
        codes.update({("group_id", i): c for i, c in session.exec(stmt).all()})

    def shown(name: str, value: Any) -> str:
        if value is None:
            return "—"
        if name in _VALUE_LABELS and value in _VALUE_LABELS[name]:
            return str(_VALUE_LABELS[name][value])
        if (name, value) in codes:
            return codes[(name, value)]
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, float):
            return fmt_num(value, 1) if name == "overall_score" else f"{value:g}"
        if name == "visit_date" and isinstance(value, str):
            try:
                return fmt_date(date.fromisoformat(value))
            except ValueError:
                return value
        return str(value)

    out = []
    for revision, user_name in rows:
        changes = []
        for name, pair in revision.changes.items():
            old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
            if name.startswith("scores."):
                item = by_code.get(name.removeprefix("scores."))
                label = item.shown_label if item else name
            elif name == "visit_date":  # the kind's word: a visit's date, a meeting's date
                label = str(forms.label(feedback.kind, "date"))
            else:
                label = str(
                    _HISTORY_LABELS.get(name) or forms.label(feedback.kind, name)
                    if name in _HISTORY_LABELS or name in forms.LABELS
                    else name
                )
            changes.append({"label": label, "old": shown(name, old), "new": shown(name, new)})
        out.append({"at": revision.at, "by": user_name, "action": revision.action,
                    "changes": changes})  # fmt: skip
    return out
