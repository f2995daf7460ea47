"""What a caller hands the feedback service, and the errors it gets back.

Forms, the JSON API and the CSV import all build a :class:`FeedbackInput`.
:class:`FeedbackFields` (a pydantic model) reads one from JSON values, CSV
strings or a form's data, and names every field it cannot read: the API
validates its body with it (as ``FeedbackIn``, which adds ``status``), and
:meth:`FeedbackInput.from_mapping` uses it for the import and the forms, so a
value is read the same way whichever path it comes by. Field names here are the
API's JSON keys (``date``, ``section``, ``scores.ITEM_CODE``), so an error list
can go back to a client unchanged.

The model reads; it does not judge. Whether a code names a kind, a grade or a
section, whether a count or a text is within bounds, whether the date lies in the
term: those rules need the database or other fields, and
:func:`evalsys.feedback.checks.check_feedback` applies them all at once, for every
path. The model's JSON schema still shows those bounds and choices (written from
the same constants), so the API's document says what the checks will hold a
client to.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, ClassVar

from flask import has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic.config import JsonDict

from evalsys.feedback.models import TEXT_LIMITS
from evalsys.feedback.vocab import FeedbackKind, Grade, MeetingFormat, ObserverLevel, values
from evalsys.validation import (
    MAX_COUNT,
    Message,
    field_errors,
    read_as,
    refuse,
    stored_text,
    text_problem,
    to_int,
    to_number,
)

#: Text fields (limits in :data:`evalsys.feedback.models.TEXT_LIMITS`).
TEXT_FIELDS = (
    "class_period",
    "location",
    "topics",
    "strengths",
    "problems",
    "suggestions",
    "comment",
)
COUNT_FIELDS = ("enrolled", "present", "late", "attending")
#: The columns of :class:`~evalsys.feedback.models.Feedback` that come from the input
#: (``date`` is stored as visit_date; the section or group is stored as its id).
INPUT_COLUMNS = (
    "visit_date",
    "announced",
    "observer_level",
    "meeting_format",
    *COUNT_FIELDS,
    "overall_grade",
    *TEXT_FIELDS,
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "yes", "y", "1", "是", "t"}
_FALSE = {"false", "no", "n", "0", "否", "f"}


@contextmanager
def english() -> Iterator[None]:
    """English for programs (the API) when an app is at hand; plain msgids otherwise."""
    if has_app_context():
        with force_locale("en"):
            yield
    else:
        yield


class FeedbackError(Exception):
    """Something the feedback service refuses; subclasses say how a caller should answer."""


class FeedbackValidationError(FeedbackError):
    """Bad input: every problem found, as (field, message) pairs. Nothing was stored.

    Messages are lazy gettext strings: a form shows them in the reader's language,
    while :meth:`as_json` (the API) writes them in English.
    """

    def __init__(self, errors: list[tuple[str, Message]]) -> None:
        self.errors = list(errors)
        super().__init__()

    def __str__(self) -> str:
        return "; ".join(f"{f}: {m}" if f else str(m) for f, m in self.errors)

    def fields(self) -> list[str]:
        return [f for f, _ in self.errors]

    def by_field(self) -> dict[str, list[str]]:
        """Messages by field, as text in the current language."""
        out: dict[str, list[str]] = {}
        for name, message in self.errors:
            out.setdefault(name, []).append(str(message))
        return out

    def as_json(self) -> list[dict[str, str]]:
        """For an API's 422 body (in English, whatever the caller's language)."""
        with english():
            return [{"field": f, "message": str(m)} for f, m in self.errors]


class FeedbackPermissionError(FeedbackError):
    """The user may not do this here (an API answers 403; a form shows it at ``field``).

    ``message`` is English (the API, logs); ``str(err)`` is in the reader's language.
    """

    def __init__(self, field: str | None, message: Message) -> None:
        self.field = field
        self.text = message
        super().__init__()

    @property
    def message(self) -> str:
        with english():
            return str(self.text)

    def __str__(self) -> str:
        return str(self.text)


class FeedbackStateError(FeedbackError):
    """The record is not in a state that allows this (withdrawn, edit window closed...)."""


@dataclass
class FeedbackInput:
    """One feedback record as the user gave it; ``scores`` maps item codes to values."""

    kind: str
    section: str | None = None
    group: str | None = None
    date: dt.date | None = None
    class_period: str | None = None
    location: str | None = None
    announced: bool | None = None
    observer_level: str | None = None
    meeting_format: str | None = None
    enrolled: int | None = None
    present: int | None = None
    late: int | None = None
    attending: int | None = None
    topics: str | None = None
    overall_grade: str | None = None
    strengths: str | None = None
    problems: str | None = None
    suggestions: str | None = None
    comment: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Any) -> FeedbackInput:
        """Read JSON values or CSV strings; raise one error listing every unreadable field."""
        if not isinstance(data, Mapping):
            raise FeedbackValidationError([("", _l("expected an object of feedback fields"))])
        try:
            read = FeedbackFields.model_validate(dict(data))
        except ValidationError as err:
            raise FeedbackValidationError(field_errors(err, FeedbackFields.REQUIRED)) from None
        return read.to_input()


def clean(value: Any) -> Any:
    """Strip text; empty text is no answer (None). Other values pass unchanged."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _to_int(value: Any) -> int | None:
    # Bounds are the checks' (0..MAX_COUNT, said in words); here only "a whole number".
    return to_int(value, lo=None, hi=None)


def _to_float(value: Any) -> float | None:
    return to_number(value)


