"""The API's bodies, queries and answers as pydantic models: the OpenAPI document is built
from these (:mod:`evalsys.api.spec`), requests are validated with them, and every answer
the views send is checked against its model on the way out.

Input models read (types, unknown keys, text no database can store); what needs the
database or other fields (a known term, a section in scope, a date in term, counts
within bounds) is checked after them, and their messages are ours, in the API's one
error shape (:class:`Error`, :class:`ValidationErrors`). Output models forbid extra
keys, so the document says exactly which keys an answer has.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from evalsys.aggregation.row import AggregateRow
from evalsys.feedback.inputs import FeedbackFields
from evalsys.feedback.models import IDEMPOTENCY_KEY_LIMIT
from evalsys.feedback.vocab import (
    FeedbackKind,
    FeedbackStatus,
    Grade,
    MeetingFormat,
    ObserverLevel,
    values,
)
from evalsys.validation import MAX_PAGE, Message, read_as, refuse, storable, text_problem

KINDS = ", ".join(values(FeedbackKind))
STATUSES = ", ".join(values(FeedbackStatus))
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100

Kind = Literal["spot_check", "open_class", "tutor_group"]
Status = Literal["draft", "submitted", "withdrawn"]

_OUT = ConfigDict(extra="forbid")


# --- errors -----------------------------------------------------------------------------


class Error(BaseModel):
    """Every error: what went wrong, for a person, and the status code again."""

    model_config = _OUT

    error: str = Field(description="What went wrong, for a person.")
    status: int = Field(description="The HTTP status code again.")
    field: str | None = Field(None, description="403 only: the field that is out of scope.")


class FieldError(BaseModel):
    """One field that was refused, and why."""

    model_config = _OUT

    field: str = Field(
        description="The JSON key or parameter (scores.ITEM_CODE for a score, "
        "Idempotency-Key for the header, empty for the body as a whole)."
    )
    message: str = Field(description="Why, for a person (in English).")


class ValidationErrors(BaseModel):
    """A 422: every field that was refused, each named, at once."""

    model_config = _OUT

    error: str
    status: Literal[422]
    errors: list[FieldError] = Field(min_length=1)


# --- feedback ---------------------------------------------------------------------------

# The API's own messages are English only, as its answers are (the shared ones, from
# FeedbackFields and evalsys.validation, are catalogue strings the forms translate).
DRAFT_OR_SUBMITTED = "must be 'draft' or 'submitted' (the default)"


def _text(value: Any) -> Any:
    """Text as sent (an empty status is refused, not taken for none); unstorable refused."""
    if isinstance(value, str) and (problem := text_problem(value)) is not None:
        raise refuse(problem)
    return value


class FeedbackIn(FeedbackFields):
    """A new feedback record. Unknown keys are refused. Besides the types shown, counts and
    scores may be numbers written as strings, section and group numbers, and announced one
    of yes/no/true/false/1/0 (as the CSV import reads them); empty text is no answer. The
    bounds, lengths and choices shown are checked with the record's other rules, and every
    field that breaks one is named in one 422."""

    model_config = ConfigDict(extra="forbid", title="FeedbackIn")

    status: Annotated[Literal["draft", "submitted"] | None, read_as(DRAFT_OR_SUBMITTED, _text)] = (
        Field(
            None,
            description="draft stores it unfinished (required items and per-kind details may be "
            "missing); submitted (the default) is final.",
        )
    )


def _as_given(name: str) -> Any:
    """A stored field described as FeedbackIn describes it (its bounds and choices too)."""
    given = FeedbackFields.model_fields[name]
    return Field(description=given.description, json_schema_extra=given.json_schema_extra)


class FeedbackOut(BaseModel):
    """A stored feedback record as the API shows it."""

    model_config = _OUT

    id: int
    url: str = Field(description="/api/v1/feedback/{id}")
    kind: Kind
    status: Status
    rubric_version: int = Field(
        description="The version of the kind's rubric the scores were given on."
    )
    term: str = Field(description="Term code.")
    section: str | None
    group: str | None
    department: str = Field(description="Code of the department.")
    observer: str | None = Field(
        description="Username of the author; null when the caller reads the record only as "
        "its section's teacher and teachers are not told who observed them "
        "(FEEDBACK_SHOW_OBSERVER_TO_TEACHER)."
    )
    date: date
    class_period: str | None = _as_given("class_period")
    location: str | None = _as_given("location")
    announced: bool | None = _as_given("announced")
    observer_level: ObserverLevel | None = _as_given("observer_level")
    meeting_format: MeetingFormat | None = _as_given("meeting_format")
    enrolled: int | None = _as_given("enrolled")
    present: int | None = _as_given("present")
    late: int | None = _as_given("late")
    attending: int | None = _as_given("attending")
    topics: str | None = _as_given("topics")
    overall_grade: Grade | None = _as_given("overall_grade")
    overall_score: float | None = Field(
        ge=0, le=100, description="Weighted mean of the normalised item scores x 100."
    )
    strengths: str | None = _as_given("strengths")
    problems: str | None = _as_given("problems")
    suggestions: str | None = _as_given("suggestions")
    comment: str | None = _as_given("comment")
    scores: dict[str, float] = Field(description="Item code -> value, answered items only.")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None


class FeedbackPage(BaseModel):
    """A page of records, newest visit first, and where the next page is."""

    model_config = _OUT

    items: list[FeedbackOut]
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=MAX_PER_PAGE)
    total: int = Field(ge=0)
    next: str | None = Field(description="The next page's address; null on the last.")


def _page_number(value: Any) -> Any:
    """Digits only (no sign, no spaces inside): a page number as a person writes it."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise ValueError(value)
        return int(text)
    return value


