"""The feedback form's text as service input, for the form's POST and its autosave alike.

:func:`find_section` lets the section box take a teacher's name or a course title;
:func:`read_form` turns the form into a :class:`FeedbackInput`, refusing what cannot
be read together with every other problem. Both the page (:mod:`views`) and the
JSON autosave (:mod:`autosave`) read a form this way, so a draft saved in the
background holds exactly what the same form would have stored.
"""

from __future__ import annotations

from datetime import date

from flask import current_app
from flask_babel import ngettext
from sqlmodel import select

from evalsys.accounts.models import User
from evalsys.clock import local_today
from evalsys.db import get_session
from evalsys.feedback import forms
from evalsys.feedback.checks import check_feedback
from evalsys.feedback.choices import section_choices
from evalsys.feedback.forms import FeedbackForm
from evalsys.feedback.inputs import INPUT_COLUMNS, FeedbackInput, FeedbackValidationError
from evalsys.feedback.models import Feedback, Rubric
from evalsys.feedback.reads import input_from_feedback
from evalsys.org.models import Section
from evalsys.validation import storable


def site_today() -> date:
    """The site's date (not the server's): a form's default date, the open terms."""
    return local_today(current_app.config)


def find_section(form: FeedbackForm, *, user: User) -> str | None:
    """Let the section box take a teacher's name, a course title or part of a code.

    What is not a section code is searched for as the section page searches (in the
    user's scope): one match is taken, and the box then shows it in full (on a page
    that comes back with other errors, the user sees which section it found); several
    give the message returned, asking to pick one. No match is left to the service,
    which refuses an unknown code as it refuses one outside the scope.
    """
    if "section" not in form.input_fields():
        return None
    text = (form.section.data or "").strip()
    if not text or not storable(text):
        # Nothing to look up; text no database can hold is refused by the service, with
        # every other error, rather than sent to a query.
        return None
    session = get_session()
    code = forms.section_code(text)
    if session.exec(select(Section.id).where(Section.code == code)).first() is not None:
        return None
    found, total = section_choices(
        session, user=user, kind=form.kind, today=site_today(), query=text[:100], limit=1
    )
    if total == 1:
        form.section.data = found[0].label
        return None
    if total > 1:
        return ngettext(
            "“%(text)s” matches %(num)d section in your scope.",
            "“%(text)s” matches %(num)d sections in your scope: pick one from the list, "
            "or type more of its code, course or teacher.",
            total,
            text=text,
        )
    return None


def read_form(
    form: FeedbackForm,
    rubric: Rubric,
    *,
    user: User,
    draft: bool,
    feedback: Feedback | None,
    section_error: str | None = None,
) -> FeedbackInput:
    """The form's text as service input; unreadable values are refused with every other error.

    An edit starts from the stored record, so a field the form does not show
    (a comment sent through the API on a spot check) keeps its value.
    ``section_error`` refuses the section box's text (see :func:`find_section`).
    """
    mapping = form.to_mapping()
    unreadable: list[tuple[str, str]] = []
    if section_error is not None:
        unreadable.append(("section", section_error))
        mapping["section"] = None
    try:
        data = FeedbackInput.from_mapping(mapping)
    except FeedbackValidationError as err:
        unreadable += err.errors
        bad = set(err.fields())
        readable = {k: v for k, v in mapping.items() if k not in bad}
        readable["scores"] = {
            code: v for code, v in mapping["scores"].items() if f"scores.{code}" not in bad
        }
        data = FeedbackInput.from_mapping(readable)
    if feedback is not None:
        stored = input_from_feedback(get_session(), feedback)
        for name in INPUT_COLUMNS:
            if name != "visit_date" and name not in form.input_fields():
                setattr(data, name, getattr(stored, name))
    if unreadable:
        # Check the rest too, so that one page shows every problem; store nothing.
        bad = {name for name, _ in unreadable}
        others: list[tuple[str, str]] = []
        try:
            check_feedback(
                get_session(), user=user, data=data, draft=draft, rubric=rubric, today=site_today()
            )
        except FeedbackValidationError as err:
            others = [(name, message) for name, message in err.errors if name not in bad]
        raise FeedbackValidationError(unreadable + others)
    return data
