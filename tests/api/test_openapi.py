"""The OpenAPI document: valid, complete, and true to the API (fuzzed with schemathesis).

It is generated (spectree, from the pydantic models of evalsys.api.schemas): the tests
below hold it to the constants the checks use (a limit changed in one place shows in
the other), and to the views (every route, every documented constraint enforced).

The property-based test asks schemathesis for up to 25 requests per operation,
valid and invalid ones (missing and wrong-typed fields, bad parameters, strange
strings, missing or malformed credentials), sends them to the app in process
with a real token wherever a well-formed one was generated, and checks each
answer: never a 5xx; a status code, content type, headers and body that the
document names; schema-violating requests refused. It needs no network.
"""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evalsys.api.views import openapi_document
from evalsys.feedback.inputs import COUNT_FIELDS, TEXT_FIELDS, FeedbackInput
from evalsys.feedback.models import IDEMPOTENCY_KEY_LIMIT, TEXT_LIMITS
from evalsys.feedback.vocab import FeedbackKind, Grade, MeetingFormat, ObserverLevel, values
from evalsys.validation import MAX_COUNT
from tests.api.test_feedback_api import URL, count, good_body
from tests.fixtures.feedback_world import TODAY, full_scores

DOC_URL = "/api/v1/openapi.json"


def test_document_is_valid_openapi(client):
    response = client.get(DOC_URL)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.get_json()
    validate(document)  # raises on any error
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/api/v1"}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `evalsys token create USERNAME`.",
    }
    # Served as generated, and the same whichever app serves it.
    assert document == openapi_document()


def _schemas() -> dict:
    return openapi_document()["components"]["schemas"]


