"""POST /api/v1/feedback with an Idempotency-Key: replay, key reuse, draft then submit, in flight.

The key is bound to its observer and to a digest of the request body (the IETF
httpapi Idempotency-Key draft): the same body again is the first answer again
(201, the same record, ``Idempotent-Replayed: true``); another body under the
same key is 422 and stores nothing; the same key while the first request's
transaction is still open is 409 with ``Retry-After`` (PostgreSQL; SQLite runs
writers one after the other, so there the second simply waits and is replayed).
The in-flight cases run two real requests on two threads and two connections.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlmodel import Session

from evalsys.db import get_engine
from evalsys.feedback.models import Feedback, FeedbackRevision
from evalsys.feedback.writes import submit_feedback
from tests.api.conftest import body_of
from tests.api.test_feedback_api import URL, count, good_body


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


# --- replay ------------------------------------------------------------------------------


def test_replay_answers_as_the_first_request_did(api, session, world):
    api.as_("sup")
    first = api.post(URL, json=good_body(session), headers=key("7f1c6a1e-retry-1"))
    again = api.post(URL, json=good_body(session), headers=key("7f1c6a1e-retry-1"))

    assert (first.status_code, again.status_code) == (201, 201), again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(session) == 1
    assert count(session, FeedbackRevision) == 1
    stored = session.get(Feedback, first.get_json()["id"])
    assert stored.idempotency_key == "7f1c6a1e-retry-1"
    assert stored.idempotency_digest is not None
    # Another key is another record; no key is always a new record.
    assert api.post(URL, json=good_body(session), headers=key("k2")).status_code == 201
    assert api.post(URL, json=good_body(session)).status_code == 201
    assert count(session) == 3


def test_replay_ignores_key_order_spacing_nulls_and_the_default_status(api, session, world):
    """The digest is of the parsed body: the same request written another way is the same."""
    api.as_("sup")
    body = good_body(session)
    first = api.post(URL, json=body, headers=key("k"))
    rewritten = dict(reversed(list(body.items()))) | {"status": "submitted", "topics": None}
    raw = api.client.post(
        URL,
        data=json.dumps(rewritten, indent=3, ensure_ascii=True),
        content_type="application/json",
        headers=api.headers(key("k")),
    )
    api._fresh()
    assert (first.status_code, raw.status_code) == (201, 201), raw.get_json()
    assert raw.get_json()["id"] == first.get_json()["id"]
    assert raw.headers["Idempotent-Replayed"] == "true"
    assert count(session) == 1


def test_idempotency_key_is_per_observer(api, session, world, make_input):
    a = api.as_("sup").post(URL, json=good_body(session), headers=key("same"))
    b = api.as_("leader").post(URL, json=body_of(make_input("open_class")), headers=key("same"))
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.get_json()["id"] != b.get_json()["id"]
    assert "Idempotent-Replayed" not in b.headers


def test_idempotency_key_too_long_is_422(api, session, world):
    response = api.as_("sup").post(URL, json=good_body(session), headers=key("k" * 201))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert count(session) == 0


# --- the same key for another request -------------------------------------------------------


def test_same_key_with_a_different_body_is_422_and_stores_nothing(api, session, world):
    api.as_("sup")
    first = api.post(URL, json=good_body(session), headers=key("k-1"))
    other = api.post(URL, json=good_body(session, comment="a different visit"), headers=key("k-1"))

    assert first.status_code == 201
    assert other.status_code == 422, other.get_json()
    answer = other.get_json()
    assert "already used for a different request" in answer["error"]
    assert "nothing was stored" in answer["error"]
    assert [e["field"] for e in answer["errors"]] == ["Idempotency-Key"]
    message = answer["errors"][0]["message"]
    assert f"/api/v1/feedback/{first.get_json()['id']}" in message
    assert "new Idempotency-Key" in message
    assert "Idempotent-Replayed" not in other.headers
    assert count(session) == 1
    assert session.get(Feedback, first.get_json()["id"]).comment == "整体良好"


def test_draft_then_submitted_with_the_same_key_is_422(api, session, world):
    """A draft saved under K, then "submitted" under K: another request, not a retry."""
    api.as_("sup")
    draft = api.post(URL, json=good_body(session, status="draft"), headers=key("visit-7"))
    submitted = api.post(URL, json=good_body(session), headers=key("visit-7"))

    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    assert submitted.status_code == 422, submitted.get_json()
    message = submitted.get_json()["errors"][0]["message"]
    feedback_id = draft.get_json()["id"]
    assert "is a draft" in message
    assert "new Idempotency-Key" in message
    assert f"/feedback/{feedback_id}/edit" in message
    assert count(session) == 1
    record = session.get(Feedback, feedback_id)
    assert record.status == "draft" and record.submitted_at is None
    # Retrying the draft itself is still a replay.
    again = api.post(URL, json=good_body(session, status="draft"), headers=key("visit-7"))
    assert (again.status_code, again.get_json()["id"]) == (201, feedback_id)


def test_a_failed_request_does_not_use_up_the_key(api, session, world):
    """Only a stored record binds a key: a refused body leaves it free for the corrected one."""
    api.as_("sup")
    bad = api.post(URL, json=good_body(session, present=99), headers=key("k"))
    good = api.post(URL, json=good_body(session), headers=key("k"))
    assert (bad.status_code, good.status_code) == (422, 201)
    assert count(session) == 1


def test_a_key_stored_without_a_digest_is_replayed_whatever_the_body(
    api, session, world, make_input
):
    """Records stored before the digest existed (or by the web form, the import): a match."""
    earlier = submit_feedback(
        session, user=world.supervisor, data=make_input(), idempotency_key="old-key"
    )
    session.commit()
    assert earlier.idempotency_digest is None

    response = api.as_("sup").post(
        URL, json=good_body(session, comment="not what was stored"), headers=key("old-key")
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["id"] == earlier.id
    assert response.headers["Idempotent-Replayed"] == "true"
    assert count(session) == 1


def test_body_digest_is_canonical():
    from evalsys.feedback.idempotency import body_digest

    assert body_digest({"a": 1, "b": [1, 2], "c": None}) == body_digest({"b": [1, 2], "a": 1})
    assert body_digest({"a": 1}) != body_digest({"a": "1"})
    assert body_digest({"s": "草稿"}) != body_digest({"s": "草"})
    assert len(body_digest({})) == 64


# --- the first request still in flight (PostgreSQL: two connections, two threads) ---------------


class HeldRequest:
    """A POST on its own thread whose transaction stops right after its INSERT INTO feedback.

    It holds the row (and the unique key's index entry) uncommitted until
    :meth:`release`, as a slow first request would.
    """

    def __init__(self, app: Flask, token: str, body: dict[str, Any], key: str) -> None:
        self.app = app
        self.inserted = threading.Event()
        self.released = threading.Event()
        self.response: Any = None
        self.thread = threading.Thread(
            target=self._run, args=(token, body, key), name="held-request", daemon=True
        )
        event.listen(get_engine(app), "after_cursor_execute", self._pause)

    def _pause(self, _conn, _cursor, statement: str, *_args: Any) -> None:
        if threading.current_thread() is self.thread and statement.startswith(
            "INSERT INTO feedback "
        ):
            self.inserted.set()
            self.released.wait(timeout=15)

    def _run(self, token: str, body: dict[str, Any], key: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        self.response = self.app.test_client().post(URL, json=body, headers=headers)

    def __enter__(self) -> HeldRequest:
        self.thread.start()
        assert self.inserted.wait(timeout=15), "the first request never reached its insert"
        return self

    def release(self) -> Any:
        self.released.set()
        self.thread.join(timeout=30)
        return self.response

    def __exit__(self, *_exc: Any) -> None:
        self.release()
        event.remove(get_engine(self.app), "after_cursor_execute", self._pause)


def post_on_thread(app: Flask, token: str, body: dict[str, Any], key: str):
    """Start a POST on another thread; returns the thread and a dict its answer lands in."""
    out: dict[str, Any] = {}

    def run() -> None:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        out["response"] = app.test_client().post(URL, json=body, headers=headers)

    thread = threading.Thread(target=run, name="second-request", daemon=True)
    thread.start()
    return thread, out


def wait_until_blocked_on_a_lock(session: Session, timeout: float = 10.0) -> None:
    """Until another backend of this database waits for a lock (the second insert)."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        if session.execute(query).scalar_one() > 0:
            session.rollback()
            return
        session.rollback()
        time.sleep(0.02)
    raise AssertionError("the second request never waited for the first one's lock")


@pytest.mark.postgres_only
def test_same_key_while_the_first_is_in_flight_is_409(app, api, session, world, token_for):
    if get_engine(app).dialect.name != "postgresql":
        pytest.skip(
            "PostgreSQL only: SQLite runs writers one at a time (BEGIN IMMEDIATE), so a "
            "second request waits for the first to commit and is then replayed; no 409"
        )
    token = token_for("sup")
    body = good_body(session)
    with HeldRequest(app, token, body, "slow-1") as first:
        started = time.monotonic()
        second = api.client.post(
            URL, json=body, headers={"Authorization": f"Bearer {token}", **key("slow-1")}
        )
        waited = time.monotonic() - started
        assert second.status_code == 409, second.get_json()
        assert second.headers["Retry-After"] == "1"
        assert "still being processed" in second.get_json()["error"]
        assert "nothing was stored" in second.get_json()["error"]
        assert waited < 10  # a bounded wait, not until the first one finishes
        stored = first.release()
    assert stored.status_code == 201
    assert count(session) == 1
    # Retried after the first one finished: the first one's answer.
    api.token = token
    retried = api.post(URL, json=body, headers=key("slow-1"))
    assert retried.status_code == 201
    assert retried.get_json()["id"] == stored.get_json()["id"]
    assert retried.headers["Idempotent-Replayed"] == "true"


@pytest.mark.postgres_only
@pytest.mark.parametrize(("same_body", "expected"), [(True, 201), (False, 422)])
def test_a_request_that_waited_for_the_first_gets_its_outcome(
    app, session, world, token_for, same_body, expected
):
    """The first commits while the second waits on the key: replay (or 422), never a 500."""
    if get_engine(app).dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite never lets the two transactions overlap")
    token = token_for("sup")
    body = good_body(session)
    other = body if same_body else good_body(session, comment="changed meanwhile")
    with HeldRequest(app, token, body, "slow-2") as first:
        thread, out = post_on_thread(app, token, other, "slow-2")
        wait_until_blocked_on_a_lock(session)
        stored = first.release()
        thread.join(timeout=30)
    second = out["response"]
    assert stored.status_code == 201
    assert second.status_code == expected, second.get_json()
    if same_body:
        assert second.get_json()["id"] == stored.get_json()["id"]
        assert second.headers["Idempotent-Replayed"] == "true"
    session.commit()
    assert count(session) == 1


def test_in_flight_on_sqlite_waits_and_replays(app, api, session, world, token_for):
    """SQLite: the second request waits for the first to commit, then gets the replay."""
    if get_engine(app).dialect.name != "sqlite":
        pytest.skip("SQLite only (PostgreSQL answers 409 after a short wait; tested above)")
    token = token_for("sup")
    body = good_body(session)
    with HeldRequest(app, token, body, "slow-3") as first:
        thread, out = post_on_thread(app, token, body, "slow-3")
        time.sleep(0.3)
        assert "response" not in out  # still waiting for the write lock
        stored = first.release()
        thread.join(timeout=30)
    assert (stored.status_code, out["response"].status_code) == (201, 201)
    assert out["response"].get_json()["id"] == stored.get_json()["id"]
    assert out["response"].headers["Idempotent-Replayed"] == "true"
    session.commit()
    assert count(session) == 1


def test_document_describes_idempotency():
    from evalsys.api.views import openapi_document

    post = openapi_document()["paths"]["/feedback"]["post"]
    header = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
    assert "422" in header["description"] and "409" in header["description"]
    assert set(post["responses"]) >= {"201", "409", "422"}
    assert "200" not in post["responses"]  # a replay answers 201 like the first request
    assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]
    assert post["responses"]["409"]["headers"]["Retry-After"]["required"] is True
    assert "Idempotency-Key" in post["responses"]["422"]["description"]
