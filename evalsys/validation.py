"""What a client may send, one rule per kind of value, whatever the path it comes by.

Web forms, URL and query parameters, the JSON API, the CSV/xlsx import and the CLI
all end in the same database, and a value that one path accepts must not crash
another: PostgreSQL refuses a NUL in text (SQLite stores it), an integer column
holds 32 bits, ``float()`` of a 400-digit number overflows. So the rules live
here, once, and every path calls them:

- **text** (:func:`text_problem`): no NUL or other C0 control character (tab,
  line feed and carriage return are text), no DEL, no unpaired surrogate (JSON's
  ``"\\ud800"``); right-to-left marks and the like are text and pass, since they
  are escaped wherever they are shown;
- **whole numbers** (:func:`to_int`): digits with an optional sign, within the
  bounds the caller names — :data:`MAX_COUNT` for head counts, :data:`MAX_INT`
  for ids and anything stored in an integer column;
- **numbers** (:func:`to_number`): finite, not NaN, within ``±MAX_NUMBER``;
- **URL parameters** (:func:`check_url_values`, a ``before_request`` hook): a path
  value no stored code could have is a 404; a query parameter that is not
  storable text, or longer than :data:`MAX_QUERY_LENGTH`, is a 400 naming it —
  before any view runs a query;
- **forms** (:class:`SafeForm`, :class:`SafePlainForm`): every text field of a
  form is held to :func:`text_problem`, its message shown beside the field and
  everything typed kept;
- **pydantic models** (the API's bodies and queries, the CSV import's rows): each
  field reads its value with :func:`read_as` (these same rules), and
  :func:`field_errors` turns a failed validation into (field, message) pairs in our
  words, never pydantic's, so a client, a form and an import all read the same message.

docs/security.md lists these rules; ``tests/security/test_hostile_input.py``
sends hostile values to every route to hold them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from flask import Flask, abort, render_template, request
from flask_babel import LazyString, force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from pydantic import ValidationError, WrapValidator
from pydantic_core import PydanticCustomError
from werkzeug.routing import IntegerConverter
from wtforms import Form
from wtforms import IntegerField as _IntegerField

#: The largest value an integer column (and so an id) holds on every database.
MAX_INT = 2**31 - 1
#: Head counts (enrolled, present, late, attending): no class or meeting is larger.
MAX_COUNT = 100_000
#: Scores and score bounds: far beyond any rubric's scale, far within a float.
MAX_NUMBER = 1_000_000
#: No list has more pages (and OFFSET stays far within a 64-bit integer).
MAX_PAGE = 1_000_000
#: A query parameter longer than this is not a search or a filter anyone typed.
MAX_QUERY_LENGTH = 2_000

#: C0 controls other than tab, LF and CR, and DEL.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Digits with a sign; Python reads at most 4,300 digits, far beyond any bound here.
_WHOLE = re.compile(r"[+-]?\d{1,4000}")

#: A message for a person: text, or a lazy gettext string rendered where it is shown.
Message: TypeAlias = str | LazyString

CONTROL_CHARACTER: Message = _l("contains a control character (such as NUL) that text cannot hold")
BROKEN_CHARACTER: Message = _l("contains an invalid character (an unpaired surrogate)")
NOT_A_WHOLE_NUMBER = _l("Enter a whole number.")


def text_problem(value: str) -> Message | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if _CONTROL.search(value):
        return CONTROL_CHARACTER
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return BROKEN_CHARACTER
    return None


def storable(value: str) -> bool:
    return text_problem(value) is None


def printable(value: str) -> str:
    """``value`` with its unstorable characters written as escapes (for an error message)."""
    escaped = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", escaped)


def to_int(value: Any, *, lo: int | None = 0, hi: int | None = MAX_INT) -> int | None:
    """A whole number from JSON or typed text, within ``lo..hi``; None for no answer.

    Raises ValueError for anything else (text, fractions, bools, out of bounds), so
    that a caller names the field in its own message. A caller that explains bounds
    in words of its own passes ``lo=None, hi=None`` and checks them.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(value)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ValueError(value)
    return number


