"""The import from the web, for school admins: upload the CSV or Excel files, see every
error or exactly what would change (a dry run), then apply that same upload.

The uploaded files wait in ``instance/import-staging/<token>/`` between the preview and
"apply", so nothing is uploaded twice and what is applied is what was previewed
(checked again against the database as it is then). Staged uploads belong to the admin
who made them and are removed when applied, discarded, or a day old.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import MultipleFileField
from wtforms import HiddenField

from evalsys.accounts.access import login_required, require_school_admin
from evalsys.db import get_session
from evalsys.importer.service import READ_NAMES, ImportResult, import_directory
from evalsys.validation import SafeForm

bp = Blueprint("imports", __name__, url_prefix="/admin/import")

#: Every name the import reads, as CSV and as Excel.
ACCEPTED = tuple(n for name in READ_NAMES for n in (name, name.removesuffix(".csv") + ".xlsx"))
STAGING_HOURS = 24
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class UploadForm(SafeForm):
    files = MultipleFileField(_l("Files (.csv or .xlsx)"))


class StagedForm(SafeForm):
    token = HiddenField()


def _gone() -> str:
    """A preview or apply of an upload that was removed."""
    return _(
        "That upload is no longer there (applied, discarded or a day old): upload the files again."
    )


def _staging_root() -> Path:
    return Path(current_app.instance_path) / "import-staging"


def _staged(token: str | None) -> Path | None:
    """The staged upload of ``token`` if it exists and belongs to the current user."""
    if not token or not _TOKEN.match(token):
        return None
    directory = _staging_root() / token
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != current_user.id:
        return None
    return directory


def _clean_old() -> None:
    root = _staging_root()
    if not root.is_dir():
        return
    limit = time.time() - STAGING_HOURS * 3600
    for directory in root.iterdir():
        if directory.is_dir() and directory.stat().st_mtime < limit:
            shutil.rmtree(directory, ignore_errors=True)


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    session = get_session()
    require_school_admin(session)
    form = UploadForm()
    if not form.validate_on_submit():
        return render_template("importer/upload.html", form=form, accepted=ACCEPTED, problems=[])
    uploads = [f for f in (form.files.data or []) if getattr(f, "filename", "")]
    problems = _check_names([f.filename for f in uploads])
    if problems:
        return render_template(
            "importer/upload.html", form=form, accepted=ACCEPTED, problems=problems
        )
    _clean_old()
    token = secrets.token_urlsafe(24)
    directory = _staging_root() / token
    directory.mkdir(parents=True)
    for upload in uploads:
        upload.save(directory / Path(upload.filename).name.lower())
    meta = {"user_id": current_user.id, "files": sorted(Path(f.filename).name for f in uploads)}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return redirect(url_for("imports.preview", token=token))


def _check_names(names: list[str]) -> list[str]:
    if not names:
        return [_("Choose at least one file.")]
    problems, seen = [], set()
    for raw in names:
        name = Path(raw).name.lower()
        if name not in ACCEPTED:
            problems.append(
                _(
                    "%(file)s: not a file the import reads; name it one of %(names)s"
                    " (or the same name ending .xlsx)",
                    file=raw,
                    names=", ".join(READ_NAMES),
                )
            )
        elif name in seen:
            problems.append(_("%(file)s: chosen twice; choose each file once", file=raw))
        seen.add(name)
    return problems


@bp.route("/<token>")
@login_required
def preview(token: str):
    """The dry run of a staged upload: every error, or what applying it would change."""
    session = get_session()
    require_school_admin(session)
    directory = _staged(token)
    if directory is None:
        flash(_gone(), "error")
        return redirect(url_for("imports.index"))
    result = import_directory(session, directory, dry_run=True)
    session.rollback()
    return _render_result(result, token, directory)


@bp.route("/<token>/apply", methods=["POST"])
@login_required
def apply(token: str):
    session = get_session()
    require_school_admin(session)
    if not StagedForm().validate_on_submit():
        abort(400)
    directory = _staged(token)
    if directory is None:
        flash(_gone(), "error")
        return redirect(url_for("imports.index"))
    result = import_directory(session, directory, dry_run=False)
    if result.errors:
        # The database changed since the preview: show what is wrong now, keep the files.
        session.rollback()
        return _render_result(result, token, directory)
    session.commit()
    shutil.rmtree(directory, ignore_errors=True)
    flash(_("Imported: %(summary)s", summary="; ".join(result.report_lines())), "success")
    return redirect(url_for("imports.index"))


@bp.route("/<token>/discard", methods=["POST"])
@login_required
def discard(token: str):
    session = get_session()
    require_school_admin(session)
    if not StagedForm().validate_on_submit():
        abort(400)
    directory = _staged(token)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
    flash(_("Discarded the upload; nothing was imported."), "info")
    return redirect(url_for("imports.index"))


def _render_result(result: ImportResult, token: str, directory: Path):
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    nothing = not result.errors and not any(
        c["created"] or c["updated"] for c in result.counts.values()
    )
    return render_template(
        "importer/preview.html",
        result=result,
        token=token,
        files=meta["files"],
        nothing_to_do=nothing,
        form=StagedForm(token=token),
    )
