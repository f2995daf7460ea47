"""The /api/v1 blueprint: rubrics, feedback (submit, list, read), term aggregates, OpenAPI.

Every answer is JSON; every error is ``{"error": message, "status": code, ...}``
(422s add ``errors``: a list of ``{"field", "message"}``). The document served at
``/api/v1/openapi.json`` (:mod:`evalsys.api.openapi`) describes exactly this;
change both together. Requests authenticate with a bearer token
(``@token_required``); the blueprint is exempt from CSRF (no cookies are used)
and never sets a session cookie.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlmodel import col, select
from werkzeug.exceptions import HTTPException

from evalsys.accounts.access import (
    Perm,
    api_feedback_or_404,
    api_require,
    feedback_visible_to,
    public,
    token_required,
    unit_by_code,
)
from evalsys.accounts.service import audit
from evalsys.aggregation import export
from evalsys.aggregation import read as aggregates
from evalsys.aggregation.service import last_run
from evalsys.api import records
from evalsys.api.auth import api_user, error_response
from evalsys.api.openapi import openapi_document
from evalsys.clock import local_today
from evalsys.db import get_session
from evalsys.feedback.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    body_digest,
)
from evalsys.feedback.inputs import (
    FeedbackInput,
    FeedbackPermissionError,
    FeedbackValidationError,
    english,
)
from evalsys.feedback.rubrics import current_rubric
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus, values
from evalsys.feedback.writes import submit_or_replay
from evalsys.org.models import Term
from evalsys.validation import printable, storable, text_problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
#: Arrays and objects within arrays and objects: a feedback body needs 2 (its scores).
MAX_DEPTH = 32
NOTHING_STORED = "invalid feedback: nothing was stored"
KEY_REUSED = "the Idempotency-Key was already used for a different request: nothing was stored"
KEY_IN_FLIGHT = (
    "a request with this Idempotency-Key is still being processed: nothing was stored; "
    "retry after Retry-After seconds to get its answer"
)
#: How long a request waits for an earlier, uncommitted one with its key before a 409
#: (PostgreSQL). A first request normally commits within milliseconds.
IN_FLIGHT_WAIT = timedelta(seconds=1)
_KINDS = ", ".join(values(FeedbackKind))


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Response:
    response = error_response(err.code or 500, err.name)
    for name in ("Allow", "WWW-Authenticate"):
        if err.get_response().headers.get(name):
            response.headers[name] = err.get_response().headers[name]
    return response


def _invalid(errors: list[dict[str, str]], message: str = "invalid request") -> Response:
    return error_response(422, message, errors=errors)


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/rubrics")
@token_required
def rubric() -> Response:
    kind = request.args.get("kind", "")
    if kind not in values(FeedbackKind):
        given = f"unknown kind '{kind}'" if kind else "required"
        return _invalid([{"field": "kind", "message": f"{given}: one of {_KINDS}"}])
    found = current_rubric(get_session(), kind)
    if found is None:
        return error_response(404, f"there is no published {kind} rubric yet")
    return jsonify(records.rubric_json(get_session(), found))


@bp.post("/feedback")
@token_required
def create_feedback() -> Response:
    """Store a record; with an Idempotency-Key, replay or refuse a repeat (docs/security.md)."""
    body, problem = _json_object()
    if problem is not None:
        return error_response(400, problem)
    assert body is not None
    status = body.pop("status", None)
    errors = _unstorable_text(body)
    if status not in (None, FeedbackStatus.DRAFT.value, FeedbackStatus.SUBMITTED.value):
        errors.append(
            {"field": "status", "message": "must be 'draft' or 'submitted' (the default)"}
        )
    if errors:
        return _invalid(errors, NOTHING_STORED)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not storable(key):
        error = {"field": "Idempotency-Key", "message": "must be plain text"}
        return _invalid([error], NOTHING_STORED)
    # The request the key is bound to: the body as parsed, with the status it gets.
    digest = None
    if key is not None:
        digest = body_digest(body | {"status": status or FeedbackStatus.SUBMITTED.value})
    session = get_session()
    user = api_user()
    try:
        data = FeedbackInput.from_mapping(body)
        outcome = submit_or_replay(
            session,
            user=user,
            data=data,
            draft=status == FeedbackStatus.DRAFT.value,
            idempotency_key=key,
            request_digest=digest,
            in_flight_wait=IN_FLIGHT_WAIT,
            today=local_today(current_app.config),
        )
    except FeedbackValidationError as err:
        session.rollback()
        errors = err.as_json()
        for error in errors:
            if error["field"] == "idempotency_key":
                error["field"] = "Idempotency-Key"
        return _invalid(errors, NOTHING_STORED)
    except FeedbackPermissionError as err:
        session.rollback()
        return error_response(403, err.message, field=err.field)
    except IdempotencyKeyReused as err:
        session.rollback()
        error = {"field": "Idempotency-Key", "message": _key_reused(err)}
        return _invalid([error], KEY_REUSED)
    except IdempotencyKeyInFlight as err:
        session.rollback()
        response = error_response(409, KEY_IN_FLIGHT)
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    session.commit()
    feedback = outcome.feedback
    assert feedback.id is not None  # stored and committed
    record = records.one_record(session, user, feedback.id)
    response = jsonify(record)
    # A replay answers as the first request did: 201 and the record (as it is now).
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_feedback", feedback_id=feedback.id)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _key_reused(err: IdempotencyKeyReused) -> str:
    """Where the key's record is, and what to do instead: a new key (the API edits nothing)."""
    url = url_for("api.get_feedback", feedback_id=err.feedback_id)
    message = (
        f"this key stored feedback {err.feedback_id} ({url}) from a different request body; "
        "send a new Idempotency-Key for a new record"
    )
    if err.status == FeedbackStatus.DRAFT:
        edit = url_for("feedback.edit", feedback_id=err.feedback_id)
        message += (
            f". Feedback {err.feedback_id} is a draft: the API does not change stored records, "
            f"so submit the draft in the web form ({edit}), or send the record again under "
            "a new Idempotency-Key (which stores a second record)"
        )
    return message


