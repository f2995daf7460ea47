"""A plan change decided in the loop, on the programme page: the form attaches it to the
programme, the page shows its evidence and the course's figures before and after (checked
against the raw records), only to the department's readers; verification and the data a
report's section will read (changes_for_unit)."""

from __future__ import annotations

import statistics
from datetime import date

from sqlmodel import col, select

from evalsys.accounts.models import AuditEvent
from evalsys.aggregation import service as aggregation
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FeedbackStatus
from evalsys.loop.actions import ActionInput, create_action, update_action
from evalsys.loop.models import Action
from evalsys.loop.problems import create_problem
from evalsys.org.models import Course, Section
from evalsys.programmes.models import Programme, ProgrammeCourse
from evalsys.programmes.service import changes_for_unit

TODAY = date(2026, 10, 1)  # within T2 (2026-09-01 .. 2027-01-20)


def _figure(session, course: Course, term_id: int) -> str:
    """The course's overall mean and n in the term, from the submitted records themselves."""
    scores = session.exec(
        select(Feedback.overall_score)
        .join(Section, col(Section.id) == Feedback.section_id)
        .where(
            Section.course_id == course.id,
            Section.term_id == term_id,
            Feedback.status == FeedbackStatus.SUBMITTED.value,
        )
    ).all()
    assert len(scores) >= 3  # above MIN_N, so the mean is shown
    return f"{statistics.fmean(scores):.1f} <small>n={len(scores)}</small>"


def test_plan_change_from_evidence_to_effect(
    world, people, session, client, auth, site_clock, queries
):
    site_clock.on(TODAY)
    uni = world.uni
    t1, t2 = uni.terms["T1"], uni.terms["T2"]
    aggregation.aggregate_term(session, term=t2.code)
    se, cs = uni.units["CS-SE"], uni.units["CS"]
    se1 = uni.courses["SE1"]
    other = Course(code="SE9", title="SE9", department_id=se.id)
    programme = Programme(
        code="SE-BS", name="软件工程", name_en="Software Eng", department_id=se.id
    )
    session.add_all([other, programme])
    session.flush()
    session.add(ProgrammeCourse(programme_id=programme.id, course_id=se1.id))
    head = people["head_se"]
    problem = create_problem(
        session,
        term=t1,
        unit=se,
        user=head,
        title="Method weak",
        category="method",
        severity="high",
    )
    session.commit()

    auth.login("head_se")
    form = {
        "title": "Rework SE1",
        "owner_id": str(people["teacher"].id),
        "due_date": "2026-10-20",
        "plan_programme_id": str(programme.id),
        "plan_course_id": str(other.id),  # not a course of the programme
        "plan_change": "Two lab hours a week instead of lectures",
        "plan_from_term_id": str(t2.id),
    }
    resp = client.post(f"/loop/problems/{problem.id}/actions/new", data=form)
    assert resp.status_code == 422
    assert "Choose a course of the programme, or no course." in resp.get_data(as_text=True)
    resp = client.post(
        f"/loop/problems/{problem.id}/actions/new", data={**form, "plan_course_id": str(se1.id)}
    )
    assert resp.status_code == 302
    action = session.exec(select(Action)).one()
    assert (action.plan_programme_id, action.plan_course_id) == (programme.id, se1.id)

    # The action page links the programme; the department's page lists it.
    page = client.get(f"/loop/actions/{action.id}").get_data(as_text=True)
    assert "/programmes/SE-BS" in page
    assert "/programmes/SE-BS" in client.get("/units/CS-SE").get_data(as_text=True)

    page = client.get("/programmes/SE-BS").get_data(as_text=True)
    assert "Two lab hours a week instead of lectures" in page
    assert "Decided" in page and "Method weak" in page and head.name in page
    assert _figure(session, se1, t1.id) in page  # before
    assert _figure(session, se1, t2.id) in page  # from the change on
    assert "Mark verified" not in page  # not in effect yet: the action is not done
    one_change = queries.page(client, "/programmes/SE-BS")

    # Done, and its term has begun: in effect; the head verifies it.
    update_action(session, action=action, user=people["teacher"], status="done", today=TODAY)
    session.commit()
    page = client.get("/programmes/SE-BS").get_data(as_text=True)
    assert "In effect" in page and "Mark verified" in page
    resp = client.post(f"/programmes/SE-BS/changes/{action.id}/verify")
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Action, action.id).plan_verified_by_id == head.id
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "programme.verify")).one()
    zh = client.get("/programmes/SE-BS", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "已验证" in zh and "变更记录" in zh

    # Outsiders: the other college's dean and the department's teacher are refused.
    for username in ("dean_math", "teacher_se"):
        auth.logout()
        auth.login(username)
        assert client.get("/programmes/SE-BS").status_code == 403
        assert client.post(f"/programmes/SE-BS/changes/{action.id}/verify").status_code == 403
    assert client.get("/programmes/NOPE").status_code == 404

    # What a report's section will read: decided in T1, taking effect in T2; not MATH's.
    t1_changes = changes_for_unit(session, cs.id, t1.id, today=TODAY)
    assert [e.action.id for e in t1_changes.decided] == [action.id]
    assert t1_changes.taking_effect == []
    t2_changes = changes_for_unit(session, cs.id, t2.id, today=TODAY)
    assert ([e.action.id for e in t2_changes.taking_effect], t2_changes.decided) == (
        [action.id],
        [],
    )
    [entry] = t2_changes.taking_effect
    assert entry.state == "verified" and [c.code for c in entry.courses] == ["SE1"]
    assert (entry.figures[(se1.id, t1.id)].n, entry.before, entry.after) == (
        6,
        [t1],
        [t2],
    )
    assert changes_for_unit(session, uni.units["MATH"].id, t1.id, today=TODAY).decided == []

    # The reports' section: the college's T1 report lists it as decided, the department's
    # T2 report as in effect from T2, with the course's figures before and after.
    session.commit()
    auth.logout()
    auth.login("dean_cs")
    college = client.get(f"/reports/{t1.code}/CS.html").get_data(as_text=True)
    assert "Training-plan changes" in college and "Decided this term" in college
    assert "Two lab hours a week instead of lectures" in college
    department = client.get(f"/reports/{t2.code}/CS-SE.html").get_data(as_text=True)
    section = department[department.index("Training-plan changes") :]
    assert "Decided earlier, in effect from this term" in section
    assert "Two lab hours a week instead of lectures" in section and "Method weak" in section
    for term in (t1, t2):
        mean = _figure(session, se1, term.id).split(" ")[0]
        assert f"{mean} n=" in section, (term.code, mean)
    math = client.get(f"/reports/{t1.code}/MATH.html")
    assert math.status_code == 403  # another college's report

    # A second change, of the whole programme: the page runs as many queries as with one.
    session.commit()  # end the reads above: the pages wrote since their snapshot
    create_action(
        session,
        problem=problem,
        user=head,
        today=TODAY,
        data=ActionInput(
            title="More projects",
            owner_id=people["teacher"].id,
            due_date=TODAY,
            plan_programme_id=programme.id,
            plan_change="A project course in year two",
            plan_from_term_id=t2.id,
        ),
    )
    session.commit()
    auth.logout()
    auth.login("head_se")
    assert queries.page(client, "/programmes/SE-BS") == one_change
    assert "A project course in year two" in client.get("/programmes/SE-BS").get_data(as_text=True)
