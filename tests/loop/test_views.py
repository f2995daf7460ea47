"""The loop's pages: the flow through the browser, messages by the field, scope, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from evalsys.clock import local_today
from evalsys.loop.actions import ActionInput, create_action
from evalsys.loop.meetings import create_meeting
from evalsys.loop.models import Action, Meeting, Problem
from evalsys.loop.problems import change_status, create_problem
from evalsys.loop.proposals import propose_problems
from evalsys.loop.rules import LoopPermissionError
from tests.loop.conftest import OBSERVER_WORDS

T1 = "2025-2026-2"


def _method(session) -> Problem:
    session.rollback()  # a fresh snapshot: the app wrote in its own session
    return session.exec(select(Problem).where(Problem.source_key == "flag:method")).one()


def _propose(session, world, people) -> Problem:
    propose_problems(session, term=world.uni.terms["T1"], unit=world.uni.units["CS-SE"], user=None)
    session.commit()
    return _method(session)


def test_head_walks_the_loop_in_the_browser(world, people, session, client, auth, app):
    auth.login("head_se")
    page = client.get(f"/loop/units/CS-SE?term={T1}")
    assert page.status_code == 200 and b"No problems recorded" in page.data

    resp = client.post("/loop/units/CS-SE/propose", data={"term": T1})
    assert resp.status_code == 302
    page = client.get(f"/loop/units/CS-SE?term={T1}").get_data(as_text=True)
    method = _method(session)
    assert method.title in page
    assert OBSERVER_WORDS[:10] in page
    # Filters: only method problems.
    page = client.get(f"/loop/units/CS-SE?term={T1}&category=organisation").get_data(as_text=True)
    assert method.title not in page

    page = client.get(f"/loop/problems/{method.id}").get_data(as_text=True)
    assert "below the threshold" in page  # the flag's reason, as evidence

    # Dismissing without a reason: a message by the field, status unchanged.
    resp = client.post(f"/loop/problems/{method.id}/status", data={"to": "dismissed"})
    assert resp.status_code == 422
    assert "Say why the problem is dismissed." in resp.get_data(as_text=True)
    assert _method(session).status == "proposed"
    assert client.post(f"/loop/problems/{method.id}/status", data={"to": "open"}).status_code == 302
    assert _method(session).status == "open"
    # A refused transition says why and changes nothing.
    resp = client.post(f"/loop/problems/{method.id}/status", data={"to": "verified"})
    assert resp.status_code == 409
    assert "A problem cannot go from “Confirmed” to “Verified”" in resp.get_data(as_text=True)

    # A meeting: bad input comes back with messages and what was typed.
    teacher = people["teacher"]
    resp = client.post(
        f"/loop/units/CS-SE/meetings/new?term={T1}",
        data={
            "held_on": "2026-02-30",
            "title": "方法研讨",
            "decisions": "",
            "problems": [method.id],
        },
    )
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "is not a date" in text and "Write down what the meeting decided." in text
    assert 'value="方法研讨"' in text and 'value="2026-02-30"' in text
    assert session.exec(select(func.count()).select_from(Meeting)).one() == 0
    resp = client.post(
        f"/loop/units/CS-SE/meetings/new?term={T1}",
        data={
            "held_on": "2026-07-08",
            "title": "方法研讨",
            "decisions": "Peer observation",
            "attendees": [str(teacher.id)],
            "problems": [str(method.id)],
        },
    )
    assert resp.status_code == 302
    meeting_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert teacher.name in meeting_page and method.title in meeting_page

    # An action: errors by the field, typed text kept, nothing written.
    today = local_today(app.config)
    typed = "Two lab hours replace two lecture hours"
    resp = client.post(
        f"/loop/problems/{method.id}/actions/new",
        data={
            "title": "",
            "owner_id": str(teacher.id),
            "due_date": "next week",
            "plan_change": typed,
        },
    )
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Say what will be done." in text
    assert "“next week” is not a date" in text
    assert "Name the course or the programme whose plan changes." in text
    assert typed in text
    assert session.exec(select(func.count()).select_from(Action)).one() == 0
    resp = client.post(
        f"/loop/problems/{method.id}/actions/new",
        data={
            "title": "Rework SE1 labs",
            "owner_id": str(teacher.id),
            "due_date": (today + timedelta(days=20)).isoformat(),
            "plan_course_id": str(world.uni.courses["SE1"].id),
            "plan_change": typed,
            "plan_from_term_id": str(world.uni.terms["T2"].id),
        },
    )
    assert resp.status_code == 302
    assert _method(session).status == "in_progress"
    action = session.exec(select(Action)).one()

    # The owner sees it among their actions and finishes it: the problem is resolved.
    auth.logout()
    auth.login("teacher_se")
    mine = client.get("/loop/mine").get_data(as_text=True)
    assert "Rework SE1 labs" in mine
    # The owner sees the status form, not the edit form.
    page = client.get(f"/loop/actions/{action.id}").get_data(as_text=True)
    assert "s-status" in page and "e-title" not in page
    # ...and may not edit what, who or when.
    resp = client.post(
        f"/loop/actions/{action.id}",
        data={"e-title": "less", "e-owner_id": str(teacher.id), "e-due_date": "2030-01-01"},
    )
    assert resp.status_code == 403
    resp = client.post(
        f"/loop/actions/{action.id}", data={"s-status": "done", "s-notes": "labs rewritten"}
    )
    assert resp.status_code == 302
    assert _method(session).status == "resolved"


def test_scope_dean_of_another_college_sees_and_touches_nothing(
    world, people, session, client, auth, app
):
    method = _propose(session, world, people)
    change_status(session, problem=method, to="open", user=people["head_se"])
    action = create_action(
        session,
        problem=method,
        user=people["head_se"],
        today=local_today(app.config),
        data=ActionInput(
            title="x", owner_id=people["teacher"].id, due_date=local_today(app.config)
        ),
    )
    session.commit()
    auth.login("dean_math")
    assert client.get("/loop/units/CS-SE").status_code == 403
    assert client.get("/loop/units/CS").status_code == 403
    assert client.get(f"/loop/problems/{method.id}").status_code == 403
    assert client.get(f"/loop/actions/{action.id}").status_code == 403
    assert client.post("/loop/units/CS-SE/propose", data={"term": T1}).status_code == 403
    for to in ("dismissed", "resolved"):
        resp = client.post(f"/loop/problems/{method.id}/status", data={"to": to, "reason": "x"})
        assert resp.status_code == 403
    assert client.post(f"/loop/problems/{method.id}/actions/new", data={}).status_code == 403
    assert client.get("/loop/units/CS-SE/meetings/new").status_code == 403
    # Their own college: no trace of CS.
    page = client.get(f"/loop/units/MATH?term={T1}").get_data(as_text=True)
    assert method.title not in page and "CS-SE" not in page
    # /loop/ sends them to their own college.
    assert client.get("/loop/").headers["Location"].endswith("/loop/units/MATH")
    assert _method(session).status == "in_progress"

    # A head of the sister department: not theirs either.
    auth.logout()
    auth.login("head_ai")
    assert client.get(f"/loop/problems/{method.id}").status_code == 403
    # A school leader reads but may not change.
    auth.logout()
    auth.login("leader_u")
    assert client.get(f"/loop/problems/{method.id}").status_code == 200
    resp = client.post(f"/loop/problems/{method.id}/status", data={"to": "resolved"})
    assert resp.status_code == 403
    # And the service refuses alike, whatever calls it.
    with pytest.raises(LoopPermissionError):
        change_status(session, problem=method, to="resolved", user=people["dean_math"])


def test_forms_refuse_a_post_without_csrf_token(world, people, session, client, auth, app):
    import re

    method = _propose(session, world, people)
    auth.login("head_se")
    app.config["WTF_CSRF_ENABLED"] = True
    resp = client.post(f"/loop/problems/{method.id}/status", data={"to": "open"})
    assert resp.status_code == 400
    assert _method(session).status == "proposed"
    page = client.get(f"/loop/problems/{method.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post(
        f"/loop/problems/{method.id}/status", data={"to": "open", "csrf_token": token}
    )
    assert resp.status_code == 302
    assert _method(session).status == "open"


def test_problem_list_query_count_does_not_grow_with_problems(
    world, people, session, client, auth, app, queries
):
    _propose(session, world, people)
    auth.login("dean_cs")

    def count() -> int:
        return queries.page(client, f"/loop/units/CS?term={T1}")

    before = count()
    session.rollback()  # drop the read snapshot taken before the app's writes
    for i in range(15):
        create_problem(
            session,
            term=world.uni.terms["T1"],
            unit=world.uni.units["CS-AI"],
            user=people["dean_cs"],
            title=f"extra {i}",
            category="other",
            severity="low",
        )
    session.commit()
    assert count() == before


def test_problem_meeting_and_action_pages_query_counts_do_not_grow(
    world, people, session, client, auth, app, queries
):
    """Each page reads what hangs on its object in a fixed number of queries (the owners of
    a problem's actions with them, not one by one), for a manager and for an owner alike."""
    method = _propose(session, world, people)
    change_status(session, problem=method, to="open", user=people["head_se"])
    today = local_today(app.config)
    head, teacher = people["head_se"], people["teacher"]

    def act(i: int, owner) -> Action:
        return create_action(
            session,
            problem=method,
            user=head,
            today=today,
            data=ActionInput(
                title=f"step {i}", owner_id=owner.id, due_date=today + timedelta(days=i)
            ),
        )

    first = act(0, teacher)
    meeting = create_meeting(
        session,
        unit=world.uni.units["CS-SE"],
        term=world.uni.terms["T1"],
        user=head,
        held_on=today,
        title="方法研讨",
        decisions="Peer observation",
        attendee_ids=[teacher.id],
        problem_ids=[method.id],
    )
    session.commit()
    pages = {
        "head_se": [
            f"/loop/problems/{method.id}",
            f"/loop/meetings/{meeting.id}",
            f"/loop/actions/{first.id}",
            f"/loop/problems/{method.id}/actions/new",
        ],
        "teacher_se": [f"/loop/problems/{method.id}", f"/loop/actions/{first.id}", "/loop/mine"],
    }

    def counts() -> dict[str, int]:
        out = {}
        for username, urls in pages.items():
            auth.login(username)
            out |= {f"{username} {url}": queries.page(client, url) for url in urls}
            auth.logout()
        return out

    before = counts()
    session.rollback()  # drop the read snapshot taken before the app's writes
    # Another owner too (not the head: owning an action spares the head the scope check).
    for i, owner in enumerate([teacher, people["dean_cs"], teacher, people["dean_cs"]]):
        act(i + 1, owner)
    for i in range(3):
        create_meeting(
            session,
            unit=world.uni.units["CS-SE"],
            term=world.uni.terms["T1"],
            user=head,
            held_on=today,
            title=f"跟进 {i}",
            decisions="More",
            attendee_ids=[teacher.id, head.id],
            problem_ids=[method.id],
        )
    session.commit()
    assert counts() == before


def test_unit_page_links_to_its_problems_for_those_who_may_read_them(world, people, client, auth):
    auth.login("head_se")
    assert "/loop/units/CS-SE" in client.get("/units/CS-SE").get_data(as_text=True)
    auth.logout()
    auth.login("teacher_se")  # sees the unit page, not its problems
    page = client.get("/units/CS-SE")
    assert page.status_code == 200 and "/loop/units/" not in page.get_data(as_text=True)
    assert client.get("/loop/units/CS-SE").status_code == 403


def test_merge_has_no_preselected_target_and_asks_first(world, people, session, client, auth):
    auth.login("head_se")
    assert client.post("/loop/units/CS-SE/propose", data={"term": T1}).status_code == 302
    problems = session.exec(select(Problem).order_by(Problem.id)).all()
    assert len(problems) >= 2
    source = problems[-1]
    page = client.get(f"/loop/problems/{source.id}").get_data(as_text=True)
    merge_form = page.split('action="/loop/problems/', 2)[2].split("</form>", 1)[0]
    assert "merge" in merge_form and "data-confirm=" in merge_form
    # The first option is "choose", and nothing is selected: a click merges nothing.
    first = merge_form.split("<option", 2)[1]
    assert 'value=""' in first and "selected" not in merge_form
    refused = client.post(f"/loop/problems/{source.id}/merge", data={"target": ""})
    assert refused.status_code == 422
    assert "Choose the problem to merge into." in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Problem, source.id).status == "proposed"
    # Resolving and dismissing ask before they change anything for good.
    client.post(f"/loop/problems/{source.id}/status", data={"to": "open"})
    page = client.get(f"/loop/problems/{source.id}").get_data(as_text=True)
    resolve = page.split('value="resolved"', 1)[1].split(">", 1)[0]
    dismiss = page.split('value="dismissed"', 1)[1].split(">", 1)[0]
    assert "data-confirm=" in resolve and "data-confirm=" in dismiss
    start = page.split('value="in_progress"', 1)[1].split(">", 1)[0]
    assert "data-confirm=" not in start  # starting work is easily undone: no question


def test_meeting_form_has_a_date_picker_and_attendee_checkboxes(world, people, client, auth):
    auth.login("head_se")
    teacher = people["teacher"]
    page = client.get(f"/loop/units/CS-SE/meetings/new?term={T1}").get_data(as_text=True)
    assert 'name="held_on" type="date"' in page
    assert f'name="attendees" type="checkbox" value="{teacher.id}"' in page
    assert "Ctrl" not in page
    # After an error the ticked attendee is still ticked, the typed date still there.
    resp = client.post(
        f"/loop/units/CS-SE/meetings/new?term={T1}",
        data={"held_on": "2026-07-08", "title": "", "decisions": "", "attendees": [teacher.id]},
    )
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'value="2026-07-08"' in text
    assert '<input checked id="attendees-' in text
