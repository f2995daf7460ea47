"""What a caller hands the feedback service, and the errors it gets back.

Forms, the JSON API and the CSV import all build a :class:`FeedbackInput`;
the API and the import use :meth:`FeedbackInput.from_mapping`, which turns
JSON values or CSV strings into typed values and names every field it cannot
read. Field names here are the API's JSON keys (``date``, ``section``,
``scores.ITEM_CODE``), so an error list can go back to a client unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from flask import has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from evalsys.validation import Message, text_problem, to_int, to_number

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
_CODE_FIELDS = ("kind", "section", "group", "observer_level", "meeting_format", "overall_grade")
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
        errors: list[tuple[str, str]] = []
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                errors.append((str(key), _l("unknown field")))
        out: dict[str, Any] = {}
        for name in (*_CODE_FIELDS, *TEXT_FIELDS):
            value = data.get(name)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                if (problem := text_problem(value)) is not None:
                    errors.append((name, problem))
                else:
                    out[name] = value
            elif name in ("section", "group") and _is_int(value):
                out[name] = str(value)  # a numeric code in JSON or a spreadsheet
            else:
                errors.append((name, _l("must be text")))
        for name in COUNT_FIELDS:
            _read(data, name, _to_int, _l("must be a whole number"), out, errors)
        _read(data, "announced", _to_bool, _l("must be true or false"), out, errors)
        _read(data, "date", _to_date, _l("must be a date written YYYY-MM-DD"), out, errors)
        scores = data.get("scores")
        if isinstance(scores, Mapping):
            out["scores"] = {}
            for code, raw in scores.items():
                if isinstance(code, str) and (problem := text_problem(code)) is not None:
                    errors.append(("scores", problem))
                    continue
                try:
                    out["scores"][str(code)] = _to_float(raw)
                except ValueError:
                    errors.append((f"scores.{code}", _l("must be a number")))
        elif scores not in (None, ""):
            errors.append(("scores", _l("must be an object mapping item codes to numbers")))
        if not out.get("kind"):
            if "kind" not in {f for f, _ in errors}:
                errors.append(("kind", _l("required: spot_check, open_class or tutor_group")))
            out["kind"] = ""
        if errors:
            raise FeedbackValidationError(errors)
        return cls(**out)


def clean(value: Any) -> Any:
    """Strip text; empty text is no answer (None). Other values pass unchanged."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _read(
    data: Mapping[str, Any],
    name: str,
    convert: Any,
    message: Message,
    out: dict[str, Any],
    errors: list[tuple[str, str]],
) -> None:
    try:
        value = convert(data.get(name))
    except ValueError:
        errors.append((name, message))
        return
    if value is not None:
        out[name] = value


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
