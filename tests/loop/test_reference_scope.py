"""Every person, problem, meeting and course a loop form names is resolved within the unit.

The people an action or a meeting may name are those the forms offer: active
users with a role at, above or below the unit (:func:`scope.people`). Anyone
else — a teacher of another college, a head of the sister department — is
refused with a message on the field, the form comes back with what was typed,
and nothing is stored; the service refuses alike, whoever calls it. A problem,
meeting or course outside the unit gets the same answer as an id that does not
exist, so a page never tells whether it does.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from evalsys.clock import local_today
from evalsys.loop import scope
from evalsys.loop.actions import ActionInput, create_action, update_action
from evalsys.loop.meetings import create_meeting
from evalsys.loop.models import Action, Meeting, MeetingAttendee, MeetingProblem, Problem
from evalsys.loop.problems import create_problem
from evalsys.loop.rules import LoopValidationError
from evalsys.org.models import OrgUnit, Term

T1 = "2025-2026-2"
MATH_TEACHER = "数学老师"
MATH_PROBLEM = "数学课堂纪律松散"
MATH_MEETING = "数学学院教学研讨"
UNKNOWN_ID = 987654


@pytest.fixture
def scene(world, people, factory, session: Session, app):
    """An open CS-SE problem; a MATH-PURE problem, meeting, course and teacher."""
    uni = world.uni
    t1 = uni.terms["T1"]
    people["math_teacher"] = factory.user("teacher_math", "teacher@MATH-PURE", name=MATH_TEACHER)
    cs = create_problem(
        session,
        term=t1,
        unit=uni.units["CS-SE"],
        user=people["dean_cs"],
        title="互动偏少",
        category="method",
        severity="medium",
    )
    math = create_problem(
        session,
        term=t1,
        unit=uni.units["MATH-PURE"],
        user=people["dean_math"],
        title=MATH_PROBLEM,
        category="method",
        severity="medium",
    )
    meeting = create_meeting(
        session,
        unit=uni.units["MATH"],
        term=t1,
        user=people["dean_math"],
        held_on=local_today(app.config),
        title=MATH_MEETING,
        decisions="Observe each other's classes",
        attendee_ids=[people["math_teacher"].id],
        problem_ids=[math.id],
    )
    session.commit()
    return {
        "cs": cs,
        "math": math,
        "math_meeting": meeting,
        "math_course": uni.courses["MP1"],
        "se_course": uni.courses["SE1"],
    }


def _rows(session: Session, model) -> int:
    session.rollback()  # a fresh snapshot: the app wrote in its own session
    return session.exec(select(func.count()).select_from(model)).one()


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(_rows(session, m) for m in (Action, Meeting, MeetingAttendee, MeetingProblem))


def _error(page: str, field_id: str) -> str:
    match = re.search(
        rf'<small id="{re.escape(field_id)}-error" class="field-error">(.*?)</small>', page, re.S
    )
    assert match, f"no error shown next to {field_id}"
    return match.group(1)


def _due(app) -> str:
    return (local_today(app.config) + timedelta(days=14)).isoformat()


# --- action owners ----------------------------------------------------------------------


def test_an_owner_from_another_college_is_refused_on_the_form_and_never_stored(
    client, auth, session, people, scene, app
):
    cs = scene["cs"]
    teacher = people["math_teacher"]
    before = _counts(session)
    auth.login("dean_cs")
    form = client.get(f"/loop/problems/{cs.id}/actions/new").get_data(as_text=True)
    assert MATH_TEACHER not in form and f'value="{teacher.id}"' not in form
    typed = "每节课至少三次提问"
    resp = client.post(
        f"/loop/problems/{cs.id}/actions/new",
        data={"title": typed, "owner_id": str(teacher.id), "due_date": _due(app)},
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Choose who is responsible." in _error(page, "owner_id")
    assert f'value="{typed}"' in page and f'value="{_due(app)}"' in page
    assert MATH_TEACHER not in page
    assert _counts(session) == before
    # So the MATH teacher still cannot read the CS problem.
    auth.logout()
    auth.login("teacher_math")
    assert client.get(f"/loop/problems/{cs.id}").status_code == 403


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("teacher", True),  # a role in the unit
        ("dean_cs", True),  # above it
        ("leader", True),  # at the school
        ("head_ai", False),  # the sister department: neither above nor below
        ("dean_math", False),
        ("math_teacher", False),
    ],
)
def test_the_service_accepts_exactly_the_people_the_form_offers(
    session, people, scene, app, who, allowed
):
    cs = scene["cs"]
    person = people[who]
    offered = {u.id for u in scope.people(session, cs.unit_id)}
    assert (person.id in offered) is allowed
    data = ActionInput(title="x", owner_id=person.id, due_date=local_today(app.config))
    if allowed:
        create_action(
            session, problem=cs, user=people["dean_cs"], data=data, today=local_today(app.config)
        )
        session.rollback()
        return
    with pytest.raises(LoopValidationError) as caught:
        create_action(
            session, problem=cs, user=people["dean_cs"], data=data, today=local_today(app.config)
        )
    assert set(caught.value.errors) == {"owner_id"}
    session.rollback()
    assert _rows(session, Action) == 0


def test_an_inactive_person_is_refused_like_a_stranger(session, people, scene, app):
    teacher = people["teacher"]
    teacher.active = False
    session.add(teacher)
    session.commit()
    assert teacher.id not in {u.id for u in scope.people(session, scene["cs"].unit_id)}
    with pytest.raises(LoopValidationError) as caught:
        create_action(
            session,
            problem=scene["cs"],
            user=people["dean_cs"],
            data=ActionInput(title="x", owner_id=teacher.id, due_date=local_today(app.config)),
            today=local_today(app.config),
        )
    assert set(caught.value.errors) == {"owner_id"}


def test_changing_an_actions_owner_to_a_stranger_is_refused(
    client, auth, session, people, scene, app
):
    cs = scene["cs"]
    action = create_action(
        session,
        problem=cs,
        user=people["dean_cs"],
        data=ActionInput(
            title="Two questions per lecture",
            owner_id=people["teacher"].id,
            due_date=local_today(app.config) + timedelta(days=7),
        ),
        today=local_today(app.config),
    )
    session.commit()
    stranger = people["math_teacher"]
    auth.login("dean_cs")
    resp = client.post(
        f"/loop/actions/{action.id}",
        data={
            "e-title": "Three questions",
            "e-owner_id": str(stranger.id),
            "e-due_date": _due(app),
        },
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Choose who is responsible." in _error(page, "e-owner_id")
    assert 'value="Three questions"' in page and MATH_TEACHER not in page
    session.rollback()
    stored = session.get(Action, action.id)
    assert (stored.owner_id, stored.title) == (people["teacher"].id, "Two questions per lecture")
    # The service alone, as the CLI or any other caller would use it.
    with pytest.raises(LoopValidationError) as caught:
        update_action(
            session,
            action=stored,
            user=people["dean_cs"],
            data=ActionInput(
                title="Three questions", owner_id=stranger.id, due_date=stored.due_date
            ),
            today=local_today(app.config),
        )
    assert set(caught.value.errors) == {"owner_id"}
    session.rollback()
    assert session.get(Action, action.id).owner_id == people["teacher"].id


# --- meeting attendees and problems ----------------------------------------------------


def _meeting_post(client, **overrides):
    data = {
        "held_on": "2026-07-01",
        "title": "方法研讨",
        "decisions": "Peer observation every month",
    }
    data.update(overrides)
    return client.post(f"/loop/units/CS-SE/meetings/new?term={T1}", data=data)


def test_an_attendee_from_another_college_is_refused_and_nothing_is_stored(
    client, auth, session, people, scene
):
    before = _counts(session)
    auth.login("dean_cs")
    form = client.get(f"/loop/units/CS-SE/meetings/new?term={T1}").get_data(as_text=True)
    assert MATH_TEACHER not in form
    stranger, ours = people["math_teacher"], people["teacher"]
    for ids in ([stranger.id], [ours.id, stranger.id], [UNKNOWN_ID]):
        resp = _meeting_post(client, attendees=[str(i) for i in ids])
        page = resp.get_data(as_text=True)
        assert resp.status_code == 422, ids
        assert "choose them from the list" in _error(page, "attendees")
        assert 'value="方法研讨"' in page and "Peer observation every month" in page
        assert MATH_TEACHER not in page
        assert _counts(session) == before
    # The service alone, as the CLI or any other caller would use it.
    with pytest.raises(LoopValidationError) as caught:
        _create_meeting(session, people, scene, [ours.id, stranger.id])
    assert "attendees" in caught.value.errors
    session.rollback()
    assert _counts(session) == before


def _create_meeting(session, people, scene, attendee_ids):
    unit = session.get(OrgUnit, scene["cs"].unit_id)
    term = session.get(Term, scene["cs"].term_id)
    return create_meeting(
        session,
        unit=unit,
        term=term,
        user=people["dean_cs"],
        held_on=term.start_date,
        title="方法研讨",
        decisions="Peer observation",
        attendee_ids=attendee_ids,
    )


def test_a_problem_outside_the_unit_is_refused_like_an_unknown_one(
    client, auth, session, people, scene
):
    before = _counts(session)
    auth.login("dean_cs")
    pages = {}
    for pid in (scene["math"].id, UNKNOWN_ID):
        resp = _meeting_post(client, other_attendees="两名学生代表", problems=[str(pid)])
        assert resp.status_code == 422
        pages[pid] = resp.get_data(as_text=True)
        assert "Only problems of this unit" in _error(pages[pid], "problems")
        assert MATH_PROBLEM not in pages[pid]
    assert pages[scene["math"].id] == pages[UNKNOWN_ID]
    assert _counts(session) == before


def test_a_meeting_form_linked_from_a_problem_outside_the_unit_shows_nothing_of_it(
    client, auth, scene
):
    auth.login("dean_cs")
    math, cs = scene["math"], scene["cs"]
    outside = client.get(f"/loop/units/CS-SE/meetings/new?term={T1}&problem={math.id}")
    unknown = client.get(f"/loop/units/CS-SE/meetings/new?term={T1}&problem={UNKNOWN_ID}")
    assert outside.status_code == unknown.status_code == 200
    page = outside.get_data(as_text=True)
    assert MATH_PROBLEM not in page
    assert page.replace(f"problem={math.id}", "problem=ID") == unknown.get_data(
        as_text=True
    ).replace(f"problem={UNKNOWN_ID}", "problem=ID")
    inside = client.get(f"/loop/units/CS-SE/meetings/new?term={T1}&problem={cs.id}")
    checked = rf'<input checked[^>]* name="problems" type="checkbox" value="{cs.id}">'
    assert re.search(checked, inside.get_data(as_text=True))


# --- what an action refers to: its meeting and its plan course ----------------------------


@pytest.mark.parametrize("field", ["meeting_id", "plan_course_id"])
def test_an_action_naming_a_meeting_or_course_of_another_college_is_refused_like_an_unknown_one(
    client, auth, session, people, scene, app, field
):
    cs = scene["cs"]
    outside = {"meeting_id": scene["math_meeting"].id, "plan_course_id": scene["math_course"].id}
    before = _counts(session)
    auth.login("dean_cs")
    pages = {}
    for value in (outside[field], UNKNOWN_ID):
        data = {
            "title": "Rework the labs",
            "owner_id": str(people["teacher"].id),
            "due_date": _due(app),
            field: str(value),
        }
        if field == "plan_course_id":
            data |= {"plan_change": "Two lab hours", "plan_from_term_id": str(cs.term_id)}
        resp = client.post(f"/loop/problems/{cs.id}/actions/new", data=data)
        assert resp.status_code == 422
        page = resp.get_data(as_text=True)
        assert _error(page, field)
        assert MATH_MEETING not in page and "MP1" not in page
        pages[value] = page
    assert pages[outside[field]] == pages[UNKNOWN_ID]
    assert _counts(session) == before


def test_an_action_form_linked_from_a_meeting_of_another_college_shows_nothing_of_it(
    client, auth, scene
):
    auth.login("dean_cs")
    cs, meeting = scene["cs"], scene["math_meeting"]
    page = client.get(f"/loop/problems/{cs.id}/actions/new?meeting={meeting.id}")
    assert page.status_code == 200
    assert MATH_MEETING not in page.get_data(as_text=True)


# --- merging -----------------------------------------------------------------------------


def test_merging_into_a_problem_of_another_college_looks_like_merging_into_none(
    client, auth, session, people, scene
):
    cs, math = scene["cs"], scene["math"]
    # A second problem of the unit, so that the page offers a merge (and shows its errors).
    create_problem(
        session,
        term=session.get(Term, cs.term_id),
        unit=session.get(OrgUnit, cs.unit_id),
        user=people["dean_cs"],
        title="板书不清",
        category="method",
        severity="low",
    )
    session.commit()
    auth.login("dean_cs")
    pages = {}
    for target in (math.id, UNKNOWN_ID):
        resp = client.post(f"/loop/problems/{cs.id}/merge", data={"target": str(target)})
        assert resp.status_code == 422
        pages[target] = resp.get_data(as_text=True)
        assert "Choose the problem to merge into." in _error(pages[target], "target")
        assert MATH_PROBLEM not in pages[target]
    assert pages[math.id] == pages[UNKNOWN_ID]
    session.rollback()
    assert session.get(Problem, cs.id).status == "open"
    assert session.get(Problem, math.id).status == "open"