def _unstorable_text(value: Any, path: str = "") -> list[dict[str, str]]:
    """Text no database can store: NUL characters, lone surrogates (from JSON ``\\ud800``)."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            found += _unstorable_text(key, name) + _unstorable_text(item, name)
        return found
    if isinstance(value, list):
        return [e for item in value for e in _unstorable_text(item, path)]
    if isinstance(value, str) and (problem := text_problem(value)) is not None:
        with english():
            return [{"field": printable(path), "message": str(problem)}]
    return []


def _json_object() -> tuple[dict[str, Any] | None, str | None]:
    """The body as a JSON object, or why not (for a 400)."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        return None, "the body is empty: send the feedback as a JSON object"
    try:
        body = json.loads(raw)
    except RecursionError:
        return None, "the body is not valid JSON: nested too deeply"
    except ValueError as err:  # also UnicodeDecodeError
        return None, f"the body is not valid JSON: {err}"
    if not isinstance(body, dict):
        return None, f"the body must be a JSON object, not {_json_type(body)}"
    if _deeper_than(body, MAX_DEPTH):
        return None, f"the body is nested too deeply: at most {MAX_DEPTH} levels"
    return body, None


def _deeper_than(value: Any, limit: int) -> bool:
    """Arrays and objects nested more than ``limit`` deep (walked without recursion).

    The checks after parsing walk the body recursively; a body json.loads still
    reads (a few hundred levels) would exhaust the recursion limit there (a 500).
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


@bp.get("/feedback")
@token_required
def list_feedback() -> Response:
    session = get_session()
    user = api_user()
    args = request.args
    # Unstorable text in any parameter was refused before the view (evalsys.validation).
    errors: list[dict[str, str]] = []
    page = _positive_int(args, "page", 1, MAX_PAGE, errors)
    per_page = _positive_int(args, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE, errors)
    conditions = [feedback_visible_to(user)]
    kind = args.get("kind")
    if kind is not None:
        if kind not in values(FeedbackKind):
            errors.append({"field": "kind", "message": f"unknown kind '{kind}': one of {_KINDS}"})
        conditions.append(col(records.Feedback.kind) == kind)
    status = args.get("status")
    if status is not None:
        if status not in values(FeedbackStatus):
            statuses = ", ".join(values(FeedbackStatus))
            errors.append({"field": "status", "message": f"unknown status: one of {statuses}"})
        conditions.append(col(records.Feedback.status) == status)
    term_code = args.get("term")
    if term_code is not None:
        term = session.exec(select(Term).where(Term.code == term_code)).first()
        if term is None:
            errors.append({"field": "term", "message": f"there is no term '{term_code}'"})
        else:
            conditions.append(col(records.Feedback.term_id) == term.id)
    unit_code = args.get("unit")
    unit = None
    if unit_code is not None:
        unit = unit_by_code(session, unit_code)
        if unit is None:
            errors.append({"field": "unit", "message": f"there is no unit '{unit_code}'"})
    if errors:
        return _invalid(errors)
    if unit is not None:
        message = f"the unit '{unit.code}' is outside your scope"
        assert unit.id is not None  # loaded from the database
        api_require(session, user, Perm.VIEW_UNIT, unit.id, message)
        conditions.append(records.in_subtree(unit.id))
    assert page is not None and per_page is not None
    hidden = records.observer_hidden_from(user, shown_to_teacher=_shown_to_teacher())
    items, total = records.page_of_records(
        session, conditions, page=page, per_page=per_page, hidden=hidden
    )
    next_url = None
    if page * per_page < total:
        kept: dict[str, Any] = {
            k: v for k, v in args.items() if k in ("term", "unit", "kind", "status")
        }
        next_url = url_for("api.list_feedback", **kept, page=page + 1, per_page=per_page)
    return jsonify(
        {"items": items, "page": page, "per_page": per_page, "total": total, "next": next_url}
    )


def _positive_int(
    args: Any, name: str, default: int, maximum: int, errors: list[dict[str, str]]
) -> int | None:
    raw = args.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        errors.append({"field": name, "message": "must be a whole number, 1 or more"})
        return None
    value = int(text)
    if value > maximum:
        errors.append({"field": name, "message": f"at most {maximum}"})
        return None
    return value


@bp.get("/feedback/<int:feedback_id>")
@token_required
def get_feedback(feedback_id: int) -> Response:
    session = get_session()
    user = api_user()
    api_feedback_or_404(session, feedback_id, user)
    return jsonify(
        records.one_record(session, user, feedback_id, shown_to_teacher=_shown_to_teacher())
    )


def _shown_to_teacher() -> bool:
    return bool(current_app.config.get("FEEDBACK_SHOW_OBSERVER_TO_TEACHER", False))


@bp.get("/aggregates")
@token_required
def list_aggregates() -> Response:
    """A term's statistics within the caller's scope: the rows of ``evalsys export aggregates``.

    Rows at and below ``unit`` (default: every unit the caller may read reports of).
    Unknown or missing term or unit: 422 like the other lists; a unit outside the
    caller's scope: 403; a term not aggregated yet: 404.
    """
    session = get_session()
    user = api_user()
    args = request.args
    errors: list[dict[str, str]] = []
    term_code = args.get("term", "")
    term = None
    if not term_code:
        errors.append({"field": "term", "message": "required: a term code"})
    else:
        term = session.exec(select(Term).where(Term.code == term_code)).first()
        if term is None:
            errors.append({"field": "term", "message": f"there is no term '{term_code}'"})
    unit_code = args.get("unit")
    unit = None
    if unit_code is not None:
        try:
            unit = aggregates.find_unit(session, unit_code)
        except aggregates.AggregateNotFound:
            errors.append(
                {"field": "unit", "message": f"there is no unit, course or section '{unit_code}'"}
            )
    if errors:
        return _invalid(errors)
    assert term is not None
    if unit is not None:
        message = f"the statistics of '{unit.code}' are outside your scope"
        api_require(session, user, Perm.VIEW_REPORTS, unit.org_unit_id, message)
    assert term.id is not None  # loaded from the database
    run = last_run(session, term.id, succeeded=True)
    if run is None:
        return error_response(404, f"the term {term.code} has not been aggregated yet")
    rows = aggregates.aggregates_for(
        session, user=user, term_code=term.code, unit_code=unit.code if unit else None
    )
    audit(
        session,
        "aggregates.read",
        user_id=user.id,
        target=term.code + (f" {unit.code}" if unit else ""),
        detail=f"api, {len(rows)} rows",
        ip=request.remote_addr,
    )
    session.commit()
    meta = export.run_meta(term.code, unit.code if unit else None, run)
    return jsonify({**meta, "rows": export.public_rows(rows)})