def test_document_lists_every_feedback_field_with_its_constraint():
    """FeedbackIn is every field of a record (and status), each with the bound, length or
    choices the checks hold it to, from the same constants."""
    schema = _schemas()["FeedbackIn"]
    fields = schema["properties"]
    assert list(fields) == [f.name for f in dataclasses.fields(FeedbackInput)] + ["status"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["kind", "date"]
    for name in TEXT_FIELDS:
        assert fields[name]["maxLength"] == TEXT_LIMITS[name], name
    for name in COUNT_FIELDS:
        assert (fields[name]["minimum"], fields[name]["maximum"]) == (0, MAX_COUNT), name
    assert fields["kind"]["enum"] == list(values(FeedbackKind))
    for name, enum in (
        ("observer_level", ObserverLevel),
        ("meeting_format", MeetingFormat),
        ("overall_grade", Grade),
    ):
        assert fields[name]["enum"] == [*values(enum), None], name
    assert {"type": "integer"} in fields["enrolled"]["anyOf"]
    assert fields["date"]["type"] == "string" and fields["date"]["format"] == "date"
    assert {"type": "boolean"} in fields["announced"]["anyOf"]
    assert {
        "type": "object",
        "additionalProperties": {"anyOf": [{"type": "number"}, {"type": "null"}]},
    } in (fields["scores"]["anyOf"])
    assert fields["status"]["anyOf"][0]["enum"] == ["draft", "submitted"]
    # Every field tells a client what it is for.
    assert all(field.get("description") for field in fields.values()), fields
    post = openapi_document()["paths"]["/feedback"]["post"]
    header = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
    assert (header["in"], header["required"]) == ("header", False)
    assert header["schema"]["maxLength"] == IDEMPOTENCY_KEY_LIMIT


def test_document_describes_the_answers_exactly():
    """Answers forbid keys they do not list, and list the ones clients read."""
    schemas = _schemas()
    for name in ("FeedbackOut", "FeedbackPage", "Error", "ValidationErrors", "Rubric"):
        assert schemas[name]["additionalProperties"] is False, name
    record = schemas["FeedbackOut"]
    assert set(record["required"]) == set(record["properties"])
    assert {"id", "url", "observer", "scores", "overall_score", "created_at"} <= set(
        record["properties"]
    )
    assert schemas["Error"]["required"] == ["error", "status"]
    assert schemas["ValidationErrors"]["properties"]["errors"]["minItems"] == 1
    page = openapi_document()["paths"]["/feedback"]["get"]
    params = {p["name"]: p for p in page["parameters"]}
    assert params["per_page"]["schema"]["maximum"] == 100
    assert params["page"]["schema"]["minimum"] == 1
    assert params["kind"]["schema"]["enum"] == list(values(FeedbackKind))


def _breaking(schema: dict) -> list[object]:
    """A value breaking each constraint the schema states (or one of its branches)."""
    out: list[object] = []
    for branch in schema.get("anyOf", []):
        out += _breaking(branch)
    if "maxLength" in schema:
        out.append("x" * (schema["maxLength"] + 1))
    if "maximum" in schema:
        out.append(schema["maximum"] + 1)
    if "minimum" in schema:
        out.append(schema["minimum"] - 1)
    if "enum" in schema:
        out.append("not-one-of-them")
    return out


def test_every_constraint_the_document_states_is_enforced(api, session, world):
    """Each bound, length and choice of FeedbackIn, as the served document states it, is
    refused with a 422 naming the field (a constraint documented but not checked fails)."""
    fields = api.client.get("/api/v1/openapi.json").get_json()["components"]["schemas"][
        "FeedbackIn"
    ]["properties"]
    tried = 0
    api.as_("sup")
    for name, schema in fields.items():
        for value in _breaking(schema):
            response = api.post(URL, json=good_body(session) | {name: value})
            assert response.status_code == 422, (name, value, response.get_json())
            named = [e["field"] for e in response.get_json()["errors"]]
            assert name in named, (name, value, named)
            tried += 1
    assert tried >= len(TEXT_FIELDS) + 2 * len(COUNT_FIELDS) + 5
    assert count(session) == 0


def test_document_names_every_route_and_method(app):
    """Every /api/v1 route is documented with its methods, and nothing else is."""
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = rule.rule.removeprefix("/api/v1").replace("<int:feedback_id>", "{feedback_id}")
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {
        (path, method) for path, item in openapi_document()["paths"].items() for method in item
    }
    assert served == documented


def test_every_operation_documents_the_422_of_an_unstorable_query_parameter(client):
    """Any /api/v1 address answers 422 for a parameter no database can store (the
    before_request rule): the document says so on every operation."""
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            assert "422" in operation["responses"], (method, path)
            assert operation["responses"]["422"]["description"] != "Unprocessable Content"
    response = client.get("/api/v1/openapi.json?x=a%00b")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "x"


def test_every_protected_operation_documents_401():
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                assert path == "/openapi.json"
                continue
            assert "401" in operation["responses"], (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


# --- property-based: schemathesis over every operation ----------------------------------------


@pytest.fixture
def api_token(world, token_for) -> str:
    """A token of the admin of the school: every operation is in scope for it."""
    return token_for("admin")


@pytest.fixture
def aggregated_term(session, world, stored) -> str:
    """The world's term with a record and a successful aggregation, so GET /aggregates has rows."""
    from evalsys.aggregation import service

    stored(world.supervisor)
    service.aggregate_term(session, term=world.term.code)
    return world.term.code


@pytest.fixture
def valid_targets(session, world) -> dict[str, dict]:
    """Per kind: a target the admin may record on, a date in its term, full scores."""
    common = {"date": TODAY.isoformat(), "section": None, "group": None}
    return {
        kind: common | {target: code, "scores": full_scores(session, kind)}
        for kind, target, code in (
            ("spot_check", "section", "SE101-01"),
            ("open_class", "section", "SE101-01"),
            ("tutor_group", "group", "G-SE-1"),
        )
    }


#: Built from the same document the app serves; requests go to each test's own app.
schema = schemathesis.openapi.from_dict(openapi_document())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(case, app, api_token, valid_targets, aggregated_term):
    # Schemathesis writes a random bearer token where the document asks for one, and
    # leaves it out or malforms it in negative cases (which must then get a 401).
    # A well-formed one is swapped for a real token, so every operation is reached.
    if case.headers and case.headers.get("Authorization", "").startswith("Bearer "):
        case.headers["Authorization"] = f"Bearer {api_token}"
    # Random codes name no section: point valid bodies at a real target, date and
    # scores, so that the other (random) fields reach the checks and the database.
    if case.operation.label == "POST /feedback" and isinstance(case.body, dict):
        kind = case.body.get("kind")
        if (
            isinstance(kind, str)
            and kind in valid_targets
            and not case.meta.generation.mode.is_negative
        ):
            case.body.update(valid_targets[kind])
    # Likewise a real term (and at times no unit), so that rows come back and are checked.
    if case.operation.label == "GET /aggregates" and not case.meta.generation.mode.is_negative:
        case.query = dict(case.query or {}, term=aggregated_term)
        if len(str(case.query.get("unit", ""))) % 2:
            case.query.pop("unit", None)
    case.call_and_validate(app=app, checks=CHECKS)
