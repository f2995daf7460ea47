"""The loop end to end: flags → proposed problems → confirmed → meeting → actions → done
→ resolved → shown as resolved in the next term's report data and PDF."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from evalsys.accounts.models import AuditEvent
from evalsys.aggregation import service as aggregation
from evalsys.aggregation.models import AggregateFlag, AggregateResult
from evalsys.feedback.models import Feedback
from evalsys.loop.actions import ActionInput, create_action, overdue_actions, update_action
from evalsys.loop.meetings import create_meeting
from evalsys.loop.models import Problem, ProblemEvidence
from evalsys.loop.problems import change_status, create_problem, merge_problems
from evalsys.loop.proposals import propose_problems
from evalsys.loop.rules import LoopPermissionError, LoopStateError, LoopValidationError
from evalsys.loop.scope import visible_problem_ids
from evalsys.loop.summary import summary
from evalsys.reports.data import report_data
from evalsys.reports.render import render_unit
from tests.loop.conftest import OBSERVER_WORDS
from tests.reports.conftest import pdf_text

TODAY = date(2026, 7, 10)


def _expected_flag_dimensions(session, term_id: int, dept_id: int) -> dict[str, int]:
    """Independently: flagged dimensions of the department itself and of its courses."""
    out: dict[str, int] = {}
    rows = session.exec(
        select(AggregateFlag, AggregateResult.org_unit_id)
        .join(
            AggregateResult,
            (col(AggregateResult.term_id) == AggregateFlag.term_id)
            & (col(AggregateResult.level) == AggregateFlag.level)
            & (col(AggregateResult.unit_id) == AggregateFlag.unit_id)
            & (col(AggregateResult.kind) == AggregateFlag.kind)
            & (col(AggregateResult.dimension) == AggregateFlag.dimension),
        )
        .where(AggregateFlag.term_id == term_id)
    ).all()
    for flag, org_unit_id in rows:
        ours = (flag.level == "department" and flag.unit_id == dept_id) or (
            flag.level == "course" and org_unit_id == dept_id
        )
        if ours:
            out[flag.dimension] = out.get(flag.dimension, 0) + 1
    return out


def test_the_whole_loop(world, people, session, app):
    uni = world.uni
    t1, t2 = uni.terms["T1"], uni.terms["T2"]
    se = uni.units["CS-SE"]
    head = people["head_se"]

    # 1. Proposals: one per flagged dimension, one per observer's written problem.
    expected = _expected_flag_dimensions(session, t1.id, se.id)
    assert "method" in expected  # the fixture made method weak
    result = propose_problems(session, term=t1, unit=se, user=head)
    session.commit()
    assert result.created == len(expected) + 1
    problems = session.exec(select(Problem).where(Problem.unit_id == se.id)).all()
    assert {p.source_key for p in problems} == {f"flag:{d}" for d in expected} | {
        f"feedback:{world.worded.id}"
    }
    assert all(p.status == "proposed" for p in problems)
    method = next(p for p in problems if p.source_key == "flag:method")
    assert method.category == "method"
    evidence = session.exec(
        select(ProblemEvidence).where(ProblemEvidence.problem_id == method.id)
    ).all()
    assert len(evidence) == expected["method"]
    assert all("method" in e.key and e.kind == "flag" for e in evidence)
    worded = next(p for p in problems if p.source == "feedback")
    assert OBSERVER_WORDS[:20] in worded.title
    assert worded.category == "method"  # the record's weakest dimension

    # 2. Idempotent: proposing again adds nothing.
    again = propose_problems(session, term=t1, unit=se, user=head)
    session.commit()
    assert (again.created, again.evidence_added) == (0, 0)
    assert again.unchanged == len(expected) + 1
    assert len(session.exec(select(Problem)).all()) == len(problems)
    assert len(session.exec(select(ProblemEvidence)).all()) == sum(expected.values()) + 1

    # 3. The head confirms the method problem, merges the observer's words into it,
    #    dismisses the rest with a reason.
    change_status(session, problem=method, to="open", user=head)
    merge_problems(session, target=method, sources=[worded], user=head)
    for p in problems:
        if p.status == "proposed":
            change_status(
                session, problem=p, to="dismissed", user=head, reason="follows from method"
            )
    session.commit()
    assert worded.status == "merged" and worded.merged_into_id == method.id
    keys = set(
        session.exec(
            select(ProblemEvidence.key).where(ProblemEvidence.problem_id == method.id)
        ).all()
    )
    assert f"feedback:{world.worded.id}" in keys

    # 4. A subject discussion meeting, then an action with a training-plan change.
    meeting = create_meeting(
        session,
        unit=se,
        term=t1,
        user=head,
        held_on=TODAY,
        title="教学方法专题研讨",
        decisions="Observe each other's classes; rework SE1 labs.",
        attendee_ids=[head.id, people["teacher"].id],
        other_attendees="两名学生代表",
        problem_ids=[method.id],
    )
    action = create_action(
        session,
        problem=method,
        user=head,
        today=TODAY,
        data=ActionInput(
            title="Peer observation and lab redesign for SE1",
            owner_id=people["teacher"].id,
            due_date=TODAY + timedelta(days=30),
            meeting_id=meeting.id,
            plan_course_id=uni.courses["SE1"].id,
            plan_change="Two lab hours replace two lecture hours",
            plan_from_term_id=t2.id,
        ),
    )
    session.commit()
    assert method.status == "in_progress"

    # 5. The owner works and finishes: the problem is resolved.
    teacher = people["teacher"]
    update_action(
        session, action=action, user=teacher, status="in_progress", notes="started", today=TODAY
    )
    update_action(session, action=action, user=teacher, status="done", today=TODAY)
    session.commit()
    session.refresh(method)
    assert method.status == "resolved" and method.resolved_at is not None

    # Every status change is in the audit log, in order.
    details = session.exec(
        select(AuditEvent.detail)
        .where(
            AuditEvent.action == "loop.problem.status", AuditEvent.target == f"problem {method.id}"
        )
        .order_by(AuditEvent.id)
    ).all()
    assert [d.split(":")[0] for d in details] == [
        "proposed → open",
        "open → in_progress",
        "in_progress → resolved",
    ]

    # 6. Next term's report shows it resolved, with its action and plan change.
    aggregation.aggregate_term(session, term=t2.code)
    with app.app_context():  # the report's words are looked up in the catalogue
        data = report_data(session, term_code=t2.code, unit_code="CS-SE", config=app.config)
    loop = data["loop"]
    assert loop["prev_term"]["code"] == t1.code
    [shown] = loop["problems"]
    assert (shown["id"], shown["status"]) == (method.id, "resolved")
    assert (shown["actions"], shown["actions_done"], shown["plan_changes"]) == (1, 1, 1)
    with app.app_context():
        school = report_data(session, term_code=t2.code, unit_code="U", config=app.config)["loop"]
    by_code = {c["code"]: c for c in school["children"]}
    assert (by_code["CS"]["found"], by_code["CS"]["resolved"], by_code["CS"]["verified"]) == (
        1,
        1,
        0,
    )
    assert by_code["MATH"]["found"] == 0

    # 7. Verified next term: the school's count moves.
    change_status(session, problem=method, to="verified", user=people["dean_cs"])
    session.commit()
    with app.app_context():
        school = report_data(session, term_code=t2.code, unit_code="U", config=app.config)["loop"]
    assert {c["code"]: c["verified"] for c in school["children"]} == {"CS": 1, "MATH": 0, "ART": 0}

    # 8. And the PDF says so.
    outcome = render_unit(session, app, term_code=t2.code, unit_code="CS-SE")
    text = pdf_text(outcome.path)
    assert "Last term's problems" in text
    assert "Peer observation" not in text  # actions are counted, not listed
    assert "Verified" in text and "1 / 1" in text


def test_transitions_refused(world, people, session):
    t1, se = world.uni.terms["T1"], world.uni.units["CS-SE"]
    head = people["head_se"]
    propose_problems(session, term=t1, unit=se, user=head)
    problem = session.exec(select(Problem).where(Problem.source_key == "flag:method")).one()
    for bad in ("resolved", "verified", "in_progress", "merged", "nonsense"):
        with pytest.raises(LoopStateError):
            change_status(session, problem=problem, to=bad, user=head)
    with pytest.raises(LoopValidationError) as err:
        change_status(session, problem=problem, to="dismissed", user=head, reason="  ")
    assert set(err.value.errors) == {"reason"}
    assert problem.status == "proposed"
    # No action on an unconfirmed problem.
    with pytest.raises(LoopStateError):
        create_action(
            session,
            problem=problem,
            user=head,
            today=TODAY,
            data=ActionInput(title="x", owner_id=head.id, due_date=TODAY),
        )
    change_status(session, problem=problem, to="dismissed", user=head, reason="noise")
    with pytest.raises(LoopStateError):
        change_status(session, problem=problem, to="open", user=head)
    # The database refuses a dismissal without a reason, whatever code path tries.
    problem.dismiss_reason = None
    session.add(problem)
    with pytest.raises(Exception, match="(?i)check|constraint"):
        session.flush()
    session.rollback()


def test_action_rules(world, people, session):
    t1, se = world.uni.terms["T1"], world.uni.units["CS-SE"]
    head, teacher = people["head_se"], people["teacher"]
    problem = create_problem(
        session, term=t1, unit=se, user=head, title="Labs", category="practice", severity="low"
    )
    with pytest.raises(LoopValidationError) as err:
        create_action(
            session,
            problem=problem,
            user=head,
            today=TODAY,
            data=ActionInput(
                title=" ",
                owner_id=None,
                due_date=TODAY - timedelta(days=1),
                plan_programme="Software engineering",
            ),
        )
    assert set(err.value.errors) == {
        "title",
        "owner_id",
        "due_date",
        "plan_change",
        "plan_from_term_id",
    }
    action = create_action(
        session,
        problem=problem,
        user=head,
        today=TODAY,
        data=ActionInput(title="Fix labs", owner_id=teacher.id, due_date=TODAY),
    )
    # The owner may not change what, who or when; a stranger nothing.
    with pytest.raises(LoopPermissionError):
        update_action(
            session,
            action=action,
            user=teacher,
            data=ActionInput(title="Less", owner_id=teacher.id, due_date=TODAY),
            today=TODAY,
        )
    with pytest.raises(LoopPermissionError):
        update_action(session, action=action, user=people["head_ai"], status="done", today=TODAY)
    update_action(session, action=action, user=teacher, status="cancelled", today=TODAY)
    with pytest.raises(LoopStateError):
        update_action(session, action=action, user=teacher, status="open", today=TODAY)
    # Cancelled, not done: the problem is not resolved by it.
    assert problem.status == "in_progress"
    # Overdue: a live action due yesterday, in this unit only.
    late = create_action(
        session,
        problem=problem,
        user=head,
        today=TODAY - timedelta(days=5),
        data=ActionInput(title="Late", owner_id=teacher.id, due_date=TODAY - timedelta(1)),
    )
    assert [a.id for a in overdue_actions(session, today=TODAY, unit_id=se.id)] == [late.id]
    assert overdue_actions(session, today=TODAY, unit_id=world.uni.units["MATH"].id) == []


def test_proposals_pick_up_new_evidence_and_respect_dismissals(world, people, session):
    t1, se = world.uni.terms["T1"], world.uni.units["CS-SE"]
    head = people["head_se"]
    propose_problems(session, term=t1, unit=se, user=head)
    problem = session.exec(select(Problem).where(Problem.source_key == "flag:method")).one()
    change_status(session, problem=problem, to="dismissed", user=head, reason="known")
    # Drop one piece of evidence: the next proposal run adds it back, but no new problem.
    ev = session.exec(
        select(ProblemEvidence).where(ProblemEvidence.problem_id == problem.id)
    ).first()
    session.delete(ev)
    session.commit()
    result = propose_problems(session, term=t1, unit=se, user=None)
    assert (result.created, result.evidence_added) == (0, 1)
    assert problem.status == "dismissed"


def test_the_same_words_on_several_records_make_one_problem_titled_by_the_words(
    world, people, session
):
    t1, se = world.uni.terms["T1"], world.uni.units["CS-SE"]
    records = session.exec(
        select(Feedback)
        .where(Feedback.term_id == t1.id, Feedback.department_id == se.id)
        .order_by(Feedback.id)
    ).all()
    others = [r for r in records if r.id != world.worded.id]
    # The same words again, spaced and cased otherwise; and different words elsewhere.
    others[0].problems = "  " + OBSERVER_WORDS.upper().replace(" ", "   ") + "\n"
    others[1].problems = "板书潦草"
    session.add_all(others[:2])
    session.commit()
    propose_problems(session, term=t1, unit=se, user=people["head_se"])
    from_words = session.exec(
        select(Problem).where(Problem.unit_id == se.id, Problem.source == "feedback")
    ).all()
    assert len(from_words) == 2  # one per distinct text, not one per record
    by_title = {p.title: p for p in from_words}
    assert set(by_title) == {OBSERVER_WORDS, "板书潦草"}  # the words, no section code
    evidence = session.exec(
        select(ProblemEvidence.feedback_id).where(
            ProblemEvidence.problem_id == by_title[OBSERVER_WORDS].id
        )
    ).all()
    assert sorted(evidence) == sorted([world.worded.id, others[0].id])
    # A second run finds them again: nothing new.
    result = propose_problems(session, term=t1, unit=se, user=None)
    assert result.created == 0


def test_summary_counts_against_a_direct_count(world, people, session):
    """summary(): per child, problems in its subtree by status, as counted one by one."""
    t1 = world.uni.terms["T1"]
    dean = people["dean_cs"]
    made = []
    for code, status in (
        ("CS-SE", "open"),
        ("CS-SE", "resolved"),
        ("CS-AI", "verified"),
        ("CS", "open"),
        ("MATH-PURE", "open"),
    ):
        unit = world.uni.units[code]
        admin = people["dean_math"] if code.startswith("MATH") else dean
        p = create_problem(
            session, term=t1, unit=unit, user=admin, title=code, category="other", severity="low"
        )
        if status in ("resolved", "verified"):
            change_status(session, problem=p, to="resolved", user=admin)
        if status == "verified":
            change_status(session, problem=p, to="verified", user=admin)
        made.append((code, status))
    session.commit()
    got = summary(session, term_id=t1.id, unit_id=world.uni.units["CS"].id)
    by = {c["code"]: c for c in got["children"]}
    assert (by["CS-SE"]["found"], by["CS-SE"]["resolved"], by["CS-SE"]["verified"]) == (2, 1, 0)
    assert (by["CS-AI"]["found"], by["CS-AI"]["resolved"], by["CS-AI"]["verified"]) == (1, 1, 1)
    assert got["own"]["found"] == 1  # the college's own problem
    assert got["total"]["found"] == sum(1 for c, _ in made if c.startswith("CS"))
    school = summary(session, term_id=t1.id, unit_id=world.uni.units["U"].id)
    assert {c["code"]: c["found"] for c in school["children"]} == {"ART": 0, "CS": 4, "MATH": 1}


def test_cli_proposes_for_the_tree_idempotently(world, people, session, cli):
    t1 = world.uni.terms["T1"]
    first = cli("loop-propose", "--term", t1.code)
    assert first.exit_code == 0, first.output
    session.rollback()
    problems = session.exec(select(Problem)).all()
    # Only CS-SE was made weak; every proposal lies there (or above it, if its flags rose).
    assert problems and {p.unit_id for p in problems} <= {
        world.uni.units[c].id for c in ("CS-SE", "CS", "U")
    }
    assert f"{len(problems)} problems proposed" in first.output
    again = cli("loop-propose", "--term", t1.code, "--unit", "CS")
    assert again.exit_code == 0 and "0 problems proposed" in again.output
    session.rollback()
    assert len(session.exec(select(Problem)).all()) == len(problems)
    assert cli("loop-propose", "--term", "nope").exit_code != 0


def test_visible_problem_ids_follow_the_tree(world, people, session):
    t1 = world.uni.terms["T1"]
    made = {}
    for code, user in (("CS-SE", "head_se"), ("CS-AI", "head_ai"), ("MATH-PURE", "dean_math")):
        made[code] = create_problem(
            session,
            term=t1,
            unit=world.uni.units[code],
            user=people[user],
            title=code,
            category="other",
            severity="low",
        ).id
    session.commit()

    def seen(user: str) -> set[int]:
        return set(session.exec(visible_problem_ids(people[user])).all())

    assert seen("dean_cs") == {made["CS-SE"], made["CS-AI"]}
    assert seen("head_se") == {made["CS-SE"]}
    assert seen("dean_math") == {made["MATH-PURE"]}
    assert seen("leader") == set(made.values())
    assert seen("teacher") == set()
