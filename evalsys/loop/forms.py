"""The loop's forms. They hold what the user typed, as typed; the service checks it.

Every rule lives in the service (:mod:`evalsys.loop.rules` and the modules beside it); a
refusal comes back as one message per field, which the view puts on the field, so the
page returns with the message beside the field and nothing the user typed lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    Form,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from evalsys.loop.models import (
    ACTION_STATUS_NAMES,
    CATEGORY_NAMES,
    SEVERITY_NAMES,
    STATUS_NAMES,
)
from evalsys.validation import MAX_INT, SafeForm, SafePlainForm, to_int


def choices(names: Mapping[str, Any], *, blank: Any = None) -> list:
    """Options from a dict of lazy names: translated when the select is rendered."""
    out = [SelectChoice("", blank)] if blank is not None else []
    return out + [SelectChoice(value, name) for value, name in names.items()]


class FilterForm(SafePlainForm):
    """The problems list's filters (GET: no CSRF, nothing changes)."""

    term = SelectField(_l("Term"), validate_choice=False, choices=[])
    status = SelectField(
        _l("Status"), validate_choice=False, choices=choices(STATUS_NAMES, blank=_l("All"))
    )
    category = SelectField(
        _l("Category"), validate_choice=False, choices=choices(CATEGORY_NAMES, blank=_l("All"))
    )
    severity = SelectField(
        _l("Severity"), validate_choice=False, choices=choices(SEVERITY_NAMES, blank=_l("All"))
    )


class ProposeForm(SafeForm):
    term = HiddenField()


class ProblemForm(SafeForm):
    title = StringField(_l("Problem"))
    category = SelectField(_l("Category"), validate_choice=False, choices=choices(CATEGORY_NAMES))
    severity = SelectField(_l("Severity"), validate_choice=False, choices=choices(SEVERITY_NAMES))
    description = TextAreaField(_l("Description (optional)"))


class StatusForm(SafeForm):
    to = HiddenField()
    reason = TextAreaField(_l("Reason (required to dismiss)"))


class MergeForm(SafeForm):
    target = SelectField(_l("Merge into"), validate_choice=False, choices=[])


class MeetingForm(SafeForm):
    # A date picker where the browser has one; the server still reads and checks the text.
    held_on = StringField(_l("Date"), render_kw={"type": "date"})
    title = StringField(_l("Topic"))
    attendees = SelectMultipleField(
        _l("Attendees"),
        validate_choice=False,
        choices=[],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    other_attendees = TextAreaField(_l("Other attendees (names, one per line)"))
    problems = SelectMultipleField(
        _l("Problems discussed"),
        validate_choice=False,
        choices=[],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    decisions = TextAreaField(_l("Decisions"))


class ActionForm(SafeForm):
    title = StringField(_l("What will be done"))
    owner_id = SelectField(_l("Owner"), validate_choice=False, choices=[])
    due_date = StringField(_l("Due date"), render_kw={"type": "date"})
    meeting_id = SelectField(_l("Decided at meeting"), validate_choice=False, choices=[])
    notes = TextAreaField(_l("Notes"))
    plan_course_id = SelectField(_l("Course"), validate_choice=False, choices=[])
    plan_programme_id = SelectField(_l("Programme"), validate_choice=False, choices=[])
    plan_change = TextAreaField(_l("What changes in the training plan"))
    plan_from_term_id = SelectField(_l("From term"), validate_choice=False, choices=[])


class ActionStatusForm(SafeForm):
    """What an owner may change: the status and the notes."""

    status = SelectField(_l("Status"), validate_choice=False, choices=choices(ACTION_STATUS_NAMES))
    notes = TextAreaField(_l("Notes"))


def parse_date(value: str | None) -> tuple[date | None, str | None]:
    """A YYYY-MM-DD date, or an error message; empty is None without error."""
    value = (value or "").strip()
    if not value:
        return None, None
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return None, _("“%(value)s” is not a date; write it as YYYY-MM-DD.", value=value)


def parse_id(value: str | None) -> tuple[int | None, str | None]:
    value = (value or "").strip()
    if not value:
        return None, None
    try:
        return to_int(value, lo=1, hi=MAX_INT), None  # an id: what an integer column holds
    except ValueError:
        return None, _("Choose from the list.")


def put_errors(form: Form, errors: Mapping[str, str]) -> None:
    """Show the service's messages next to their fields (unknown names on the first field)."""
    # short_name: the attribute name, without the form's prefix ("title", not "e-title").
    names = [f.short_name for f in form if f.short_name != "csrf_token"]
    for name, message in errors.items():
        field = getattr(form, name, None) if name in names else None
        if field is None:
            field = getattr(form, names[0])
        field.errors = [*field.errors, message]
