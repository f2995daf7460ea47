"""The OpenAPI document: valid, complete, and true to the API (fuzzed with schemathesis).

The property-based test asks schemathesis for up to 25 requests per operation,
valid and invalid ones (missing and wrong-typed fields, bad parameters, strange
strings, missing or malformed credentials), sends them to the app in process
with a real token wherever a well-formed one was generated, and checks each
answer: never a 5xx; a status code, content type, headers and body that the
document names; schema-violating requests refused. It needs no network.
"""

from __future__ import annotations

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

from evalsys.api.spec import openapi_document
from tests.api.conftest import TODAY, full_scores

DOC_URL = "/api/v1/openapi.json"


def test_document_is_valid_openapi(client):
    response = client.get(DOC_URL)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.get_json()
    validate(document)  # raises on any error
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `evalsys token create USERNAME`.",
    }


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
