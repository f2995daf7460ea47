"""The feedback blueprint and what every page on it shares.

The pages live in three modules (:mod:`views` for the forms, :mod:`views_record` for
one record, :mod:`views_lists` for the lists); each adds its routes to ``bp`` from
here, and :mod:`evalsys.web` imports all three before registering it. Keeping the
blueprint apart from the pages means no page module imports another: the old way,
``views`` importing the other two at its foot, was a cycle that worked only while
that import stayed last.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from evalsys.accounts.models import User
from evalsys.clock import to_site_time
from evalsys.feedback import forms
from evalsys.feedback.vocab import (
    FEEDBACK_STATUS_NAMES,
    GRADE_NAMES,
    KIND_NAMES,
    REVISION_ACTION_NAMES,
    FeedbackKind,
)
from evalsys.feedback.writes import edit_window_from_config
from evalsys.i18n import fmt_date

bp = Blueprint("feedback", __name__, url_prefix="/feedback")

#: The button that opens a new form of each kind (the form chooser and the lists show them).
NEW_LABELS: dict[str, LazyString] = {
    FeedbackKind.SPOT_CHECK: _l("New spot check"),
    FeedbackKind.OPEN_CLASS: _l("New open class record"),
    FeedbackKind.TUTOR_GROUP: _l("New tutor group report"),
}


def me() -> User:
    return current_user._get_current_object()


def edit_window() -> timedelta:
    return edit_window_from_config(current_app.config)


def local_time(value: datetime | None) -> str:
    """A stored UTC time on the site's clock, with its UTC offset."""
    if value is None:
        return ""
    local = to_site_time(value, current_app.config)
    offset = local.strftime("%z")  # "+0800": the same in every language, unlike a zone's name
    return f"{fmt_date(local)} {local:%H:%M} (UTC{offset[:3]}:{offset[3:]})"


@bp.record_once
def _globals(state: Any) -> None:
    """What the shared macros (``feedback/_macros.html``) need wherever they are imported."""
    state.app.jinja_env.globals["feedback_status_names"] = FEEDBACK_STATUS_NAMES


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "kind_names": KIND_NAMES,
        "grade_names": GRADE_NAMES,
        "new_labels": NEW_LABELS,
        "action_names": REVISION_ACTION_NAMES,
        "announced_names": forms.ANNOUNCED_NAMES,
        "local_time": local_time,
    }
