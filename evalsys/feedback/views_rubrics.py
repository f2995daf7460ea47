"""The admins' rubric pages: every version of every kind, a new version from a file or
pasted text, publishing a draft, and a version's file to download and edit.

The same checks as ``evalsys rubric load`` (one parser, :mod:`evalsys.feedback.rubrics`):
a rubric with mistakes is refused with every mistake listed, and the text stays in the
box to be corrected, uploaded or pasted alike.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from evalsys.accounts.access import login_required, require_school_admin
from evalsys.db import get_session
from evalsys.feedback import rubrics
from evalsys.feedback.vocab import (
    DIMENSION_NAMES,
    DIMENSIONS,
    KIND_NAMES,
    RUBRIC_STATUS_NAMES,
    FeedbackKind,
    RubricStatus,
    name_of,
    values,
)
from evalsys.i18n import fmt_num
from evalsys.validation import SafeForm

bp = Blueprint("rubrics", __name__, url_prefix="/admin/rubrics")

#: A rubric is a page of text; anything far larger is a wrong file.
TEXT_LIMIT = 200_000


class PublishForm(SafeForm):
    """Empty: a POST with a CSRF token."""


class RubricUploadForm(SafeForm):
    file = FileField(_l("Rubric file (.toml or .json)"))
    text = TextAreaField(
        _l("…or the rubric itself"), validators=[Optional(), Length(max=TEXT_LIMIT)]
    )
    fmt = SelectField(
        _l("Format of the text"),
        choices=[SelectChoice("json", "JSON"), SelectChoice("toml", "TOML")],
    )
    then = RadioField(
        _l("Then"),
        choices=[
            SelectChoice("publish", _l("Publish it: new feedback uses it from now on")),
            SelectChoice("draft", _l("Keep it as a draft to check first")),
        ],
        default="publish",
    )


def _names() -> dict:
    """The reader's words for kinds, statuses and dimensions (the templates show no codes)."""
    return {
        "kind_names": KIND_NAMES,
        "status_names": RUBRIC_STATUS_NAMES,
        "dimension_names": DIMENSION_NAMES,
    }


def _kind_or_404(kind: str) -> str:
    if kind not in values(FeedbackKind):
        abort(404)
    return kind


@bp.route("/")
@login_required
def index():
    session = get_session()
    require_school_admin(session)
    rows = rubrics.list_rubrics(session)
    current = {k: r.id for k in values(FeedbackKind) if (r := rubrics.current_rubric(session, k))}
    by_kind: dict[str, list] = {k: [] for k in values(FeedbackKind)}
    for rubric, count in rows:
        by_kind[rubric.kind].append((rubric, count, current.get(rubric.kind) == rubric.id))
    return render_template("rubrics/index.html", by_kind=by_kind, **_names())


@bp.route("/<kind>/<int:version>")
@login_required
def show(kind: str, version: int):
    session = get_session()
    require_school_admin(session)
    rubric = rubrics.get_rubric(session, _kind_or_404(kind), version)
    if rubric is None:
        abort(404)
    assert rubric.id is not None  # a stored rubric
    items = rubrics.rubric_items(session, rubric.id)
    current = rubrics.current_rubric(session, kind)
    return render_template(
        "rubrics/show.html",
        rubric=rubric,
        items=items,
        is_current=current is not None and current.id == rubric.id,
        total_weight=sum(i.weight for i in items),
        dimensions=DIMENSIONS[kind],
        form=PublishForm(),
        **_names(),
    )


