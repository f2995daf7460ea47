"""The form's autosave endpoint (evalsys/feedback/autosave.py), on both databases.

A draft is made once under the form's idempotency key and then updated; a visit sent
from the offline outbox (``"submit": true``) is stored exactly once however often it
is sent; refusals come back as JSON; the form POST that follows an autosave finishes
the draft rather than taking it for a resend; a stale CSRF token brings the form back
with the text.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlmodel import select

from evalsys import create_app
from evalsys.db import get_engine
from evalsys.feedback.models import Feedback, Rubric
from evalsys.feedback.reads import feedback_scores
from evalsys.feedback.rubrics import current_rubric
from tests.factories import Factory
from tests.feedback.test_views_support import SPOT, count, form_post, fresh, only_record, text

URL = "/feedback/autosave"


def fields(session, **overrides) -> dict[str, str]:
    data = form_post(session, SPOT, **overrides)
    data.pop("send", None)
    return data


def rubric_id(session) -> int:
    rubric = current_rubric(session, SPOT)
    assert rubric is not None and rubric.id is not None
    return rubric.id


def body(session, key="k-1", submit=False, record=None, **overrides) -> dict:
    return {
        "kind": SPOT,
        "key": key,
        "record": record,
        "rubric": rubric_id(session),
        "fields": fields(session, **overrides),
        "submit": submit,
    }


def test_first_save_makes_a_draft_later_saves_update_it(client, auth, session, web):
    auth.login("sup")
    partial = body(session, strengths="第一稿", present=None, enrolled=None, late=None)
    partial["fields"] = {
        k: v for k, v in partial["fields"].items() if not k.startswith("scores-content")
    }
    first = client.post(URL, json=partial)
    assert first.status_code == 200, first.get_json()
    answer = first.get_json()
    assert answer["status"] == "draft" and answer["replayed"] is False
    draft = only_record(session)
    assert (draft.status, draft.strengths, draft.idempotency_key) == ("draft", "第一稿", "k-1")

    second = client.post(URL, json=body(session, strengths="第二稿"))
    assert second.status_code == 200 and second.get_json()["id"] == draft.id
    again = only_record(session)
    assert (again.status, again.strengths) == ("draft", "第二稿")
    assert feedback_scores(session, again.id)["content_focus"] == 8.0


def test_two_saves_racing_never_make_two_drafts(client, auth, session, web):
    auth.login("sup")
    for _ in range(3):
        assert client.post(URL, json=body(session, key="same")).status_code == 200
    assert count(session) == 1


def test_a_draft_being_finished_is_saved_by_its_id(client, auth, session, web):
    auth.login("sup")
    client.post("/feedback/new/spot_check", data=fields(session, save_draft="y", strengths="a"))
    draft = only_record(session)
    response = client.post(URL, json=body(session, key=None, record=draft.id, strengths="b"))
    assert response.status_code == 200
    assert only_record(session).strengths == "b"


def test_sent_from_the_outbox_is_stored_exactly_once(client, auth, session, web):
    auth.login("sup")
    payload = body(session, key="offline-1", submit=True)
    first = client.post(URL, json=payload)
    assert first.status_code == 200 and first.get_json()["status"] == "submitted"
    # the answer tells the next page to forget the device copy of this visit
    assert "evalsys_stored=" in first.headers.get("Set-Cookie", "")
    again = client.post(URL, json=payload)  # the network dropped the first answer
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count(session) == 1


def test_autosave_then_submit_finishes_the_draft(client, auth, session, web):
    """The form's own POST under the key its autosave used: the draft is submitted."""
    auth.login("sup")
    assert client.post(URL, json=body(session, key="k-9", strengths="草稿")).status_code == 200
    response = client.post(
        "/feedback/new/spot_check", data=form_post(session, SPOT, idempotency_key="k-9")
    )
    assert response.status_code == 303
    record = only_record(session)
    assert (record.status, record.strengths) == ("submitted", "讲解清楚")
    assert "evalsys_stored=" in response.headers.get("Set-Cookie", "")


def test_refusals_are_json_and_store_nothing(client, auth, session, web):
    auth.login("sup")
    bad = client.post(URL, json=body(session, present="45", submit=True))  # 45 of 40 enrolled
    assert bad.status_code == 422
    assert any(e["field"] == "present" for e in bad.get_json()["errors"])
    assert count(session) == 0

    stale = body(session)
    stale["rubric"] = rubric_id(session) + 1000
    conflict = client.post(URL, json=stale)
    assert conflict.status_code == 409 and conflict.get_json()["conflict"] == "rubric"

    outside = client.post(URL, json=body(session, section="MA101-01"))
    assert outside.status_code in (403, 422)
    assert count(session) == 0

    assert client.post(URL, data="not json").status_code == 400
    assert client.post(URL, json={"kind": "lecture", "fields": {}}).status_code == 400
    assert count(session) == 0


