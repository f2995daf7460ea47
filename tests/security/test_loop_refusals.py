"""Posts on the loop's pages that name an object the user may not touch, or leave a field
out: refused with a 403 or a message by the field, never a server error, nothing changed."""

from __future__ import annotations

from sqlmodel import Session

from evalsys.loop.models import Action, Problem
from tests.factories import Factory
from tests.fixtures.security_world import OUTSIDE, SecurityWorld


def _login(client, name: str) -> None:
    r = client.post("/login", data={"username": name, "password": Factory.PASSWORD})
    assert r.status_code == 302


def test_merging_into_a_problem_of_another_college_is_refused(
    client, session: Session, sworld: SecurityWorld
):
    """The head of CS-SE manages the source but not the target (MATH-PURE): refused on the
    field exactly as a problem that does not exist (422, the same page), not a 500."""
    source, _ = sworld.extra["open_problem_id"]
    _, foreign = sworld.extra["problem_id"]
    _login(client, "head")
    r = client.post(f"/loop/problems/{source}/merge", data={"target": str(foreign)})
    assert r.status_code == 422
    assert "Choose the problem to merge into." in r.get_data(as_text=True)
    assert OUTSIDE not in r.get_data(as_text=True)
    none = client.post(f"/loop/problems/{source}/merge", data={"target": "987654"})
    assert none.status_code == 422 and none.get_data() == r.get_data()
    session.expire_all()
    assert session.get(Problem, source).status == "open"  # type: ignore[union-attr]
    assert session.get(Problem, foreign).status == "in_progress"  # type: ignore[union-attr]


def test_an_action_edit_with_mistakes_comes_back_with_messages_by_the_fields(
    client, session: Session, sworld: SecurityWorld
):
    """The edit form is prefixed ("e-"): the service's messages still land on its fields."""
    action_id, _ = sworld.extra["action_id"]
    _login(client, "head")
    r = client.post(
        f"/loop/actions/{action_id}",
        data={"e-title": "Three questions per lecture", "e-due_date": "2027-02-30"},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="e-owner_id-error"' in page and "Choose who is responsible." in page
    assert 'id="e-due_date-error"' in page and "is not a date" in page
    assert 'value="Three questions per lecture"' in page and 'value="2027-02-30"' in page
    session.expire_all()
    assert session.get(Action, action_id).title == "Two questions per lecture"  # type: ignore[union-attr]