def _whole_number_up_to(maximum: int) -> Any:
    def message(value: Any) -> Message:
        text = str(value).strip()
        if text.isascii() and text.isdigit() and int(text) > maximum:
            return f"at most {maximum}"
        return "must be a whole number, 1 or more"

    return read_as(message, _page_number)


def _unknown_kind(value: Any) -> Message:
    return f"unknown kind '{value}': one of {KINDS}" if value else f"required: one of {KINDS}"


class FeedbackQuery(BaseModel):
    """GET /feedback: filters and the page."""

    model_config = ConfigDict(extra="ignore")

    term: str | SkipJsonSchema[None] = Field(None, description="Term code.")
    unit: str | SkipJsonSchema[None] = Field(
        None,
        description="Unit code: records of departments at or below it. 403 if no role of "
        "yours covers the unit.",
    )
    kind: Annotated[Kind | SkipJsonSchema[None], read_as(_unknown_kind)] = Field(
        None, description="Kind of feedback."
    )
    status: Annotated[
        Status | SkipJsonSchema[None], read_as(f"unknown status: one of {STATUSES}")
    ] = Field(
        None, description="Only records in this state (you see drafts of your own records only)."
    )
    page: Annotated[int, _whole_number_up_to(MAX_PAGE)] = Field(
        1, ge=1, le=MAX_PAGE, description="Page number."
    )
    per_page: Annotated[int, _whole_number_up_to(MAX_PER_PAGE)] = Field(
        DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE, description="Records per page."
    )


PLAIN_TEXT = "must be plain text"


def _plain_text(value: Any) -> Any:
    if isinstance(value, str) and not storable(value):
        raise ValueError(value)
    return value


class IdempotencyHeader(BaseModel):
    """POST /feedback's one header of its own."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: Annotated[str | SkipJsonSchema[None], read_as(PLAIN_TEXT, _plain_text)] = (
        Field(
            None,
            alias="Idempotency-Key",
            json_schema_extra={"maxLength": IDEMPOTENCY_KEY_LIMIT},
            description="A unique string per record, made by the client (e.g. a UUID), kept per "
            "user. The same key with the same body (as parsed JSON: key order, spacing and null "
            "fields do not matter; no status is submitted) is a retry: 201 with the record the "
            "first request stored and `Idempotent-Replayed: true`; nothing is stored again. The "
            "same key with a different body, including a draft sent again as submitted, is 422 "
            "(field Idempotency-Key) and stores nothing: use a new key. The same key while the "
            "first request is still being stored is 409 with Retry-After. A failed request does "
            "not use up its key. A record stored before keys were bound to bodies has no digest "
            "on file: any body with its key is a retry.",
        )
    )


# --- rubrics ----------------------------------------------------------------------------


class RubricQuery(BaseModel):
    """GET /rubrics: which kind."""

    model_config = ConfigDict(extra="ignore")

    REQUIRED: ClassVar[dict[str, Message]] = {"kind": f"required: one of {KINDS}"}

    kind: Annotated[Kind, read_as(_unknown_kind)] = Field(description="Kind of feedback.")


class Choice(BaseModel):
    """A code and its label in Chinese and English."""

    model_config = _OUT

    code: str
    label: str
    label_en: str


class RubricItem(BaseModel):
    """An item of a rubric: what is scored, on which scale, with what weight."""

    model_config = _OUT

    code: str = Field(description="The key to use in scores.")
    label: str
    label_en: str | None
    description: str | None
    description_en: str | None
    dimension: str
    scale_min: int
    scale_max: int
    weight: float
    required: bool


class Choices(BaseModel):
    """The allowed values of overall_grade, and of observer_level (open_class) or
    meeting_format (tutor_group)."""

    model_config = _OUT

    overall_grade: list[Choice]
    observer_level: list[Choice] | SkipJsonSchema[None] = Field(None, description="open_class")
    meeting_format: list[Choice] | SkipJsonSchema[None] = Field(None, description="tutor_group")


class Rubric(BaseModel):
    """The current rubric of a kind: item codes, labels, scales, weights."""

    model_config = _OUT

    kind: Kind
    version: int = Field(ge=1)
    title: str
    title_en: str | None
    description: str | None
    description_en: str | None
    published_at: datetime | None
    dimensions: list[Choice]
    items: list[RubricItem]
    choices: Choices


# --- aggregates -------------------------------------------------------------------------


class AggregatesQuery(BaseModel):
    """GET /aggregates: the term, and optionally a unit."""

    model_config = ConfigDict(extra="ignore")

    REQUIRED: ClassVar[dict[str, Message]] = {"term": "required: a term code"}

    term: Annotated[str, read_as("required: a term code")] = Field(
        min_length=1, description="Term code."
    )
    unit: str | SkipJsonSchema[None] = Field(
        None,
        description="Code of a unit, course or section: its rows and those below it. 403 if "
        "no role of yours lets you read its reports.",
    )


class AggregationRun(BaseModel):
    """The aggregation run the rows come from."""

    model_config = _OUT

    id: int
    finished_at: datetime | None
    final: bool = Field(description="The final aggregation of an ended term.")
    settings: dict[str, Any] = Field(description="MIN_N and the flag limits the run used.")


class Aggregates(BaseModel):
    """A term's statistics within the caller's scope."""

    model_config = _OUT

    term: str
    unit: str | None
    run: AggregationRun
    rows: list[AggregateRow]


class OpenAPIDocument(RootModel[dict[str, Any]]):
    """This document."""