@bp.route("/<kind>/<int:version>.json")
@login_required
def download(kind: str, version: int):
    """The version in the file format: edited and loaded again, it becomes a new version."""
    session = get_session()
    require_school_admin(session)
    rubric = rubrics.get_rubric(session, _kind_or_404(kind), version)
    if rubric is None:
        abort(404)
    body = json.dumps(rubrics.rubric_as_dict(session, rubric), ensure_ascii=False, indent=2)
    filename = f"{kind}-v{version}.json"
    return Response(
        body + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/<kind>/<int:version>/publish", methods=["POST"])
@login_required
def publish(kind: str, version: int):
    session = get_session()
    require_school_admin(session)
    form = PublishForm()
    if not form.validate_on_submit():
        abort(400)
    rubric = rubrics.get_rubric(session, _kind_or_404(kind), version)
    if rubric is None:
        abort(404)
    try:
        rubrics.publish_rubric(session, rubric, user_id=current_user.id)
    except rubrics.RubricError as err:
        session.rollback()
        flash(_("Not published: %(reason)s.", reason=err), "error")
    else:
        session.commit()
        flash(
            _(
                "Published %(kind)s v%(version)s: new %(kind)s feedback uses it from now on.",
                kind=name_of(KIND_NAMES, kind),
                version=version,
            ),
            "success",
        )
    return redirect(url_for("rubrics.show", kind=kind, version=version))


@bp.route("/<kind>/new", methods=["GET", "POST"])
@login_required
def new(kind: str):
    """A new version of ``kind``; the box starts with the current version to edit."""
    session = get_session()
    require_school_admin(session)
    _kind_or_404(kind)
    form = RubricUploadForm()
    errors: list[str] = []
    if request.method == "GET":
        base = rubrics.get_rubric(session, kind)
        if base is not None:
            form.text.data = json.dumps(
                rubrics.rubric_as_dict(session, base), ensure_ascii=False, indent=2
            )
            form.fmt.data = "json"
    elif form.validate_on_submit():
        text, fmt, source, errors = _submitted_text(form)
        if not errors:
            try:
                spec = rubrics.read_rubric_text(text, fmt, source=source)
                if spec.kind != kind:
                    raise rubrics.RubricFileError(
                        source,
                        [
                            _(
                                "kind: this is a rubric for %(kind)s; open its own page to load it",
                                kind=name_of(KIND_NAMES, spec.kind),
                            )
                        ],
                    )
                rubric = rubrics.create_rubric(
                    session, spec, publish=form.then.data == "publish", user_id=current_user.id
                )
            except rubrics.RubricFileError as err:
                session.rollback()
                errors = err.errors
            except rubrics.RubricError as err:
                session.rollback()
                errors = [str(err)]
            else:
                session.commit()
                if rubric.status == RubricStatus.PUBLISHED:
                    message = _(
                        "Stored %(kind)s v%(version)s, published.",
                        kind=name_of(KIND_NAMES, kind),
                        version=rubric.version,
                    )
                else:
                    message = _(
                        "Stored %(kind)s v%(version)s as a draft.",
                        kind=name_of(KIND_NAMES, kind),
                        version=rubric.version,
                    )
                flash(message, "success")
                return redirect(url_for("rubrics.show", kind=kind, version=rubric.version))
        # Whatever came in stays in the box to be corrected, an uploaded file included.
        form.text.data, form.fmt.data = text, fmt
    else:
        errors = [
            _("%(field)s: %(problems)s", field=form[name].label.text, problems="; ".join(msgs))
            for name, msgs in form.errors.items()
        ]
    return render_template("rubrics/new.html", form=form, kind=kind, errors=errors, **_names())


def _submitted_text(form: RubricUploadForm) -> tuple[str, str, str, list[str]]:
    """(text, format, source name, errors) from the upload if there is one, else the box."""
    upload = form.file.data
    text, fmt = form.text.data or "", form.fmt.data or "json"
    if upload is not None and getattr(upload, "filename", None):
        name = upload.filename
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        raw = upload.read(TEXT_LIMIT + 1)
        if suffix not in ("toml", "json"):
            return text, fmt, name, [_("%(file)s: use a .toml or .json file", file=name)]
        if len(raw) > TEXT_LIMIT:
            return (
                text,
                fmt,
                name,
                [
                    _(
                        "%(file)s: larger than %(limit)s bytes; not a rubric",
                        file=name,
                        limit=fmt_num(TEXT_LIMIT, 0),
                    )
                ],
            )
        try:
            return raw.decode("utf-8"), suffix, name, []
        except UnicodeDecodeError:
            message = _("%(file)s: not UTF-8 text; save it as UTF-8 and try again", file=name)
            return text, fmt, name, [message]
    if not text.strip():
        return text, fmt, _("the text"), [_("Choose a file or paste the rubric in the box.")]
    return text, fmt, _("the text"), []