def test_a_submitted_record_is_not_autosaved_over(client, auth, session, web):
    auth.login("sup")
    client.post(URL, json=body(session, key="k-2", submit=True))
    record = only_record(session)
    response = client.post(URL, json=body(session, key=None, record=record.id, strengths="x"))
    assert response.status_code == 409
    assert only_record(session).strengths == "讲解清楚"


def test_only_the_author_and_only_their_kinds(client, auth, session, web):
    auth.login("sup")
    client.post(URL, json=body(session, key="k-3"))
    draft = only_record(session)
    auth.logout()
    auth.login("teacher")
    assert client.post(URL, json=body(session, key="k-3")).status_code == 403
    auth.logout()
    auth.login("admin")  # may write spot checks, but not into another's draft
    response = client.post(URL, json=body(session, key=None, record=draft.id))
    assert response.status_code in (403, 404) and response.is_json
    gone = client.post(URL, json=body(session, key=None, record=draft.id + 1000))
    assert gone.status_code == 404 and gone.is_json
    fresh(session)
    assert session.exec(select(Feedback)).one().observer_id == web.supervisor.id


@pytest.fixture
def csrf_app(database_url: str, tmp_path) -> Flask:
    app = create_app(
        {
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": True,
            "DEFAULT_LOCALE": "en",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    yield app
    get_engine(app).dispose()


def test_csrf_token_in_a_header_and_a_stale_one_keeps_the_text(csrf_app, session, world):
    from tests.feedback.test_views_support import move_term_around_today

    move_term_around_today(session, world.term)
    client = csrf_app.test_client()
    page = text(client.get("/login"))
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    client.post(
        "/login", data={"username": "sup", "password": Factory.PASSWORD, "csrf_token": token}
    )
    # the JSON endpoint wants the token in X-CSRFToken
    assert client.post(URL, json=body(session)).status_code == 400
    fresh_token = client.get(URL).get_json()["csrf_token"]
    ok = client.post(URL, json=body(session), headers={"X-CSRFToken": fresh_token})
    assert ok.status_code == 200
    fresh(session)
    session.delete(session.exec(select(Feedback)).one())
    session.commit()

    # The form's POST with a stale token: the form again, every word kept, nothing saved.
    data = form_post(session, SPOT, strengths="一段很长的评语", csrf_token="stale")
    response = client.post("/feedback/new/spot_check", data=data)
    assert response.status_code == 400
    again = text(response)
    assert "一段很长的评语" in again
    assert "security token was missing or expired" in again
    assert count(session) == 0
    renewed = again.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    assert renewed and renewed != "stale"
    data["csrf_token"] = renewed
    assert client.post("/feedback/new/spot_check", data=data).status_code == 303
    assert only_record(session).strengths == "一段很长的评语"
    assert session.exec(select(Rubric)).first() is not None


@pytest.mark.parametrize(
    "change",
    [
        {"record": 10**30},  # beyond any integer column
        {"record": "\x00"},
        {"record": [1]},
        {"kind": ["spot_check"]},
        {"key": "k\x00"},
        {"key": "k" * 5000},
        {"rubric": {"x": 1}},
        {"fields": ["not", "a", "mapping"]},
        {"fields": {"strengths": "文本\x00"}},
        {"fields": {"strengths": "\x07bell"}},
        {"fields": {"present": "9" * 40}},
        {"fields": {"date": "2026-13-45"}},
        {"fields": {"section": "\x00"}},
    ],
)
def test_hostile_bodies_get_a_clear_refusal_and_store_nothing(client, auth, session, web, change):
    """The standing hostile-input test sends no JSON body here: each odd value in turn, on
    both databases — a 4xx with a JSON message, never a 500, nothing stored."""
    auth.login("sup")
    sent = body(session)
    if "fields" in change and isinstance(change["fields"], dict):
        sent["fields"] = {**sent["fields"], **change["fields"]}
    else:
        sent.update(change)
    response = client.post(URL, json=sent)
    assert 400 <= response.status_code < 500, (change, response.status_code)
    assert response.get_json().get("errors") or response.get_json().get("message"), change
    assert count(session) == 0