def _to_bool(value: Any) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if _is_int(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(value)


def _to_date(value: Any) -> dt.date | None:
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        raise ValueError(value)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        return dt.date.fromisoformat(value.strip())
    raise ValueError(value)


# --- reading: the pydantic model behind the API's FeedbackIn and from_mapping -----------

MUST_BE_TEXT = _l("must be text")
KIND_REQUIRED = _l("required: spot_check, open_class or tutor_group")


def _kind(value: Any) -> Any:
    if value is None or value == "":
        raise refuse(KIND_REQUIRED)
    return stored_text(value)


def _code(value: Any) -> Any:
    if _is_int(value):
        return str(value)  # a numeric code in JSON or a spreadsheet
    return stored_text(value)


def _score_code(value: Any) -> Any:
    if isinstance(value, str) and (problem := text_problem(value)) is not None:
        raise refuse(problem)
    return value


def _scores(value: Any) -> Any:
    if value is None or value == "":
        return None
    if not isinstance(value, Mapping):
        raise refuse(_l("must be an object mapping item codes to numbers"))
    return dict(value)


Text = Annotated[str | None, read_as(MUST_BE_TEXT, stored_text)]
#: A code of something in the database: a spreadsheet may hold a numeric one as a number.
Code = Annotated[str | None, read_as(MUST_BE_TEXT, _code)]
Count = Annotated[int | None, read_as(_l("must be a whole number"), _to_int)]
#: Read as None when left out (the checks then say "required", with the record's other
#: errors), but shown as what it must be: a date, and required.
Date = Annotated[
    dt.date | None,
    read_as(_l("must be a date written YYYY-MM-DD"), _to_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]
Score = Annotated[float | None, read_as(_l("must be a number"), _to_float)]
ScoreCode = Annotated[str, read_as(MUST_BE_TEXT, _score_code)]


def _choice(enum: Any, description: str) -> Any:
    """A code the checks hold to ``enum`` (shown in the schema; null is no answer)."""
    return Field(None, description=description, json_schema_extra={"enum": [*values(enum), None]})


def _text(name: str, description: str) -> Any:
    """Text the checks hold to its column's limit (after trimming spaces)."""
    return Field(None, description=description, json_schema_extra={"maxLength": TEXT_LIMITS[name]})


def _count(description: str) -> Any:
    """A head count the checks hold to 0..MAX_COUNT."""
    schema: JsonDict = {"minimum": 0, "maximum": MAX_COUNT}
    return Field(None, description=description, json_schema_extra=schema)


def _date_required(schema: JsonDict) -> None:
    required = schema.setdefault("required", [])
    assert isinstance(required, list)
    required.append("date")


class FeedbackFields(BaseModel):
    """A new feedback record. Unknown keys are refused. Besides the types shown, counts and
    scores may be numbers written as strings, section and group numbers, and announced one
    of yes/no/true/false/1/0 (as the CSV import reads them); empty text is no answer."""

    model_config = ConfigDict(
        extra="forbid", title="FeedbackFields", json_schema_extra=_date_required
    )

    #: What a field left out is told (the others: "required").
    REQUIRED: ClassVar[dict[str, Message]] = {"kind": KIND_REQUIRED}

    kind: Annotated[str, read_as(MUST_BE_TEXT, _kind)] = Field(
        description="What kind of feedback this is.",
        json_schema_extra={"enum": list(values(FeedbackKind))},
    )
    section: Code = Field(
        None,
        description="Code of the section visited (spot_check, open_class); must be within "
        "your scope. Leave out for tutor_group.",
    )
    group: Code = Field(None, description="Code of your tutor group (tutor_group only).")
    date: Date = Field(
        None,
        description="Day of the visit or meeting, YYYY-MM-DD: inside the term of the section "
        "or group, not in the future.",
    )
    class_period: Text = _text("class_period", "e.g. 3-4节")
    location: Text = _text("location", "Room or place.")
    announced: Annotated[bool | None, read_as(_l("must be true or false"), _to_bool)] = Field(
        None, description="spot_check only, and required there: was the visit announced?"
    )
    observer_level: Text = _choice(ObserverLevel, "open_class only, and required there.")
    meeting_format: Text = _choice(MeetingFormat, "tutor_group only, and required there.")
    enrolled: Count = _count("Students enrolled (not for tutor_group).")
    present: Count = _count("Students present; at most enrolled (not for tutor_group).")
    late: Count = _count("Students late; at most present (not for tutor_group).")
    attending: Count = _count("Students attending (tutor_group only).")
    topics: Text = _text("topics", "Topics discussed (tutor_group).")
    overall_grade: Text = _choice(Grade, "The observer's overall judgement.")
    strengths: Text = _text("strengths", "Strengths seen.")
    problems: Text = _text("problems", "Problems found, or raised by students.")
    suggestions: Text = _text("suggestions", "Suggestions, adjustments to the plan.")
    comment: Text = _text("comment", "Anything else.")
    scores: Annotated[dict[ScoreCode, Score] | None, BeforeValidator(_scores)] = Field(
        None,
        description="Item code -> value on the item's scale (see GET /rubrics). Every "
        "required item of the current rubric needs a value unless status is draft.",
    )

    def to_input(self) -> FeedbackInput:
        values_ = {name: getattr(self, name) for name in _INPUT_FIELDS}
        return FeedbackInput(**values_ | {"scores": self.scores or {}})


#: The fields of a record, in order: FeedbackInput's, which FeedbackFields must match.
_INPUT_FIELDS = tuple(f.name for f in fields(FeedbackInput))
assert tuple(FeedbackFields.model_fields) == _INPUT_FIELDS, (
    "FeedbackFields and FeedbackInput name different fields"
)
