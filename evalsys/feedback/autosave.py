"""The form's autosave: a JSON endpoint that keeps what is typed as the user's draft.

The form's script (``static/form.js``) posts the form's fields here about every 20 s
after a change and when the page is hidden, with the CSRF token in the
``X-CSRFToken`` header. The first save stores a draft under the form's
idempotency key; every later one finds the draft by that key (or by the record id
of a draft being finished) and updates it, so two saves never make two drafts.
The same endpoint with ``"submit": true`` sends a visit filled offline: the key
makes it stored exactly once however often it is sent.

A draft is checked like the form's "save draft" (only for what it holds); a
refusal comes back as JSON (422 with the field messages, 403, 409) and the
script says nothing alarming: the text stays on the form and on the device.

The form page also gets two small helpers here: :func:`epoch_ms` (when the server
last stored the record, for comparing with a device copy) and
:func:`forget_device_copy` (a cookie that tells the next page to drop the
device copy of a form the server has now stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from sqlmodel import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from evalsys.accounts.access import FeedbackPerm, feedback_or_404, login_required
from evalsys.accounts.models import User
from evalsys.clock import as_utc, to_site_time, utcnow
from evalsys.db import get_session
from evalsys.feedback.blueprint import bp, edit_window, me
from evalsys.feedback.choices import submittable_kinds
from evalsys.feedback.form_input import find_section, read_form, site_today
from evalsys.feedback.forms import ItemView, feedback_form_class
from evalsys.feedback.idempotency import IdempotencyKeyReused
from evalsys.feedback.inputs import (
    FeedbackPermissionError,
    FeedbackStateError,
    FeedbackValidationError,
)
from evalsys.feedback.models import IDEMPOTENCY_KEY_LIMIT, Feedback, Rubric
from evalsys.feedback.rubrics import current_rubric, rubric_items
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus, values
from evalsys.feedback.writes import submit_feedback, update_feedback
from evalsys.validation import storable

#: The cookie naming the device copy to forget (read and removed by static/evalsys.js).
STORED_COOKIE = "evalsys_stored"

#: Fields the script sends that are not the form's input.
_NOT_INPUT = {"csrf_token", "save_draft", "send"}


def epoch_ms(value: datetime | None) -> int:
    """A stored time (naive meaning UTC) as milliseconds since the epoch, as JavaScript
    counts; 0 for none."""
    if value is None:
        return 0
    return int(as_utc(value).timestamp() * 1000)


def forget_device_copy(response: Response, feedback: Feedback, *, key: str | None) -> Response:
    """Tell the next page that the device copy of this form is stored now (it drops it).

    The value names the user, the kind, the idempotency key of a new form and the
    record: ``user.kind.key.id`` (the script removes the copy of a new form only if
    it holds that key, so a copy of another visit begun meanwhile stays).
    """
    value = f"{feedback.observer_id}.{feedback.kind}.{key or ''}.{feedback.id}"
    response.set_cookie(STORED_COOKIE, value, max_age=600, samesite="Lax", httponly=False)
    return response


def _problems(errors: list[tuple[str, Any]]) -> list[dict[str, str]]:
    return [{"field": name, "message": str(message)} for name, message in errors]


@bp.route("/autosave", methods=["GET", "POST"])
@login_required
def autosave():
    """GET: a fresh CSRF token (a page from the offline cache may hold a stale one).
    POST: save the form as the user's draft (or submit it: ``"submit": true``)."""
    if request.method == "GET":
        return jsonify({"csrf_token": generate_csrf()})
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"errors": _problems([("", _("Send the form as a JSON object."))])}), 400
    user = me()
    kind = body.get("kind")
    fields = body.get("fields")
    key = body.get("key")
    record = body.get("record")
    if kind not in values(FeedbackKind) or not isinstance(fields, dict):
        return jsonify({"errors": _problems([("kind", _("Unknown form."))])}), 400
    if key is not None and (
        not isinstance(key, str) or not storable(key) or len(key) > IDEMPOTENCY_KEY_LIMIT
    ):
        return jsonify({"errors": _problems([("idempotency_key", _("Unusable key."))])}), 400
    session = get_session()
    if kind not in submittable_kinds(session, user=user):
        return jsonify({"errors": _problems([("kind", _("Not allowed."))])}), 403
    submit = body.get("submit") is True
    try:
        feedback = _target(user, record, key)
    except HTTPException as err:  # no such record of the user's, or not theirs to change
        message = _("This draft is no longer there.") if err.code == 404 else _("Not allowed.")
        return jsonify({"errors": _problems([("", message)])}), err.code or 404
    if feedback is not None and feedback.status != FeedbackStatus.DRAFT:
        if record is None:  # sent again after it was submitted: the stored record, once
            return _answer(feedback, replayed=True)
        return jsonify({"conflict": "state", "message": _("This record is not a draft.")}), 409
    if feedback is not None:
        rubric = session.get(Rubric, feedback.rubric_id)
    else:
        rubric = current_rubric(session, kind)
        if rubric is None or str(rubric.id) != str(body.get("rubric")):
            return jsonify(
                {
                    "conflict": "rubric",
                    "message": _(
                        "The form changed since this page was loaded (a new rubric version)."
                    ),
                }
            ), 409
    assert rubric is not None and rubric.id is not None
    items = [ItemView.of(kind, i) for i in rubric_items(session, rubric.id)]
    formdata = MultiDict(
        {str(k): str(v) for k, v in fields.items() if k not in _NOT_INPUT and v is not None}
    )
    form = feedback_form_class(kind, items)(formdata=formdata, meta={"csrf": False})
    try:
        ambiguous = find_section(form, user=user)
        data = read_form(
            form, rubric, user=user, draft=not submit, feedback=feedback, section_error=ambiguous
        )
        if feedback is None:
            stored = submit_feedback(
                session,
                user=user,
                data=data,
                draft=not submit,
                idempotency_key=key,
                today=site_today(),
            )
        else:
            stored = update_feedback(
                session,
                user=user,
                feedback=feedback,
                data=data,
                draft=not submit,
                edit_window=edit_window(),
                today=site_today(),
            )
        session.commit()
    except FeedbackValidationError as err:
        session.rollback()
        return jsonify({"errors": _problems(err.errors)}), 422
    except FeedbackPermissionError as err:
        session.rollback()
        return jsonify({"errors": _problems([(err.field or "", str(err))])}), 403
    except IdempotencyKeyReused as err:
        session.rollback()
        return jsonify({"conflict": "key", "message": str(err), "id": err.feedback_id}), 409
    except FeedbackStateError as err:
        session.rollback()
        return jsonify({"conflict": "state", "message": str(err)}), 409
    return _answer(stored, replayed=False)


def _target(user: User, record: Any, key: Any) -> Feedback | None:
    """The draft this form saves to: the record being finished, or the one under its key."""
    session = get_session()
    if record not in (None, ""):
        try:
            feedback_id = int(record)
        except (TypeError, ValueError):
            feedback_id = 0
        feedback, _access = feedback_or_404(session, feedback_id, user, FeedbackPerm.CHANGE)
        return feedback
    if not key:
        return None
    return session.exec(
        select(Feedback).where(Feedback.observer_id == user.id, Feedback.idempotency_key == key)
    ).first()


def _answer(feedback: Feedback, *, replayed: bool) -> Response:
    saved = to_site_time(feedback.updated_at or utcnow(), current_app.config)
    response = jsonify(
        {
            "id": feedback.id,
            "status": feedback.status,
            "replayed": replayed,
            "saved_at": f"{saved:%H:%M}",
            "url": url_for("feedback.record", feedback_id=feedback.id),
            "edit_url": url_for("feedback.edit", feedback_id=feedback.id),
        }
    )
    if feedback.status != FeedbackStatus.DRAFT:
        forget_device_copy(response, feedback, key=feedback.idempotency_key)
    return response
