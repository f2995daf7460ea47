"""The three feedback forms, built per request from the rubric a record is given on.

The forms hold what the user typed, exactly as typed, and hand it to
:meth:`FeedbackInput.from_mapping` and the service: every rule (scale, date,
counts, scope, text limits, required items) lives in one place, the service,
and reads the same for the forms, the JSON API and the CSV import. WTForms
does what it is good at here: CSRF, rendering, and keeping the user's input
when the page comes back with errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice

from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import TEXT_LIMITS, RubricItem
from evalsys.feedback.vocab import (
    DIMENSION_NAMES,
    DIMENSIONS,
    GRADE_NAMES,
    MEETING_FORMAT_NAMES,
    OBSERVER_LEVEL_NAMES,
    FeedbackKind,
)
from evalsys.i18n import localized
from evalsys.validation import SafeForm, SafePlainForm

#: Labels of the form fields (English msgids; the Chinese are the words on paper forms).
LABELS: dict[str, LazyString] = {
    "section": _l("Section"),
    "group": _l("Tutor group"),
    "date": _l("Date of the visit"),
    "class_period": _l("Class period"),
    "location": _l("Location"),
    "announced": _l("Announced or not"),
    "observer_level": _l("Your role as observer"),
    "meeting_format": _l("Format"),
    "enrolled": _l("Enrolled"),
    "present": _l("Present"),
    "late": _l("Late"),
    "attending": _l("Students attending"),
    "topics": _l("Topics"),
    "overall_grade": _l("Overall grade"),
    "strengths": _l("Strengths"),
    "problems": _l("Problems found"),
    "suggestions": _l("Suggestions"),
    "comment": _l("Comments"),
}

#: Where a kind words a field its own way.
KIND_LABELS_OVERRIDE: dict[str, dict[str, LazyString]] = {
    FeedbackKind.TUTOR_GROUP: {
        "date": _l("Date of the meeting"),
        "problems": _l("Problems raised by students"),
        "suggestions": _l("Suggested adjustments to the training plan"),
    },
}

#: The form of each kind, as titled groups of fields; "scores" stands for the rubric items.
LAYOUT: dict[str, list[tuple[LazyString, tuple[str, ...]]]] = {
    FeedbackKind.SPOT_CHECK: [
        (_l("The class"), ("section", "date", "class_period", "location", "announced")),
        (_l("Attendance"), ("enrolled", "present", "late")),
        (_l("Scores"), ("scores",)),
        (
            _l("Judgement and comments"),
            ("overall_grade", "strengths", "problems", "suggestions"),
        ),
    ],
    FeedbackKind.OPEN_CLASS: [
        (_l("The open class"), ("section", "observer_level", "date")),
        (_l("Scores"), ("scores",)),
        (_l("Judgement and comments"), ("overall_grade", "comment")),
    ],
    FeedbackKind.TUTOR_GROUP: [
        (_l("The meeting"), ("group", "date", "meeting_format", "attending", "topics")),
        (_l("Scores"), ("scores",)),
        (_l("Problems and suggestions"), ("problems", "suggestions")),
    ],
}

#: The input fields each kind's form shows (an edit keeps the stored value of any other).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(name for _, names in groups for name in names if name != "scores")
    for kind, groups in LAYOUT.items()
}

#: What each kind needs before it can be submitted (drafts may leave these empty).
REQUIRED: dict[str, frozenset[str]] = {
    FeedbackKind.SPOT_CHECK: frozenset({"section", "date", "announced"}),
    FeedbackKind.OPEN_CLASS: frozenset({"section", "date", "observer_level"}),
    FeedbackKind.TUTOR_GROUP: frozenset({"group", "date", "meeting_format"}),
}

#: Scales with at most this many steps are a row of buttons; longer ones a number box.
MAX_RADIO_STEPS = 11

#: Separates the section code from the course title and teacher in the search box.
SECTION_LABEL_SEPARATOR = " — "


def label(kind: str, name: str) -> LazyString:
    """A field's label in the reader's language (the kind's own wording where it has one)."""
    return KIND_LABELS_OVERRIDE.get(kind, {}).get(name) or LABELS[name]


def _choices(names: Mapping[str, LazyString]) -> list[SelectChoice]:
    return [SelectChoice(value, name) for value, name in names.items()]


#: How a spot check came about, as the form offers it and the record page shows it.
ANNOUNCED_NAMES: dict[str, LazyString] = {
    "false": _l("Unannounced"),
    "true": _l("Announced"),
}
ANNOUNCED_CHOICES = _choices(ANNOUNCED_NAMES)


@dataclass(frozen=True)
class ItemView:
    """A rubric item as the form and the record page show it (plain values)."""

    code: str
    label: str
    label_en: str | None
    description: str | None
    description_en: str | None
    dimension: str
    dimension_label: str | LazyString
    scale_min: int
    scale_max: int
    weight: float
    required: bool

    @property
    def steps(self) -> list[int]:
        return list(range(self.scale_min, self.scale_max + 1))

    @property
    def radio(self) -> bool:
        return self.scale_max - self.scale_min + 1 <= MAX_RADIO_STEPS

    @property
    def shown_label(self) -> str:
        """The item's label in the reader's language (English where the rubric gives one)."""
        return localized(self, "label")

    @property
    def shown_description(self) -> str:
        return localized(self, "description")

    @classmethod
    def of(cls, kind: str, item: RubricItem) -> ItemView:
        known = item.dimension in DIMENSIONS.get(kind, {})
        dimension = DIMENSION_NAMES.get(item.dimension) if known else None
        return cls(
            code=item.code,
            label=item.label,
            label_en=item.label_en,
            description=item.description,
            description_en=item.description_en,
            dimension=item.dimension,
            dimension_label=dimension or item.dimension,
            scale_min=item.scale_min,
            scale_max=item.scale_max,
            weight=item.weight,
            required=item.required,
        )


class ScoreField(StringField):
    """One item's score as typed (or tapped); the service reads and checks it."""

    def __init__(self, label: str | None = None, *, item: ItemView, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.item = item

    def shows_as_radio(self) -> bool:
        """A row of buttons, unless the value is one no button holds (8.5, or 11 out of scale):
        then a number box, so that nothing the user or the record holds is hidden."""
        if not self.item.radio:
            return False
        value = (self._value() or "").strip()
        return value == "" or value in {str(step) for step in self.item.steps}


class ScoresForm(Form):
    """The rubric's items; a subclass per rubric adds one :class:`ScoreField` per item."""

    codes: dict[str, str] = {}  # item code -> attribute name

    def field_for(self, code: str) -> ScoreField | None:
        name = self.codes.get(code)
        return self[name] if name is not None else None


#: Names a form instance uses itself (set in ``BaseForm.__init__``, not on the class).
_INSTANCE_NAMES = {"meta", "form_errors"}


def _attribute(code: str) -> str:
    """Item codes are safe names, but one could shadow a Form attribute (``data``, ``meta``)."""
    return f"{code}_" if hasattr(ScoresForm, code) or code in _INSTANCE_NAMES else code


def scores_form_class(items: Sequence[ItemView]) -> type[ScoresForm]:
    attrs: dict[str, Any] = {
        _attribute(item.code): ScoreField(LazyString(localized, item, "label"), item=item)
        for item in items
    }
    attrs["codes"] = {item.code: _attribute(item.code) for item in items}
    return type("RubricScoresForm", (ScoresForm,), attrs)


class NumberInput(widgets.NumberInput):
    """A whole-number box that brings up the digit keypad on phones."""

    def __call__(self, field: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("inputmode", "numeric")
        return super().__call__(field, **kwargs)


def _field(kind: str, name: str) -> Any:
    text = label(kind, name)
    if name == "section":
        return StringField(text, render_kw={"autocomplete": "off", "spellcheck": "false"})
    if name == "group":
        return SelectField(text, validate_choice=False, choices=[])
    if name == "date":
        return StringField(text, widget=widgets.DateInput())
    if name in ("enrolled", "present", "late", "attending"):
        return StringField(text, widget=NumberInput(min=0, step=1))
    if name == "announced":
        return RadioField(text, choices=ANNOUNCED_CHOICES, validate_choice=False)
    if name == "observer_level":
        return RadioField(text, choices=_choices(OBSERVER_LEVEL_NAMES), validate_choice=False)
    if name == "meeting_format":
        return RadioField(text, choices=_choices(MEETING_FORMAT_NAMES), validate_choice=False)
    if name == "overall_grade":
        none = SelectChoice("", _l("— Not given —"))
        return SelectField(text, choices=[none, *_choices(GRADE_NAMES)], validate_choice=False)
    if name in ("topics", "strengths", "problems", "suggestions", "comment"):
        return TextAreaField(text, render_kw={"rows": 4})
    return StringField(text)  # class_period, location


class FeedbackForm(SafeForm):
    """The fields common to every kind; :func:`feedback_form_class` adds the kind's own."""

    kind: str = ""
    scores: Any
    #: Text and numbers go through FeedbackInput.from_mapping, which holds them to the
    #: shared rules (evalsys.validation) with every other error at once.
    checks_text_itself = True
    idempotency_key = HiddenField()
    save_draft = SubmitField(_l("Save as draft"))
    send = SubmitField(_l("Submit"))

    def input_fields(self) -> list[str]:
        return list(KIND_FIELDS[self.kind])

    def score_fields(self) -> list[ScoreField]:
        return list(self.scores.form)

    def to_mapping(self) -> dict[str, Any]:
        """What the user gave, as text, keyed like the API's JSON (for ``from_mapping``)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in self.input_fields():
            value = self[name].data
            if name == "section" and isinstance(value, str):
                value = section_code(value)
            out[name] = value
        out["scores"] = {f.item.code: f.data for f in self.score_fields()}
        return out

    def show_errors(self, by_field: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
        """Put each message next to its field; return (field, message) pairs no field shows."""
        general: list[tuple[str, str]] = []
        for name, messages in by_field.items():
            field = self._field_named(name)
            if field is None:
                general.extend((name, message) for message in messages)
            else:
                field.errors = [*field.errors, *messages]
        return general

    def _field_named(self, name: str) -> Any:
        if name.startswith("scores."):
            return self.scores.form.field_for(name.removeprefix("scores."))
        if name in self.input_fields():
            return self[name]
        return None

    def summary(self) -> list[dict[str, str]]:
        """Every field error in page order, for the list at the top of the form."""
        out = []
        for name in self.input_fields():
            field = self[name]
            for message in field.errors:
                anchor = f"{field.id}-0" if isinstance(field, RadioField) else field.id
                out.append(
                    {"anchor": anchor, "label": str(label(self.kind, name)), "text": str(message)}
                )
        for field in self.score_fields():
            for message in field.errors:
                item = field.item
                out.append(
                    {
                        "anchor": f"{field.id}-group",
                        "label": item.shown_label,
                        "text": str(message),
                    }
                )
        return out


def feedback_form_class(kind: str, items: Sequence[ItemView]) -> type[FeedbackForm]:
    """The form of one kind on one rubric version."""
    attrs: dict[str, Any] = {name: _field(kind, name) for name in KIND_FIELDS[kind]}
    attrs["scores"] = FormField(scores_form_class(items), label=_l("Scores"))
    attrs["kind"] = kind
    return type(f"{kind.title().replace('_', '')}Form", (FeedbackForm,), attrs)


def section_code(text: str) -> str:
    """The section code from what the search box holds: ``CODE — title — teacher`` or a code."""
    return text.split(SECTION_LABEL_SEPARATOR.strip(), 1)[0].strip()


def form_data(data: FeedbackInput, *, section_label: str | None = None) -> dict[str, Any]:
    """A record's input as the text a form shows (an edit form, or a draft to finish)."""
    out: dict[str, Any] = {}
    for name in KIND_FIELDS.get(data.kind, ()):
        value = data.date if name == "date" else getattr(data, name)
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif hasattr(value, "isoformat"):
            text = value.isoformat()
        else:
            text = str(value)
        out[name] = text
    if section_label and "section" in out:
        out["section"] = section_label
    out["scores"] = {
        _attribute(code): "" if value is None else f"{value:g}"
        for code, value in data.scores.items()
    }
    return out


def text_limit(name: str) -> int | None:
    return TEXT_LIMITS.get(name)


class WithdrawForm(SafeForm):
    """Withdraw a record (or discard a draft); the reason goes into its history."""

    reason = TextAreaField(_l("Reason (optional)"), render_kw={"rows": 2})
    withdraw = SubmitField(_l("Withdraw"))


class ResponseForm(SafeForm):
    """A teacher's reply to feedback on their section (the service checks the text)."""

    text = TextAreaField(_l("Your response"), render_kw={"rows": 4})
    respond = SubmitField(_l("Send response"))


class FilterForm(SafePlainForm):
    """The reviewers' list filters: a GET form (nothing changes, so no CSRF token)."""

    term = SelectField(_l("Term"), validate_choice=False, choices=[])
    unit = SelectField(_l("Unit"), validate_choice=False, choices=[])
    kind = SelectField(_l("Kind"), validate_choice=False, choices=[])
    teacher = StringField(_l("Teacher"), render_kw={"autocomplete": "off"})
    score_min = StringField(_l("Score from"), widget=NumberInput(min=0, max=100, step="any"))
    score_max = StringField(_l("Score to"), widget=NumberInput(min=0, max=100, step="any"))

    def score(self, name: str) -> float | None:
        """A score bound, or None; a bound that is not a number 0–100 is marked on its field."""
        field = self[name]
        text = (field.data or "").strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 100:
            field.errors = [_("Enter a number from 0 to 100, or leave it empty.")]
            return None
        return value
