"""The /api/v1 blueprint: rubrics, feedback (submit, list, read), term aggregates, OpenAPI.

Every answer is JSON; every error is ``{"error": message, "status": code, ...}``
(422s add ``errors``: a list of ``{"field", "message"}``). Each view declares its
query, body, headers and answers as pydantic models (:mod:`evalsys.api.schemas`)
with ``@api.validate``: spectree validates the request with them before the view
runs, checks the answer against them after, and the document served at
``/api/v1/openapi.json`` (:mod:`evalsys.api.spec`) is written from them, so it
cannot drift from what the views do. A view's docstring is its summary (first
paragraph) and description in that document: write it for the API's clients.

Requests authenticate with a bearer token (``@token_required``); the blueprint is
exempt from CSRF (no cookies are used) and never sets a session cookie.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from spectree import Response as Answers
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
from evalsys.api.schemas import (
    Aggregates,
    AggregatesQuery,
    Error,
    FeedbackIn,
    FeedbackOut,
    FeedbackPage,
    FeedbackQuery,
    IdempotencyHeader,
    OpenAPIDocument,
    Rubric,
    RubricQuery,
    ValidationErrors,
)
from evalsys.api.spec import MAX_DEPTH, api, document, refused
from evalsys.clock import local_today
from evalsys.db import get_session
from evalsys.feedback.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    body_digest,
)
from evalsys.feedback.inputs import FeedbackPermissionError, FeedbackValidationError
from evalsys.feedback.rubrics import current_rubric
from evalsys.feedback.vocab import FeedbackStatus
from evalsys.feedback.writes import submit_or_replay
from evalsys.org.models import Term

bp = Blueprint("api", __name__, url_prefix="/api/v1")

NOTHING_STORED = "invalid feedback: nothing was stored"
INVALID = "invalid request"
KEY_REUSED = "the Idempotency-Key was already used for a different request: nothing was stored"
KEY_IN_FLIGHT = (
    "a request with this Idempotency-Key is still being processed: nothing was stored; "
    "retry after Retry-After seconds to get its answer"
)
#: How long a request waits for an earlier, uncommitted one with its key before a 409
#: (PostgreSQL). A first request normally commits within milliseconds.
IN_FLIGHT_WAIT = timedelta(seconds=1)

UNAUTHORIZED = (Error, "No token, or an unknown or revoked one.")


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of these views (built once per process)."""
    return document(bp)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Response:
    response = error_response(err.code or 500, err.name)
    for name in ("Allow", "WWW-Authenticate"):
        if err.get_response().headers.get(name):
            response.headers[name] = err.get_response().headers[name]
    return response


def _invalid(errors: list[dict[str, str]], message: str = INVALID) -> Response:
    return error_response(422, message, errors=errors)


@bp.get("/openapi.json")
@public
@api.validate(
    resp=Answers(HTTP_200=(OpenAPIDocument, "The OpenAPI document.")),
    security=[],
    operation_id="openapi",
)
def openapi() -> Response:
    """This document."""
    return jsonify(openapi_document())


@bp.get("/rubrics")
@token_required
@api.validate(
    resp=Answers(
        HTTP_200=(Rubric, "The rubric new feedback of this kind is given on."),
        HTTP_401=UNAUTHORIZED,
        HTTP_404=(Error, "No rubric of this kind is published yet."),
        HTTP_422=(ValidationErrors, "kind missing or unknown (the message lists the kinds)."),
    ),
    before=refused(INVALID, RubricQuery),
    operation_id="getRubric",
)
def rubric(query: RubricQuery) -> Response:
    """The current rubric of a kind: item codes, labels, scales, weights."""
    found = current_rubric(get_session(), query.kind)
    if found is None:
        return error_response(404, f"there is no published {query.kind} rubric yet")
    return jsonify(records.rubric_json(get_session(), found))


