"""The OpenAPI 3.0 document of /api/v1, written by hand to say exactly what views.py does.

Tests validate it (openapi-spec-validator) and fuzz every operation against it
(schemathesis): a status code, a header or a field that the document does not
name fails the suite. Change this file whenever a view's answers change.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from evalsys.aggregation.models import RESULT_KINDS, FlagCode, Level
from evalsys.aggregation.read import BANDS, COVERAGE_FIELDS, ROW_FIELDS
from evalsys.feedback.models import IDEMPOTENCY_KEY_LIMIT, TEXT_LIMITS
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus, Grade, MeetingFormat, ObserverLevel

KINDS = [k.value for k in FeedbackKind]
REF = "#/components/schemas/"
JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = {**schema, "nullable": True}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _text(limit: int, description: str) -> dict[str, Any]:
    return _nullable({"type": "string", "maxLength": limit, "description": description})


def _count(description: str) -> dict[str, Any]:
    return _nullable(
        {"type": "integer", "minimum": 0, "maximum": 100_000, "description": description}
    )


def _enum(enum: Any, description: str) -> dict[str, Any]:
    return _nullable(
        {"type": "string", "enum": [m.value for m in enum], "description": description}
    )


def _response(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict:
    out: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ref(schema)}}}
    if headers:
        out["headers"] = headers
    return out


_UNAUTHORIZED = {
    "description": "No token, or an unknown or revoked one.",
    "headers": {
        "WWW-Authenticate": {
            "description": 'Always `Bearer realm="evalsys API"`, with `error="invalid_token"` '
            "when a token was sent but is no good.",
            "schema": {"type": "string"},
            "required": True,
        }
    },
    "content": {JSON: {"schema": _ref("Error")}},
}
_LOCATION = {
    "Location": {
        "description": "The record's address, /api/v1/feedback/{id}.",
        "schema": {"type": "string"},
        "required": True,
    }
}

_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when the answer is a replay of an earlier request with the "
        "same Idempotency-Key and body; absent when the record was stored now.",
        "schema": {"type": "string", "enum": ["true"]},
        "required": False,
    }
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer", "minimum": 1},
        "required": True,
    }
}

INPUT_FIELDS: dict[str, Any] = {
    "kind": {"type": "string", "enum": KINDS, "description": "What kind of feedback this is."},
    "section": _nullable(
        {
            "type": "string",
            "description": "Code of the section visited (spot_check, open_class); "
            "must be within your scope. Leave out for tutor_group.",
        }
    ),
    "group": _nullable(
        {
            "type": "string",
            "description": "Code of your tutor group (tutor_group only).",
        }
    ),
    "date": {
        "type": "string",
        "format": "date",
        "description": "Day of the visit or meeting, YYYY-MM-DD: inside the term of the "
        "section or group, not in the future.",
    },
    "class_period": _text(TEXT_LIMITS["class_period"], "e.g. 3-4节"),
    "location": _text(TEXT_LIMITS["location"], "Room or place."),
    "announced": _nullable(
        {
            "type": "boolean",
            "description": "spot_check only, and required there: was the visit announced?",
        }
    ),
    "observer_level": _enum(ObserverLevel, "open_class only, and required there."),
    "meeting_format": _enum(MeetingFormat, "tutor_group only, and required there."),
    "enrolled": _count("Students enrolled (not for tutor_group)."),
    "present": _count("Students present; at most enrolled (not for tutor_group)."),
    "late": _count("Students late; at most present (not for tutor_group)."),
    "attending": _count("Students attending (tutor_group only)."),
    "topics": _text(TEXT_LIMITS["topics"], "Topics discussed (tutor_group)."),
    "overall_grade": _enum(Grade, "The observer's overall judgement."),
    "strengths": _text(TEXT_LIMITS["strengths"], "Strengths seen."),
    "problems": _text(TEXT_LIMITS["problems"], "Problems found, or raised by students."),
    "suggestions": _text(TEXT_LIMITS["suggestions"], "Suggestions, adjustments to the plan."),
    "comment": _text(TEXT_LIMITS["comment"], "Anything else."),
    "scores": _nullable(
        {
            "type": "object",
            "description": "Item code -> value on the item's scale (see GET /rubrics). "
            "Every required item of the current rubric needs a value unless status is draft.",
            "additionalProperties": _nullable({"type": "number"}),
        }
    ),
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for a person."},
            "status": {"type": "integer", "description": "The HTTP status code again."},
            "field": _nullable(
                {"type": "string", "description": "403 only: the field that is out of scope."}
            ),
        },
    },
    "FieldError": {
        "type": "object",
        "required": ["field", "message"],
        "additionalProperties": False,
        "properties": {
            "field": {
                "type": "string",
                "description": "The JSON key (scores.ITEM_CODE for a score, "
                "Idempotency-Key for the header, empty for the body as a whole).",
            },
            "message": {"type": "string"},
        },
    },
    "ValidationError": {
        "type": "object",
        "required": ["error", "status", "errors"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string"},
            "status": {"type": "integer", "enum": [422]},
            "errors": {"type": "array", "minItems": 1, "items": _ref("FieldError")},
        },
    },
    "FeedbackInput": {
        "type": "object",
        "description": "A new feedback record. Unknown keys are refused. Besides the types "
        "shown, counts and scores may be numbers written as strings, and announced one of "
        "yes/no/true/false/1/0 (as the CSV import reads them).",
        "required": ["kind", "date"],
        "additionalProperties": False,
        "properties": {
            **INPUT_FIELDS,
            "status": {
                "type": "string",
                "enum": [FeedbackStatus.DRAFT.value, FeedbackStatus.SUBMITTED.value],
                "description": "draft stores it unfinished (required items and per-kind "
                "details may be missing); submitted (the default) is final.",
            },
        },
    },
    "Feedback": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "url",
            "kind",
            "status",
            "rubric_version",
            "term",
            "section",
            "group",
            "department",
            "observer",
            "date",
            *(name for name in INPUT_FIELDS if name not in ("kind", "section", "group", "date")),
            "overall_score",
            "created_at",
            "updated_at",
            "submitted_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string", "description": "/api/v1/feedback/{id}"},
            "kind": {"type": "string", "enum": KINDS},
            "status": {"type": "string", "enum": [s.value for s in FeedbackStatus]},
            "rubric_version": {
                "type": "integer",
                "description": "The version of the kind's rubric the scores were given on.",
            },
            "term": {"type": "string", "description": "Term code."},
            "section": _nullable({"type": "string"}),
            "group": _nullable({"type": "string"}),
            "department": {"type": "string", "description": "Code of the department."},
            "observer": _nullable(
                {
                    "type": "string",
                    "description": "Username of the author; null when the caller reads the "
                    "record only as its section's teacher and teachers are not told who "
                    "observed them (FEEDBACK_SHOW_OBSERVER_TO_TEACHER).",
                }
            ),
            "date": {"type": "string", "format": "date"},
            **{
                name: schema
                for name, schema in INPUT_FIELDS.items()
                if name not in ("kind", "section", "group", "date", "scores")
            },
            "scores": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "Item code -> value, answered items only.",
            },
            "overall_score": _nullable(
                {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 100,
                    "description": "Weighted mean of the normalised item scores x 100.",
                }
            ),
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "submitted_at": _nullable({"type": "string", "format": "date-time"}),
        },
    },
    "FeedbackPage": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items", "page", "per_page", "total", "next"],
        "properties": {
            "items": {"type": "array", "items": _ref("Feedback")},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
            "total": {"type": "integer", "minimum": 0},
            "next": _nullable(
                {"type": "string", "description": "The next page's address; null on the last."}
            ),
        },
    },
    "Choice": {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "label", "label_en"],
        "properties": {
            "code": {"type": "string"},
            "label": {"type": "string"},
            "label_en": {"type": "string"},
        },
    },
    "RubricItem": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "code",
            "label",
            "label_en",
            "description",
            "description_en",
            "dimension",
            "scale_min",
            "scale_max",
            "weight",
            "required",
        ],
        "properties": {
            "code": {"type": "string", "description": "The key to use in scores."},
            "label": {"type": "string"},
            "label_en": _nullable({"type": "string"}),
            "description": _nullable({"type": "string"}),
            "description_en": _nullable({"type": "string"}),
            "dimension": {"type": "string"},
            "scale_min": {"type": "integer"},
            "scale_max": {"type": "integer"},
            "weight": {"type": "number"},
            "required": {"type": "boolean"},
        },
    },
    "Rubric": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "kind",
            "version",
            "title",
            "title_en",
            "description",
            "description_en",
            "published_at",
            "dimensions",
            "items",
            "choices",
        ],
        "properties": {
            "kind": {"type": "string", "enum": KINDS},
            "version": {"type": "integer", "minimum": 1},
            "title": {"type": "string"},
            "title_en": _nullable({"type": "string"}),
            "description": _nullable({"type": "string"}),
            "description_en": _nullable({"type": "string"}),
            "published_at": _nullable({"type": "string", "format": "date-time"}),
            "dimensions": {"type": "array", "items": _ref("Choice")},
            "items": {"type": "array", "items": _ref("RubricItem")},
            "choices": {
                "type": "object",
                "description": "The allowed values of overall_grade, and of observer_level "
                "(open_class) or meeting_format (tutor_group).",
                "additionalProperties": False,
                "required": ["overall_grade"],
                "properties": {
                    name: {"type": "array", "items": _ref("Choice")}
                    for name in ("overall_grade", "observer_level", "meeting_format")
                },
            },
        },
    },
}


_NUMBER = _nullable({"type": "number"})
_LEVELS = [level.value for level in Level]

#: The schema of each field of an aggregate row, by name; which fields there are, and their
#: order, is :data:`evalsys.aggregation.read.ROW_FIELDS` (a field missing here fails at import).
AGGREGATE_ROW_PROPERTIES: dict[str, Any] = {
    "term": {"type": "string"},
    "level": {"type": "string", "enum": _LEVELS},
    "unit_code": {"type": "string", "description": "Unit, course or section code."},
    "unit_name": _nullable({"type": "string"}),
    "parent_level": _nullable({"type": "string", "enum": _LEVELS}),
    "parent_code": _nullable({"type": "string"}),
    "kind": {
        "type": "string",
        "enum": list(RESULT_KINDS),
        "description": "A kind of feedback, or 'all' kinds together.",
    },
    "dimension": {
        "type": "string",
        "description": "A rubric dimension, or 'overall' (the overall score).",
    },
    "n": {"type": "integer", "minimum": 0, "description": "Feedback records."},
    "observers": {"type": "integer", "minimum": 0},
    "mean": _NUMBER,
    "sd": _NUMBER,
    "median": _NUMBER,
    "min": _NUMBER,
    "max": _NUMBER,
    "bands": {
        "type": "object",
        "description": "Records per band: <60, 60-70, 70-80, 80-90, >=90.",
        "additionalProperties": False,
        "required": list(BANDS),
        "properties": {band: {"type": "integer", "minimum": 0} for band in BANDS},
    },
    "insufficient": {"type": "boolean", "description": "n below MIN_N."},
    "parent_mean": _NUMBER,
    "parent_diff": _NUMBER,
    "parent_z": _NUMBER,
    "prev_term": _nullable({"type": "string"}),
    "prev_mean": _NUMBER,
    "prev_change": _NUMBER,
    "coverage": {
        "type": "object",
        "description": "Sections, teachers and tutor groups of the unit, and how many "
        "were observed (null where the level has no coverage row).",
        "additionalProperties": False,
        "required": list(COVERAGE_FIELDS),
        "properties": {
            name: _nullable({"type": "integer", "minimum": 0}) for name in COVERAGE_FIELDS
        },
    },
    "flags": {"type": "array", "items": _ref("AggregateFlag")},
}

#: One row of a term's statistics: what ``evalsys export aggregates --format json`` writes.
AGGREGATE_SCHEMAS: dict[str, Any] = {
    "AggregateFlag": {
        "type": "object",
        "additionalProperties": False,
        "required": ["flag", "value", "threshold", "reason"],
        "properties": {
            "flag": {"type": "string", "enum": [f.value for f in FlagCode]},
            "value": {"type": "number", "description": "The figure that raised the flag."},
            "threshold": {"type": "number", "description": "The configured limit it crossed."},
            "reason": {"type": "string", "description": "Why, in words."},
        },
    },
    "AggregateRow": {
        "type": "object",
        "additionalProperties": False,
        "description": "Statistics of one (level, unit, kind, dimension) on the 0-100 scale. "
        "An insufficient row (n below MIN_N) keeps its numbers but has no comparisons "
        "or flags.",
        "required": list(ROW_FIELDS),
        "properties": {name: AGGREGATE_ROW_PROPERTIES[name] for name in ROW_FIELDS},
    },
    "Aggregates": {
        "type": "object",
        "additionalProperties": False,
        "required": ["term", "unit", "run", "rows"],
        "properties": {
            "term": {"type": "string"},
            "unit": _nullable({"type": "string"}),
            "run": {
                "type": "object",
                "description": "The aggregation run the rows come from.",
                "additionalProperties": False,
                "required": ["id", "finished_at", "final", "settings"],
                "properties": {
                    "id": {"type": "integer"},
                    "finished_at": _nullable({"type": "string"}),
                    "final": {
                        "type": "boolean",
                        "description": "The final aggregation of an ended term.",
                    },
                    "settings": {
                        "type": "object",
                        "description": "MIN_N and the flag limits the run used.",
                    },
                },
            },
            "rows": {"type": "array", "items": _ref("AggregateRow")},
        },
    },
}
SCHEMAS.update(AGGREGATE_SCHEMAS)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {JSON: {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/rubrics": {
        "get": {
            "operationId": "getRubric",
            "summary": "The current rubric of a kind: item codes, labels, scales, weights.",
            "parameters": [
                {
                    "name": "kind",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "enum": KINDS},
                }
            ],
            "responses": {
                "200": _response("The rubric new feedback of this kind is given on.", "Rubric"),
                "401": _UNAUTHORIZED,
                "404": _response("No rubric of this kind is published yet.", "Error"),
                "422": _response(
                    "kind missing or unknown (the message lists the kinds).", "ValidationError"
                ),
            },
        }
    },
    "/feedback": {
        "post": {
            "operationId": "createFeedback",
            "summary": "Submit a feedback record (or save a draft).",
            "description": "The same checks as the web forms. Send an Idempotency-Key to "
            "make retries safe: the key is bound to you and to the request body, so a retry "
            "gets the first answer again and nothing is stored twice (see the header).",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_LIMIT},
                    "description": "A unique string per record, made by the client (e.g. a "
                    "UUID), kept per user. The same key with the same body (as parsed JSON: "
                    "key order, spacing and null fields do not matter; no status is "
                    "submitted) is a retry: 201 with the record the first request stored and "
                    "`Idempotent-Replayed: true`; nothing is stored again. The same key with "
                    "a different body, including a draft sent again as submitted, is 422 "
                    "(field Idempotency-Key) and stores nothing: use a new key. The same key "
                    "while the first request is still being stored is 409 with Retry-After. "
                    "A failed request does not use up its key. A record stored before keys "
                    "were bound to bodies has no digest on file: any body with its key is a "
                    "retry.",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("FeedbackInput")}},
            },
            "responses": {
                "201": _response(
                    "Stored; or, for a retry with the same Idempotency-Key and body, the "
                    "record the first request stored (as it is now), with "
                    "Idempotent-Replayed: true.",
                    "Feedback",
                    _LOCATION | _REPLAYED,
                ),
                "400": _response(
                    "The body is empty, not JSON, not a JSON object, or nested more than 32 "
                    "levels deep.",
                    "Error",
                ),
                "401": _UNAUTHORIZED,
                "403": _response(
                    "The section or group is outside your scope (field names it).", "Error"
                ),
                "409": _response(
                    "A request with the same Idempotency-Key is still being stored; nothing "
                    "was stored. Retry after Retry-After seconds to get its answer.",
                    "Error",
                    _RETRY_AFTER,
                ),
                "413": _response("The body is larger than the server accepts.", "Error"),
                "422": _response(
                    "Invalid fields, each named; or the Idempotency-Key was already used for "
                    "a different request (field Idempotency-Key: the message names the record "
                    "it stored). Nothing was stored.",
                    "ValidationError",
                ),
            },
        },
        "get": {
            "operationId": "listFeedback",
            "summary": "Records you may see, newest visit first, a page at a time.",
            "description": "Your own records (drafts too) and the submitted and withdrawn "
            "records of the departments where your roles let you read feedback (dean, head, "
            "leader, admin).",
            "parameters": [
                _query("term", {"type": "string"}, "Term code."),
                _query(
                    "unit",
                    {"type": "string"},
                    "Unit code: records of departments at or below it. 403 if no role of "
                    "yours covers the unit.",
                ),
                _query("kind", {"type": "string", "enum": KINDS}, "Kind of feedback."),
                _query(
                    "status",
                    {"type": "string", "enum": [s.value for s in FeedbackStatus]},
                    "Only records in this state (you see drafts of your own records only).",
                ),
                _query(
                    "page",
                    {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1},
                    "Page number.",
                ),
                _query(
                    "per_page",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    "Records per page.",
                ),
            ],
            "responses": {
                "200": _response("A page of records.", "FeedbackPage"),
                "401": _UNAUTHORIZED,
                "403": _response("The unit is outside your scope.", "Error"),
                "422": _response(
                    "Unknown term, unit, kind or status, or a bad page number.", "ValidationError"
                ),
            },
        },
    },
    "/aggregates": {
        "get": {
            "operationId": "listAggregates",
            "summary": "A term's statistics within your scope, the rows of "
            "`evalsys export aggregates`.",
            "description": "One row per (level, unit, kind, dimension), school first, for the "
            "units where your roles let you read reports (dean, head, leader, admin); "
            "with `unit`, that unit and everything below it.",
            "parameters": [
                {
                    "name": "term",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "Term code.",
                },
                _query(
                    "unit",
                    {"type": "string"},
                    "Code of a unit, course or section: its rows and those below it. 403 if "
                    "no role of yours lets you read its reports.",
                ),
            ],
            "responses": {
                "200": _response("The rows (possibly none in your scope).", "Aggregates"),
                "401": _UNAUTHORIZED,
                "403": _response("The unit is outside your scope.", "Error"),
                "404": _response("The term has not been aggregated yet.", "Error"),
                "422": _response("term missing, or an unknown term or unit.", "ValidationError"),
            },
        }
    },
    "/feedback/{feedback_id}": {
        "get": {
            "operationId": "getFeedback",
            "summary": "One record.",
            "parameters": [
                {
                    "name": "feedback_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                }
            ],
            "responses": {
                "200": _response("The record.", "Feedback"),
                "401": _UNAUTHORIZED,
                "404": _response("No such record, or not one you may see.", "Error"),
            },
        }
    },
}


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "evalsys API",
            "version": "1",
            "description": "Teaching-quality feedback: rubrics, spot checks, open classes and "
            "tutor-group reports; term statistics. Authenticate with "
            "`Authorization: Bearer TOKEN` (create one with `evalsys token create USERNAME`). "
            "Every error is JSON with `error` and `status`.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `evalsys token create USERNAME`.",
                }
            },
            "schemas": SCHEMAS,
        },
    }
