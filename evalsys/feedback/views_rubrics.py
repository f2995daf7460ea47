"""The admins' rubric pages: every version of every kind, a new version from a file or
pasted text, publishing a draft, and a version's file to download and edit.

The same checks as ``evalsys rubric load`` (one parser, :mod:`evalsys.feedback.rubrics`):
a rubric with mistakes is refused with every mistake listed, and the text stays in the
box to be corrected, uploaded or pasted alike.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from evalsys.accounts.access import login_required, require_school_admin
from evalsys.db import get_session
from evalsys.feedback import rubrics
from evalsys.feedback.vocab import DIMENSIONS, FeedbackKind, RubricStatus, values

bp = Blueprint("rubrics", __name__, url_prefix="/admin/rubrics")

#: A rubric is a page of text; anything far larger is a wrong file.
TEXT_LIMIT = 200_000


class PublishForm(FlaskForm):
    """Empty: a POST with a CSRF token."""


class RubricUploadForm(FlaskForm):
    file = FileField("Rubric file (.toml or .json)")
    text = TextAreaField("…or the rubric itself", validators=[Optional(), Length(max=TEXT_LIMIT)])
    fmt = SelectField(
        "Format of the text", choices=[SelectChoice("json", "JSON"), SelectChoice("toml", "TOML")]
    )
    then = RadioField(
        "Then",
        choices=[
            SelectChoice("publish", "Publish it: new feedback uses it from now on"),
            SelectChoice("draft", "Keep it as a draft to check first"),
        ],
        default="publish",
    )


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
    return render_template("rubrics/index.html", by_kind=by_kind)


@bp.route("/<kind>/<int:version>")
@login_required
def show(kind: str, version: int):
    session = get_session()
    require_school_admin(session)
    rubric = rubrics.get_rubric(session, _kind_or_404(kind), version)
    if rubric is None:
        abort(404)
    items = rubrics.rubric_items(session, rubric.id)  # type: ignore[arg-type]
    current = rubrics.current_rubric(session, kind)
    return render_template(
        "rubrics/show.html",
        rubric=rubric,
        items=items,
        is_current=current is not None and current.id == rubric.id,
        total_weight=sum(i.weight for i in items),
        dimensions=DIMENSIONS[kind],
        form=PublishForm(),
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
        flash(f"Not published: {err}.", "error")
    else:
        session.commit()
        flash(f"Published {kind} v{version}: new {kind} feedback uses it from now on.", "success")
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
                        [f"kind: this is a {spec.kind} rubric; open its own page to load it"],
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
                state = "published" if rubric.status == RubricStatus.PUBLISHED else "a draft"
                flash(f"Stored {kind} v{rubric.version}, {state}.", "success")
                return redirect(url_for("rubrics.show", kind=kind, version=rubric.version))
        # Whatever came in stays in the box to be corrected, an uploaded file included.
        form.text.data, form.fmt.data = text, fmt
    else:
        errors = [
            f"{form[name].label.text}: {'; '.join(msgs)}" for name, msgs in form.errors.items()
        ]
    return render_template("rubrics/new.html", form=form, kind=kind, errors=errors)


def _submitted_text(form: RubricUploadForm) -> tuple[str, str, str, list[str]]:
    """(text, format, source name, errors) from the upload if there is one, else the box."""
    upload = form.file.data
    text, fmt = form.text.data or "", form.fmt.data or "json"
    if upload is not None and getattr(upload, "filename", ""):
        name = upload.filename
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        raw = upload.read(TEXT_LIMIT + 1)
        if suffix not in ("toml", "json"):
            return text, fmt, name, [f"{name}: use a .toml or .json file"]
        if len(raw) > TEXT_LIMIT:
            return text, fmt, name, [f"{name}: larger than {TEXT_LIMIT:,} bytes; not a rubric"]
        try:
            return raw.decode("utf-8"), suffix, name, []
        except UnicodeDecodeError:
            return text, fmt, name, [f"{name}: not UTF-8 text; save it as UTF-8 and try again"]
    if not text.strip():
        return text, fmt, "the text", ["Choose a file or paste the rubric in the box."]
    return text, fmt, "the text", []
