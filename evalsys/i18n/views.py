"""The language switch in the page header: a POST, so it carries a CSRF token like every form."""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice

from evalsys.accounts.access import public
from evalsys.accounts.models import User
from evalsys.accounts.views import safe_next
from evalsys.db import get_session
from evalsys.i18n import LOCALE_NAMES, LOCALES, SESSION_KEY, current_locale
from evalsys.validation import SafeForm

bp = Blueprint("i18n", __name__)


class LanguageForm(SafeForm):
    locale = SelectField(
        _l("Language"), choices=[SelectChoice(code, LOCALE_NAMES[code]) for code in LOCALES]
    )
    next = HiddenField()


def language_form() -> LanguageForm:
    """The header's form, pre-set to the page's language and to come back to this page."""
    form = LanguageForm(formdata=None)
    form.locale.data = current_locale()
    form.next.data = request.full_path.rstrip("?") if request.method == "GET" else ""
    return form


@bp.route("/language", methods=["POST"])
@public
def switch():
    """Keep the choice on the account (emails and reports follow it), else in the session."""
    form = LanguageForm()
    if form.validate_on_submit():
        session[SESSION_KEY] = form.locale.data
        if current_user.is_authenticated:
            db = get_session()
            user = db.get(User, current_user.id)
            user.locale = form.locale.data
            db.commit()
    return redirect(safe_next(form.next.data) or url_for("home.index"))
