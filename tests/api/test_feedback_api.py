"""POST/GET /api/v1/feedback and GET /api/v1/rubrics: accept, refuse, list, scope."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from evalsys.clock import local_today
from evalsys.feedback.models import Feedback, FeedbackRevision, FeedbackScore, RubricItem
from evalsys.feedback.rubrics import current_rubric, rubric_items
from evalsys.org.models import OrgUnit
from tests.api.conftest import body_of
from tests.fixtures.feedback_world import TODAY, full_scores

URL = "/api/v1/feedback"


def count(session: Session, model=Feedback) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def good_body(session: Session, **overrides) -> dict:
    """A valid spot check on SE101-01 (supervisor@CS may), as JSON."""
    body = {
        "kind": "spot_check",
        "section": "SE101-01",
        "date": TODAY.isoformat(),
        "class_period": "3-4节",
        "location": "教一-201",
        "announced": False,
        "enrolled": 40,
        "present": 36,
        "late": 2,
        "overall_grade": "good",
        "strengths": "讲解清楚",
        "problems": "互动偏少",
        "suggestions": "增加提问",
        "comment": "整体良好",
        "scores": full_scores(session, "spot_check", 8),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


# --- accept -------------------------------------------------------------------------------


def test_post_stores_the_record_field_by_field(api, session, world):
    body = good_body(session)
    body["scores"]["method_media"] = 6

    response = api.as_("sup").post(URL, json=body)

    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert response.headers["Location"] == f"/api/v1/feedback/{data['id']}"
    stored = session.get(Feedback, data["id"])
    assert stored is not None
    assert (stored.kind, stored.status) == ("spot_check", "submitted")
    assert stored.section_id == world.se.id and stored.group_id is None
    assert stored.term_id == world.term.id
    cs_se = session.exec(select(OrgUnit).where(OrgUnit.code == "CS-SE")).one()
    assert stored.department_id == cs_se.id
    assert stored.observer_id == world.supervisor.id
    assert stored.visit_date == TODAY
    assert (stored.class_period, stored.location, stored.announced) == ("3-4节", "教一-201", False)
    assert (stored.enrolled, stored.present, stored.late, stored.attending) == (40, 36, 2, None)
    assert stored.overall_grade == "good"
    assert (stored.strengths, stored.problems, stored.suggestions, stored.comment) == (
        "讲解清楚",
        "互动偏少",
        "增加提问",
        "整体良好",
    )
    assert stored.idempotency_key is None
    assert stored.submitted_at is not None
    # Every item 8/10 but method_media (weight 8 of 100) 6/10: 80 - 8 * 0.2 = 78.4.
    assert stored.overall_score == pytest.approx(78.4)
    scores = dict(
        session.exec(
            select(RubricItem.code, FeedbackScore.value)
            .join(RubricItem, RubricItem.id == FeedbackScore.item_id)
            .where(FeedbackScore.feedback_id == stored.id)
        ).all()
    )
    assert scores == body["scores"]
    revision = session.exec(
        select(FeedbackRevision).where(FeedbackRevision.feedback_id == stored.id)
    ).one()
    assert (revision.action, revision.user_id) == ("create", world.supervisor.id)

    # The answer is the stored record as GET shows it.
    assert data == api.get(response.headers["Location"]).get_json()
    assert data["observer"] == "sup" and data["department"] == "CS-SE"
    assert data["term"] == "2026-2027-1" and data["section"] == "SE101-01"
    assert data["group"] is None and data["rubric_version"] == 1
    assert data["overall_score"] == pytest.approx(78.4)
    assert data["scores"] == body["scores"]
    assert data["date"] == TODAY.isoformat()


def test_post_each_kind(api, session, world, make_input):
    for who, kind in (("leader", "open_class"), ("tutor", "tutor_group")):
        response = api.as_(who).post(URL, json=body_of(make_input(kind)))
        assert response.status_code == 201, response.get_json()
        stored = session.get(Feedback, response.get_json()["id"])
        assert stored.kind == kind
    stored = session.exec(select(Feedback).where(Feedback.kind == "tutor_group")).one()
    assert (stored.group_id, stored.meeting_format, stored.attending) == (
        world.group.id,
        "student_discussion",
        8,
    )


def test_post_a_draft(api, session, world):
    body = good_body(session, scores={"content_accuracy": 7}, announced=None)
    body["status"] = "draft"
    response = api.as_("sup").post(URL, json=body)
    assert response.status_code == 201, response.get_json()
    stored = session.get(Feedback, response.get_json()["id"])
    assert (stored.status, stored.submitted_at, stored.announced) == ("draft", None, None)
    assert response.get_json()["status"] == "draft"


def test_post_needs_no_csrf_token_and_sets_no_cookie(csrf_app, session, world, token_for):
    client = csrf_app.test_client()
    headers = {"Authorization": f"Bearer {token_for('sup')}"}
    response = client.post(URL, json=good_body(session), headers=headers)
    assert response.status_code == 201, response.get_json()
    assert "Set-Cookie" not in response.headers
    # ... while the web forms of the same app still refuse a POST without one.
    assert client.post("/login", data={"username": "sup", "password": "x"}).status_code == 400


def test_api_never_sets_a_session_cookie(api, auth, client, session, world):
    responses = [
        client.get(URL),  # 401
        api.as_("sup").get(URL),
        api.post(URL, json=good_body(session)),
        api.post(URL, data="nope"),
        api.get("/api/v1/openapi.json", headers={}),
    ]
    for response in responses:
        assert "Set-Cookie" not in response.headers, response.status_code
    # Not even for a browser that is logged in to the web pages.
    auth.login("sup")
    assert "Set-Cookie" not in api.get(URL).headers


# --- refuse: 401 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic c3VwOnB3",
        "Bearer evs_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxxxxxxxxx",
        "Bearer garbage",
        "Token evs_xyz",
    ],
)
def test_no_or_bad_token_is_401_and_stores_nothing(client, session, world, header):
    headers = {"Authorization": header} if header is not None else {}
    for response in (
        client.post(URL, json=good_body(session), headers=headers),
        client.get(URL, headers=headers),
        client.get("/api/v1/rubrics?kind=spot_check", headers=headers),
        client.get(f"{URL}/1", headers=headers),
    ):
        assert response.status_code == 401
        assert response.get_json()["status"] == 401
        assert response.get_json()["error"]
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="evalsys API"')
    assert count(session) == 0


def test_bad_token_challenge_says_invalid_token(client):
    response = client.get(URL, headers={"Authorization": "Bearer evs_wrong"})
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="evalsys API", error="invalid_token"'
    )
    assert client.get(URL).headers["WWW-Authenticate"] == 'Bearer realm="evalsys API"'


def test_revoked_token_is_401(client, session, world, token_for, cli):
    raw = token_for("sup")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(URL, headers=headers).status_code == 200
    assert cli("token", "revoke", raw[:12]).exit_code == 0
    response = client.post(URL, json=good_body(session), headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "the token is unknown or revoked", "status": 401}
    assert count(session) == 0


def test_token_of_a_deactivated_user_is_401(client, session, world, token_for):
    raw = token_for("sup")
    world.supervisor.active = False
    session.add(world.supervisor)
    session.commit()
    assert client.get(URL, headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_scheme_is_case_insensitive(client, world, token_for):
    raw = token_for("sup")
    assert client.get(URL, headers={"Authorization": f"bearer {raw}"}).status_code == 200


# --- refuse: 403 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "overrides", "field", "message"),
    [
        (
            "sup",
            {"section": "MA101-01"},
            "section",
            "the section 'MA101-01' is outside your scope for spot checks",
        ),
        (
            "dean",
            {},
            "section",
            "the section 'SE101-01' is outside your scope for spot checks",
        ),
        (  # unknown reads exactly like outside: the answer tells no code exists
            "sup",
            {"section": "NOPE-01"},
            "section",
            "the section 'NOPE-01' is outside your scope for spot checks",
        ),
        (
            "teacher",
            {},
            "section",
            "the section 'SE101-01' is outside your scope for spot checks",
        ),
    ],
)
def test_outside_scope_is_403_and_stores_nothing(
    api, session, world, deans, who, overrides, field, message
):
    response = api.as_(who).post(URL, json=good_body(session, **overrides))
    assert response.status_code == 403
    assert response.get_json() == {"error": message, "status": 403, "field": field}
    assert count(session) == 0


def test_other_tutors_group_is_403(api, session, world, make_input):
    response = api.as_("tutor2").post(URL, json=body_of(make_input("tutor_group")))
    assert response.status_code == 403
    assert response.get_json()["field"] == "group"
    assert count(session) == 0


# --- refuse: 422 -------------------------------------------------------------------------

#: Stands for a date after the server's today, worked out when the test runs (not when it
#: is collected, which may be before midnight; the API checks against the real date).
FUTURE = "<tomorrow>"

BAD_FIELDS = [
    ({"kind": "lecture"}, "kind", "unknown kind 'lecture'"),
    ({"kind": None}, "kind", "required"),
    ({"date": None}, "date", "required"),
    ({"date": "15/10/2026"}, "date", "must be a date written YYYY-MM-DD"),
    ({"date": "2026-02-30"}, "date", "must be a date written YYYY-MM-DD"),
    ({"date": "2026-08-31"}, "date", "outside the term 2026-2027-1"),
    ({"date": FUTURE}, "date", "is in the future"),
    ({"section": None}, "section", "required"),
    ({"group": "G-SE-1"}, "group", "only tutor-group reports name a group"),
    ({"present": 41}, "present", "41 present is more than the 40 enrolled"),
    ({"late": 37}, "late", "37 late is more than the 36 present"),
    ({"enrolled": -1}, "enrolled", "must be 0 or more"),
    ({"enrolled": 3.5}, "enrolled", "must be a whole number"),
    ({"enrolled": 10**12}, "enrolled", "at most 100000"),
    ({"attending": 5}, "attending", "only tutor-group reports count attending"),
    ({"announced": "maybe"}, "announced", "must be true or false"),
    ({"announced": None}, "announced", "required"),
    ({"observer_level": "peer"}, "observer_level", "only open class records have this"),
    ({"overall_grade": "superb"}, "overall_grade", "must be one of excellent, good"),
    ({"comment": "x" * 4001}, "comment", "4001 characters is too long; the limit is 4000"),
    ({"location": 12}, "location", "must be text"),
    ({"comment": "bad\x00byte"}, "comment", "contains a control character (such as NUL)"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"status": "final"}, "status", "must be 'draft' or 'submitted'"),
    ({"status": ""}, "status", "must be 'draft' or 'submitted'"),
    ({"status": "draft\x00"}, "status", "contains a control character (such as NUL)"),
    ({"scores": [1, 2]}, "scores", "must be an object mapping item codes to numbers"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_FIELDS)
def test_bad_field_is_422_named_and_stores_nothing(api, session, world, overrides, field, message):
    if overrides.get("date") == FUTURE:
        overrides = {"date": (local_today() + timedelta(days=1)).isoformat()}
    response = api.as_("sup").post(URL, json=good_body(session) | overrides)
    assert response.status_code == 422, response.get_json()
    data = response.get_json()
    assert data["status"] == 422
    assert data["error"] == "invalid feedback: nothing was stored"
    messages = [e["message"] for e in data["errors"] if e["field"] == field]
    assert messages, data
    assert any(message in m for m in messages), messages
    assert count(session) == 0
    assert count(session, FeedbackRevision) == 0


#: A value of the wrong JSON type for each field, and what the client is told.
WRONG_TYPES = [
    ("kind", 3, "must be text"),
    ("section", [1], "must be text"),
    ("group", {"a": 1}, "must be text"),
    ("date", 20261015, "must be a date written YYYY-MM-DD"),
    ("class_period", 3.5, "must be text"),
    ("location", True, "must be text"),
    ("announced", [], "must be true or false"),
    ("observer_level", 1, "must be text"),
    ("meeting_format", False, "must be text"),
    ("enrolled", "forty", "must be a whole number"),
    ("present", True, "must be a whole number"),
    ("late", [2], "must be a whole number"),
    ("attending", {"n": 1}, "must be a whole number"),
    ("topics", ["a"], "must be text"),
    ("overall_grade", {}, "must be text"),
    ("strengths", 1, "must be text"),
    ("problems", 2.0, "must be text"),
    ("suggestions", 0, "must be text"),
    ("comment", [[["deep"]]], "must be text"),
    ("scores", "eight", "must be an object mapping item codes to numbers"),
    ("status", 1, "must be 'draft' or 'submitted' (the default)"),
]


def test_every_field_is_tried_with_a_wrong_type():
    from evalsys.api.schemas import FeedbackIn

    assert [name for name, _, _ in WRONG_TYPES] == list(FeedbackIn.model_fields)


@pytest.mark.parametrize(("field", "value", "message"), WRONG_TYPES)
def test_a_field_of_the_wrong_type_is_named_in_our_words(
    api, session, world, field, value, message
):
    response = api.as_("sup").post(URL, json=good_body(session) | {field: value})
    assert response.status_code == 422, response.get_json()
    assert response.get_json() == {
        "error": "invalid feedback: nothing was stored",
        "status": 422,
        "errors": [{"field": field, "message": message}],
    }
    assert count(session) == 0


def test_every_unreadable_field_is_named_at_once_in_english(api, session, world):
    """Pydantic reads the body, but its words never reach a client; a client asking for
    Chinese still reads English (the API speaks to programs), and keys no database can
    store are written printable."""
    body = good_body(session) | {
        "enrolled": "forty",
        "date": "tomorrow",
        "scores": {"content_accuracy": "high", "bad\u0000code": 1},
        "colour": "red",
        "a\u0000b": 1,
    }
    raw = json.dumps(body)  # NUL travels as the escape \\u0000, as a client writes it
    response = api.as_("sup").post(
        URL, data=raw, content_type="application/json", headers={"Accept-Language": "zh"}
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors == [
        {"field": "date", "message": "must be a date written YYYY-MM-DD"},
        {"field": "enrolled", "message": "must be a whole number"},
        {"field": "scores.content_accuracy", "message": "must be a number"},
        {
            "field": "scores",
            "message": "contains a control character (such as NUL) that text cannot hold",
        },
        {"field": "colour", "message": "unknown field"},
        {"field": "a\\x00b", "message": "unknown field"},
    ]
    assert count(session) == 0


#: Raw JSON values a hostile or broken client sends: numbers Python reads as inf, nan or
#: 400 digits, nested junk, a lone surrogate.
HOSTILE_JSON = {
    "inf": "1e999",
    "nan": "NaN",
    "huge": "1" + "0" * 400,
    "huge_negative": "-" + "9" * 40,
    "nested": "[[[[{}]]]]",
    "surrogate": '"\\ud800"',
}


@pytest.mark.parametrize("label", list(HOSTILE_JSON))
def test_hostile_values_are_refused_naming_the_field(api, session, world, label):
    """Every field of FeedbackIn (and a score), sent each hostile value: a 4xx whose body
    names the field, never a 5xx, nothing stored."""
    from evalsys.api.schemas import FeedbackIn

    api.as_("sup")
    marker = '"__HOSTILE__"'
    for field in [*FeedbackIn.model_fields, "scores.content_accuracy"]:
        body = good_body(session)
        if field.startswith("scores."):
            body["scores"][field.removeprefix("scores.")] = "__HOSTILE__"
        else:
            body[field] = "__HOSTILE__"
        raw = json.dumps(body).replace(marker, HOSTILE_JSON[label])
        response = api.post(URL, data=raw, content_type="application/json")
        answer = response.get_json()
        assert 400 <= response.status_code < 500, (field, label, response.status_code, answer)
        named = [e["field"] for e in answer.get("errors", [])] + [answer.get("field")]
        assert field in named, (field, label, answer)
    assert count(session) == 0


def test_a_missing_kind_says_which_kinds_there_are(api, session, world):
    body = good_body(session)
    del body["kind"]
    response = api.as_("sup").post(URL, json=body)
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "kind", "message": "required: spot_check, open_class or tutor_group"}
    ]


def test_an_unstorable_idempotency_key_is_named(api, session, world):
    response = api.as_("sup").post(
        URL, json=good_body(session), headers={"Idempotency-Key": "k\x01ey"}
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "Idempotency-Key", "message": "must be plain text"}
    ]
    assert count(session) == 0


def test_a_json_body_is_read_whatever_its_content_type(api, session, world):
    """As before: the body is JSON whatever the client calls it."""
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = api.as_("sup").post(
            URL, data=json.dumps(good_body(session)), content_type=content_type
        )
        assert response.status_code == 201, (content_type, response.get_json())
    assert count(session) == 2


def test_an_answer_that_breaks_its_model_is_a_plain_500(api, session, world, stored, monkeypatch):
    """The document promises only what answers have: an answer its model refuses (here a
    key the model does not list) is not sent; the client gets our 500 and the log the why."""
    from evalsys.api import records

    record = stored(world.supervisor)
    real = records.record_json
    monkeypatch.setattr(records, "record_json", lambda *a, **kw: real(*a, **kw) | {"extra": 1})
    response = api.as_("sup").get(f"{URL}/{record.id}")
    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal Server Error", "status": 500}


@pytest.mark.parametrize(
    ("code", "value", "message"),
    [
        ("content_accuracy", 11, "11 is outside the scale 0–10"),
        ("content_accuracy", -1, "-1 is outside the scale 0–10"),
        ("content_accuracy", "eight", "must be a number"),
        ("content_accuracy", True, "must be a number"),
        ("no_such_item", 5, "no item 'no_such_item' in the spot_check rubric v1"),
        ("content_accuracy", None, "required: "),
    ],
)
def test_bad_score_is_422_named_and_stores_nothing(api, session, world, code, value, message):
    body = good_body(session)
    body["scores"][code] = value
    response = api.as_("sup").post(URL, json=body)
    assert response.status_code == 422
    fields = {e["field"]: e["message"] for e in response.get_json()["errors"]}
    assert message in fields[f"scores.{code}"]
    assert count(session) == 0


def test_every_bad_field_is_listed_at_once(api, session, world):
    body = good_body(session, present=50, comment="x" * 5000, date="2026-08-01")
    response = api.as_("sup").post(URL, json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["date", "present", "comment"]


# --- refuse: 400 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        ("kind=spot_check", "application/x-www-form-urlencoded", "the body is not valid JSON"),
        ("{'kind': 'spot_check'}", "application/json", "the body is not valid JSON"),
        ('{"kind": "spot_check"', "application/json", "the body is not valid JSON"),
        ("", "application/json", "the body is empty"),
        ("[1, 2]", "application/json", "the body must be a JSON object, not an array"),
        ('"spot_check"', "application/json", "the body must be a JSON object, not a string"),
        ("null", "application/json", "the body must be a JSON object, not null"),
        ("42", "application/json", "the body must be a JSON object, not a number"),
        (b"\xff\xfe{}", "application/json", "the body is not valid JSON"),
        ("[" * 100_000, "application/json", "the body is not valid JSON"),
        # Valid JSON, but deeper than Python's recursion limit lets the checks walk.
        (
            '{"comment": ' + "[" * 600 + "]" * 600 + "}",
            "application/json",
            "the body is nested too deeply",
        ),
        (
            '{"scores": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}",
            "application/json",
            "the body is nested too deeply",
        ),
    ],
)
def test_body_not_a_json_object_is_400(api, session, world, data, content_type, message):
    response = api.as_("sup").post(URL, data=data, content_type=content_type)
    assert response.status_code == 400
    body = response.get_json()
    assert body["status"] == 400
    assert body["error"].startswith(message)
    assert count(session) == 0


# --- idempotency: tests/api/test_idempotency.py ------------------------------------------


# --- reading ----------------------------------------------------------------------------


def test_list_is_scoped_dean_of_cs_sees_nothing_of_math(api, session, world, deans, stored):
    se = stored(world.supervisor)
    math = stored(world.math_admin, section="MA101-01")
    stored(world.supervisor, draft=True)  # a draft: its author's alone

    cs = api.as_("dean").get(URL).get_json()
    assert [r["id"] for r in cs["items"]] == [se.id]
    assert cs["total"] == 1
    assert api.as_("mdean").get(URL).get_json()["total"] == 1
    assert [r["id"] for r in api.get(URL).get_json()["items"]] == [math.id]
    assert api.as_("head").get(URL).get_json()["total"] == 1
    # The author sees their own records, the draft too; an admin of U sees all submitted.
    assert api.as_("sup").get(URL).get_json()["total"] == 2
    assert api.as_("admin").get(URL).get_json()["total"] == 2
    # Someone with neither sees nothing (a tutor: no records of theirs, none in scope).
    assert api.as_("tutor").get(URL).get_json() == {
        "items": [],
        "page": 1,
        "per_page": 20,
        "total": 0,
        "next": None,
    }
    # One record: 404 outside scope, whether or not it exists.
    api.as_("dean")
    assert api.get(f"{URL}/{se.id}").status_code == 200
    assert api.get(f"{URL}/{math.id}").status_code == 404
    assert api.get(f"{URL}/99999").get_json() == {
        "error": "no feedback record 99999 that you may see",
        "status": 404,
    }
    assert api.get(f"{URL}/{10**12}").status_code == 404


def test_list_filters(api, session, world, deans, stored):
    spot = stored(world.supervisor)
    open_class = stored(world.leader, "open_class")
    math = stored(world.math_admin, section="MA101-01")
    api.as_("admin")

    def ids(query: str) -> list[int]:
        response = api.get(URL + query)
        assert response.status_code == 200, response.get_json()
        return sorted(r["id"] for r in response.get_json()["items"])

    assert ids("?kind=open_class") == [open_class.id]
    assert ids("?unit=CS") == sorted([spot.id, open_class.id])
    assert ids("?unit=MATH-PURE") == [math.id]
    assert ids("?term=2026-2027-1&unit=U&kind=spot_check") == sorted([spot.id, math.id])
    assert ids("?status=submitted&unit=MATH") == [math.id]
    assert ids("?status=draft") == []
    # A parameter given twice counts by its first value.
    assert ids("?kind=open_class&kind=lecture") == [open_class.id]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?term=1999-2000-1", "term", "there is no term '1999-2000-1'"),
        ("?unit=NOPE", "unit", "there is no unit 'NOPE'"),
        ("?kind=lecture", "kind", "unknown kind 'lecture'"),
        ("?status=gone", "status", "unknown status"),
        ("?page=0", "page", "must be a whole number, 1 or more"),
        ("?page=x", "page", "must be a whole number, 1 or more"),
        ("?per_page=101", "per_page", "at most 100"),
        ("?per_page=2.5", "per_page", "must be a whole number, 1 or more"),
        ("?page=-1", "page", "must be a whole number, 1 or more"),
        ("?page=" + "9" * 30, "page", "at most 1000000"),
        ("?term=a%00b", "term", "contains a control character (such as NUL)"),
    ],
)
def test_list_bad_query_is_422(api, world, query, field, message):
    response = api.as_("admin").get(URL + query)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors[0]["field"] == field and message in errors[0]["message"]


def test_list_unit_outside_scope_is_403(api, world, deans):
    response = api.as_("dean").get(URL + "?unit=MATH")
    assert response.status_code == 403
    assert response.get_json() == {"error": "the unit 'MATH' is outside your scope", "status": 403}
    # A supervisor may filter by a unit they work in, and sees their own records there.
    assert api.as_("sup").get(URL + "?unit=CS-SE").status_code == 200


def test_list_pagination(api, session, world, stored):
    made = [stored(world.supervisor, date=TODAY - timedelta(days=i)) for i in range(5)]
    api.as_("admin")
    first = api.get(URL + "?per_page=2&kind=spot_check").get_json()
    assert [r["id"] for r in first["items"]] == [made[0].id, made[1].id]  # newest visit first
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 5)
    assert first["next"] == "/api/v1/feedback?kind=spot_check&page=2&per_page=2"
    second = api.get(first["next"]).get_json()
    assert [r["id"] for r in second["items"]] == [made[2].id, made[3].id]
    third = api.get(second["next"]).get_json()
    assert [r["id"] for r in third["items"]] == [made[4].id]
    assert third["next"] is None
    assert api.get(URL + "?page=9").get_json()["items"] == []
    assert third["items"][0]["scores"] == full_scores(session, "spot_check", 8)


def test_list_runs_a_bounded_number_of_queries(api, app, session, world, stored, queries):
    for i in range(12):
        stored(world.supervisor, date=TODAY - timedelta(days=i))
    api.as_("admin")
    api.get(URL)  # the token's first use writes last_used_at; later ones within a minute don't
    with queries() as statements:
        api.get(URL + "?per_page=2&unit=CS")
        small = len(statements)
        statements.clear()
        response = api.get(URL + "?per_page=12&unit=CS")
        large = len(statements)
    assert len(response.get_json()["items"]) == 12
    assert small == large
    # BEGIN, token, unit, scope check, count, page, scores
    assert large <= 7, statements


# --- rubrics ----------------------------------------------------------------------------


def test_rubric_of_a_kind(api, session, world):
    response = api.as_("sup").get("/api/v1/rubrics?kind=spot_check")
    assert response.status_code == 200
    data = response.get_json()
    rubric = current_rubric(session, "spot_check")
    items = rubric_items(session, rubric.id)
    assert (data["kind"], data["version"], data["title"]) == ("spot_check", 1, rubric.title)
    assert [i["code"] for i in data["items"]] == [i.code for i in items]
    first = data["items"][0]
    assert first == {
        "code": "attitude_preparation",
        "label": "备课充分",
        "label_en": "Well prepared",
        "description": items[0].description,
        "description_en": items[0].description_en,
        "dimension": "attitude",
        "scale_min": 0,
        "scale_max": 10,
        "weight": 8,
        "required": True,
    }
    assert sum(i["weight"] for i in data["items"]) == 100
    assert [c["code"] for c in data["choices"]["overall_grade"]] == [
        "excellent",
        "good",
        "fair",
        "pass",
        "fail",
    ]
    assert "observer_level" not in data["choices"]
    tutor = api.get("/api/v1/rubrics?kind=tutor_group").get_json()
    assert tutor["items"][0]["scale_max"] == 5
    assert [c["code"] for c in tutor["choices"]["meeting_format"]] == [
        "tutor_meeting",
        "student_discussion",
    ]


@pytest.mark.parametrize("query", ["?kind=lecture", "", "?kind="])
def test_rubric_unknown_kind_is_422_listing_kinds(api, world, query):
    response = api.as_("sup").get("/api/v1/rubrics" + query)
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert error["field"] == "kind"
    assert error["message"].endswith("one of spot_check, open_class, tutor_group")


def test_rubric_not_published_is_404(api, factory):
    factory.user("someone")
    response = api.as_("someone").get("/api/v1/rubrics?kind=open_class")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "there is no published open_class rubric yet",
        "status": 404,
    }


def test_unknown_api_path_and_method_answer_json(api, world):
    api.as_("sup")
    response = api.get("/api/v1/nothing")
    assert (response.status_code, response.get_json()) == (
        404,
        {"error": "Not found", "status": 404},
    )
    response = api.client.put(URL, headers=api.headers())
    assert response.status_code == 405
    assert json.loads(response.data)["status"] == 405


def test_body_too_large_is_413_json(api, app, session, world):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = api.as_("sup").post(URL, json=good_body(session, comment="x" * 2000))
    assert response.status_code == 413
    assert response.get_json() == {"error": "Too large", "status": 413}
    assert count(session) == 0


def test_a_teacher_reads_the_submitted_records_on_their_sections_without_the_observer(
    api, app, session, world, deans, stored
):
    """As on the web's record page: the teacher of the section reads it; who observed them
    stays hidden unless FEEDBACK_SHOW_OBSERVER_TO_TEACHER is on. Drafts never."""
    se = stored(world.supervisor)
    stored(world.supervisor, draft=True)
    math = stored(world.math_admin, section="MA101-01")
    listed = api.as_("teacher").get(URL).get_json()
    assert [r["id"] for r in listed["items"]] == [se.id]
    assert listed["items"][0]["observer"] is None
    one = api.get(f"{URL}/{se.id}").get_json()
    assert one["observer"] is None and one["scores"] == listed["items"][0]["scores"]
    assert api.get(f"{URL}/{math.id}").status_code == 404
    # A reviewer of the unit still sees the observer on the same record.
    assert api.as_("dean").get(f"{URL}/{se.id}").get_json()["observer"] == "sup"
    app.config["FEEDBACK_SHOW_OBSERVER_TO_TEACHER"] = True
    assert api.as_("teacher").get(f"{URL}/{se.id}").get_json()["observer"] == "sup"