def to_number(value: Any, *, bound: float = MAX_NUMBER) -> float | None:
    """A finite number within ``±bound`` from JSON or typed text; None for no answer."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except OverflowError:  # float(10**400)
        raise ValueError(value) from None
    if not math.isfinite(number) or abs(number) > bound:
        raise ValueError(value)
    return number


def page_arg() -> int:
    """The ``page`` query parameter of a list: 1 unless a page number within bounds."""
    return int_arg("page", 1, hi=MAX_PAGE)


def int_arg(name: str, default: int, *, lo: int = 1, hi: int = MAX_INT) -> int:
    """A whole-number query parameter (a page, a week); the default when absent or unreadable."""
    try:
        value = to_int(request.args.get(name), lo=lo, hi=hi)
    except ValueError:
        return default
    return default if value is None else value


# --- pydantic models ----------------------------------------------------------------

#: The error type of a refusal in our words; its message is in the error's context.
REFUSED = "evalsys"
UNKNOWN_FIELD = _l("unknown field")
REQUIRED = _l("required")


def refuse(message: Message) -> PydanticCustomError:
    """A pydantic error carrying our message (lazy: shown in the reader's language)."""
    return PydanticCustomError(REFUSED, "{message}", {"message": message})


def read_as(
    message: Message | Callable[[Any], Message],
    convert: Callable[[Any], Any] | None = None,
) -> WrapValidator:
    """A field validator: ``convert`` the value (a ValueError refuses it), then let
    pydantic check the field's type and bounds; any refusal says ``message`` (or
    ``message(value)``). A :func:`refuse` raised by ``convert`` passes unchanged.

    The field's type stays what its annotation says, so the JSON schema (and the
    OpenAPI document built from it) shows the type; this only decides how a value
    is read and what a client is told when it cannot be.
    """

    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(convert(value) if convert is not None else value)
        except PydanticCustomError as err:
            if err.type == REFUSED:
                raise
            raise refuse(_say(message, value)) from None
        except ValueError:  # also pydantic's ValidationError from ``handler``
            raise refuse(_say(message, value)) from None

    return WrapValidator(validate)


def _say(message: Message | Callable[[Any], Message], value: Any) -> Message:
    if isinstance(message, str | LazyString):
        return message
    return message(value)


def stored_text(value: Any) -> Any:
    """``convert`` for a text field: empty text is no answer; unstorable text is refused."""
    if isinstance(value, str):
        if (problem := text_problem(value)) is not None:
            raise refuse(problem)
        return value or None
    return value


def field_errors(
    err: ValidationError, required: Mapping[str, Message] | None = None
) -> list[tuple[str, Message]]:
    """A model's failed validation as (field, message) pairs, in the model's field order.

    Fields are the JSON keys (``scores.ITEM_CODE`` within an object; a bad key of an
    object names the object), written printable. A field left out says
    ``required[field]`` (else "required"); a key the model does not know, "unknown
    field". Every other refusal went through :func:`read_as` and carries its message.
    """
    out: list[tuple[str, Message]] = []
    for error in err.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        if "[key]" in loc:
            loc = loc[: loc.index("[key]") - 1]
        field = printable(".".join(loc))
        kind = error["type"]
        message: Message
        if kind == REFUSED:
            message = error["ctx"]["message"]
        elif kind == "extra_forbidden":
            message = UNKNOWN_FIELD
        elif kind == "missing":
            message = (required or {}).get(field, REQUIRED)
        else:  # a field without read_as: pydantic's words, better than none
            message = error["msg"]
        out.append((field, message))
    return out


# --- URLs -------------------------------------------------------------------------------


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` that matches only what an integer column can hold (else a 404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_INT)
        super().__init__(map, *args, **kwargs)


def check_url_values() -> Any:
    """``before_request``: refuse unstorable path and query values before any query runs."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and (not storable(value) or len(value) > MAX_QUERY_LENGTH):
            abort(404)  # no code can be written so: there is no such page
    for name, value in request.args.items(multi=True):
        problem = text_problem(name) or text_problem(value)
        if problem is None and len(value) <= MAX_QUERY_LENGTH:
            continue
        shown = printable(name)[:40]
        if request.path.startswith("/api/"):
            from evalsys.api.auth import error_response

            with force_locale("en"):  # the API speaks English to programs
                why = str(problem or _l("longer than %(limit)s characters", limit=MAX_QUERY_LENGTH))
            return error_response(422, "invalid request", errors=[{"field": shown, "message": why}])
        text = _l(
            "The address has a parameter (%(name)s) with characters no search or filter "
            "can hold, or that is too long. Go back and try again.",
            name=shown,
        )
        return render_template("error.html", code=400, title=_l("Bad address"), text=text), 400
    return None


def init_app(app: Flask) -> None:
    app.before_request(check_url_values)


# --- forms ------------------------------------------------------------------------------


def _form_text_errors(form: Form) -> bool:
    """Mark every text field holding unstorable text; True when none does."""
    ok = True
    for field in form:
        sub = getattr(field, "form", None)
        if isinstance(sub, Form):
            ok = _form_text_errors(sub) and ok
            continue
        data = field.data
        texts = data if isinstance(data, list) else [data]
        for text in texts:
            if isinstance(text, str) and (problem := text_problem(text)) is not None:
                # As text now: views join error lists, and this is the reader's request.
                field.errors = [*field.errors, str(problem)]
                ok = False
                break
    return ok


class IntegerField(_IntegerField):
    """WTForms' integer field reading at most what an integer column holds (±MAX_INT).

    WTForms reads any number of digits, and a 400-digit number then breaks whatever
    compares it with a float or stores it.
    """

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        try:
            self.data = to_int(valuelist[0], lo=-MAX_INT, hi=MAX_INT)
        except ValueError:
            self.data = None
            raise ValueError(str(NOT_A_WHOLE_NUMBER)) from None


class SafeForm(FlaskForm):
    """A Flask-WTF form (CSRF) whose text fields refuse what no database can store.

    A form whose input goes through a service that applies :func:`text_problem`
    itself (the feedback form) sets ``checks_text_itself`` so that the user sees
    every error at once, from one place.
    """

    checks_text_itself = False

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if self.checks_text_itself:
            return ok
        return _form_text_errors(self) and ok


class SafePlainForm(Form):
    """A plain WTForms form (filters, sub-forms) with the same text rule."""

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        return _form_text_errors(self) and ok
