"""The loop's forms. They hold what the user typed, as typed; the service checks it.

Every rule lives in :mod:`evalsys.loop.service`; a refusal comes back as one
message per field, which the view puts on the field, so the page returns with
the message beside the field and nothing the user typed lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from flask_wtf import FlaskForm
from wtforms import (
    Form,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice

from evalsys.loop.models import (
    ACTION_STATUS_LABELS,
    CATEGORY_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
)


def choices(labels: Mapping[str, tuple[str, str]], *, blank: str | None = None) -> list:
    out = [SelectChoice("", blank)] if blank is not None else []
    return out + [SelectChoice(value, f"{zh} {en}") for value, (zh, en) in labels.items()]


class FilterForm(Form):
    """The problems list's filters (GET: no CSRF, nothing changes)."""

    term = SelectField("学期 Term", validate_choice=False, choices=[])
    status = SelectField(
        "状态 Status", validate_choice=False, choices=choices(STATUS_LABELS, blank="All")
    )
    category = SelectField(
        "类别 Category", validate_choice=False, choices=choices(CATEGORY_LABELS, blank="All")
    )
    severity = SelectField(
        "程度 Severity", validate_choice=False, choices=choices(SEVERITY_LABELS, blank="All")
    )


class ProposeForm(FlaskForm):
    term = HiddenField()


class ProblemForm(FlaskForm):
    title = StringField("问题 Title")
    category = SelectField("类别 Category", validate_choice=False, choices=choices(CATEGORY_LABELS))
    severity = SelectField("程度 Severity", validate_choice=False, choices=choices(SEVERITY_LABELS))
    description = TextAreaField("说明 Description (optional)")


class StatusForm(FlaskForm):
    to = HiddenField()
    reason = TextAreaField("理由 Reason (required to dismiss)")


class MergeForm(FlaskForm):
    target = SelectField("合并到 Merge into", validate_choice=False, choices=[])


class MeetingForm(FlaskForm):
    held_on = StringField("日期 Date (YYYY-MM-DD)")
    title = StringField("主题 Title")
    attendees = SelectMultipleField("参会人 Attendees", validate_choice=False, choices=[])
    other_attendees = TextAreaField("其他参会人 Other attendees (names, one per line)")
    problems = SelectMultipleField(
        "讨论的问题 Problems discussed", validate_choice=False, choices=[]
    )
    decisions = TextAreaField("决定 Decisions")


class ActionForm(FlaskForm):
    title = StringField("整改措施 What will be done")
    owner_id = SelectField("负责人 Owner", validate_choice=False, choices=[])
    due_date = StringField("截止日期 Due date (YYYY-MM-DD)")
    meeting_id = SelectField("会议 Decided at meeting", validate_choice=False, choices=[])
    notes = TextAreaField("备注 Notes")
    plan_course_id = SelectField("课程 Course", validate_choice=False, choices=[])
    plan_programme = StringField("专业 Programme")
    plan_change = TextAreaField("调整内容 What changes in the training plan")
    plan_from_term_id = SelectField("起始学期 From term", validate_choice=False, choices=[])


class ActionStatusForm(FlaskForm):
    """What an owner may change: the status and the notes."""

    status = SelectField(
        "状态 Status", validate_choice=False, choices=choices(ACTION_STATUS_LABELS)
    )
    notes = TextAreaField("备注 Notes")


def parse_date(value: str | None) -> tuple[date | None, str | None]:
    """A YYYY-MM-DD date, or an error message; empty is None without error."""
    value = (value or "").strip()
    if not value:
        return None, None
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return None, f"“{value}” is not a date; write it as YYYY-MM-DD."


def parse_id(value: str | None) -> tuple[int | None, str | None]:
    value = (value or "").strip()
    if not value:
        return None, None
    try:
        return int(value), None
    except ValueError:
        return None, "Choose from the list."


def put_errors(form: Form, errors: Mapping[str, str]) -> None:
    """Show the service's messages next to their fields (unknown names on the first field)."""
    # short_name: the attribute name, without the form's prefix ("title", not "e-title").
    names = [f.short_name for f in form if f.short_name != "csrf_token"]
    for name, message in errors.items():
        field = getattr(form, name, None) if name in names else None
        if field is None:
            field = getattr(form, names[0])
        field.errors = [*field.errors, message]