@bp.post("/feedback")
@token_required
@api.validate(
    resp=Answers(
        HTTP_201=(
            FeedbackOut,
            "Stored; or, for a retry with the same Idempotency-Key and body, the record the "
            "first request stored (as it is now), with Idempotent-Replayed: true.",
        ),
        HTTP_400=(
            Error,
            "The body is empty, not JSON, not a JSON object, or nested more than "
            f"{MAX_DEPTH} levels deep.",
        ),
        HTTP_401=UNAUTHORIZED,
        HTTP_403=(Error, "The section or group is outside your scope (field names it)."),
        HTTP_409=(
            Error,
            "A request with the same Idempotency-Key is still being stored; nothing was "
            "stored. Retry after Retry-After seconds to get its answer.",
        ),
        HTTP_413=(Error, "The body is larger than the server accepts."),
        HTTP_422=(
            ValidationErrors,
            "Invalid fields, each named; or the Idempotency-Key was already used for a "
            "different request (field Idempotency-Key: the message names the record it "
            "stored). Nothing was stored.",
        ),
    ),
    before=refused(NOTHING_STORED, FeedbackIn, IdempotencyHeader),
    operation_id="createFeedback",
)
def create_feedback(json: FeedbackIn, headers: IdempotencyHeader) -> Response:
    """Submit a feedback record (or save a draft).

    The same checks as the web forms. Send an Idempotency-Key to make retries safe: the
    key is bound to you and to the request body, so a retry gets the first answer again
    and nothing is stored twice (see the header).
    """
    key = headers.idempotency_key
    status = json.status
    # The request the key is bound to: the body as sent (not as read), with its status.
    digest = None
    if key is not None:
        sent = {name: value for name, value in g.json_body.items() if name != "status"}
        digest = body_digest(sent | {"status": status or FeedbackStatus.SUBMITTED.value})
    session = get_session()
    user = api_user()
    try:
        outcome = submit_or_replay(
            session,
            user=user,
            data=json.to_input(),
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


@bp.get("/feedback")
@token_required
@api.validate(
    resp=Answers(
        HTTP_200=(FeedbackPage, "A page of records."),
        HTTP_401=UNAUTHORIZED,
        HTTP_403=(Error, "The unit is outside your scope."),
        HTTP_422=(
            ValidationErrors,
            "Unknown term, unit, kind or status, or a bad page number.",
        ),
    ),
    before=refused(INVALID, FeedbackQuery),
    operation_id="listFeedback",
)
def list_feedback(query: FeedbackQuery) -> Response:
    """Records you may see, newest visit first, a page at a time.

    Your own records (drafts too), the submitted and withdrawn records of the departments
    where your roles let you read feedback (dean, head, leader, admin), and the submitted
    records on the sections you teach.
    """
    session = get_session()
    user = api_user()
    # Unstorable text in any parameter was refused before the view (evalsys.validation),
    # the parameters' types and bounds by FeedbackQuery; here what needs the database.
    errors: list[dict[str, str]] = []
    conditions = [feedback_visible_to(user)]
    if query.kind is not None:
        conditions.append(col(records.Feedback.kind) == query.kind)
    if query.status is not None:
        conditions.append(col(records.Feedback.status) == query.status)
    if query.term is not None:
        term = session.exec(select(Term).where(Term.code == query.term)).first()
        if term is None:
            errors.append({"field": "term", "message": f"there is no term '{query.term}'"})
        else:
            conditions.append(col(records.Feedback.term_id) == term.id)
    unit = None
    if query.unit is not None:
        unit = unit_by_code(session, query.unit)
        if unit is None:
            errors.append({"field": "unit", "message": f"there is no unit '{query.unit}'"})
    if errors:
        return _invalid(errors)
    if unit is not None:
        message = f"the unit '{unit.code}' is outside your scope"
        assert unit.id is not None  # loaded from the database
        api_require(session, user, Perm.VIEW_UNIT, unit.id, message)
        conditions.append(records.in_subtree(unit.id))
    page, per_page = query.page, query.per_page
    hidden = records.observer_hidden_from(user, shown_to_teacher=_shown_to_teacher())
    items, total = records.page_of_records(
        session, conditions, page=page, per_page=per_page, hidden=hidden
    )
    next_url = None
    if page * per_page < total:
        kept: dict[str, Any] = {
            k: v for k, v in request.args.items() if k in ("term", "unit", "kind", "status")
        }
        next_url = url_for("api.list_feedback", **kept, page=page + 1, per_page=per_page)
    return jsonify(
        {"items": items, "page": page, "per_page": per_page, "total": total, "next": next_url}
    )


@bp.get("/feedback/<int:feedback_id>")
@token_required
@api.validate(
    resp=Answers(
        HTTP_200=(FeedbackOut, "The record."),
        HTTP_401=UNAUTHORIZED,
        HTTP_404=(Error, "No such record, or not one you may see."),
    ),
    path_parameter_descriptions={"feedback_id": "The record's id."},
    operation_id="getFeedback",
)
def get_feedback(feedback_id: int) -> Response:
    """One record."""
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
@api.validate(
    resp=Answers(
        HTTP_200=(Aggregates, "The rows (possibly none in your scope)."),
        HTTP_401=UNAUTHORIZED,
        HTTP_403=(Error, "The unit is outside your scope."),
        HTTP_404=(Error, "The term has not been aggregated yet."),
        HTTP_422=(ValidationErrors, "term missing, or an unknown term or unit."),
    ),
    before=refused(INVALID, AggregatesQuery),
    operation_id="listAggregates",
)
def list_aggregates(query: AggregatesQuery) -> Response:
    """A term's statistics within your scope, the rows of `evalsys export aggregates`.

    One row per (level, unit, kind, dimension), school first, for the units where your
    roles let you read reports (dean, head, leader, admin); with `unit`, that unit and
    everything below it.
    """
    # Unknown or missing term or unit: 422 like the other lists; a unit outside the
    # caller's scope: 403; a term not aggregated yet: 404.
    session = get_session()
    user = api_user()
    errors: list[dict[str, str]] = []
    term = session.exec(select(Term).where(Term.code == query.term)).first()
    if term is None:
        errors.append({"field": "term", "message": f"there is no term '{query.term}'"})
    unit = None
    if query.unit is not None:
        try:
            unit = aggregates.find_unit(session, query.unit)
        except aggregates.AggregateNotFound:
            errors.append(
                {"field": "unit", "message": f"there is no unit, course or section '{query.unit}'"}
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
