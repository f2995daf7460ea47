"""The one joined read of feedback records (evalsys.feedback.rows): every value by name,
the observer hidden per row by the caller's condition, one query whatever the rows."""

from __future__ import annotations

from sqlmodel import col

from evalsys.accounts.access import feedback_authored_by
from evalsys.feedback.models import Feedback, Rubric
from evalsys.feedback.rows import JOINED, FeedbackRow, count_feedback, feedback_rows
from evalsys.feedback.writes import submit_feedback
from tests.fixtures.feedback_world import NOW, TODAY


def _store(session, world, make_input):
    section = submit_feedback(
        session, user=world.supervisor, data=make_input(), now=NOW, today=TODAY
    )
    group = submit_feedback(
        session, user=world.tutor, data=make_input("tutor_group"), now=NOW, today=TODAY
    )
    session.commit()
    return section, group


def test_a_row_names_what_its_record_refers_to(session, world, make_input):
    section, group = _store(session, world, make_input)
    rows = {row.id: row for row in feedback_rows(session, [])}
    on_section, on_group = rows[section.id], rows[group.id]

    assert on_section.record is section
    assert (on_section.term_code, on_section.section_code) == (world.term.code, "SE101-01")
    assert (on_section.course_code, on_section.course_title) == ("SE101", "软件工程导论")
    assert (on_section.teacher_username, on_section.teacher_name) == (
        world.teacher.username,
        world.teacher.name,
    )
    assert on_section.department_code == "CS-SE"
    assert on_section.observer_username == world.supervisor.username
    assert on_section.observer_name == world.supervisor.name
    assert on_section.rubric_version == session.get(Rubric, section.rubric_id).version
    assert on_section.group_code is None and on_section.target_code == "SE101-01"

    # A tutor-group record has no section: its course and teacher are empty, its group set.
    assert (on_group.group_code, on_group.section_code) == ("G-SE-1", None)
    assert on_group.course_code is None and on_group.teacher_username is None
    assert on_group.observer_username == world.tutor.username
    assert on_group.target_code == "G-SE-1" and on_group.target_title == on_group.group_name


def test_the_observer_is_hidden_only_where_the_condition_holds(session, world, make_input):
    section, group = _store(session, world, make_input)
    hidden = ~feedback_authored_by(world.supervisor)  # the supervisor reads both
    rows = {row.id: row for row in feedback_rows(session, [], observer_hidden=hidden)}
    assert rows[section.id].observer_username == world.supervisor.username
    assert (rows[group.id].observer_username, rows[group.id].observer_name) == (None, None)
    # The record itself still knows its observer: hiding is for what a reader is shown.
    assert rows[group.id].observer_id == world.tutor.id


def test_conditions_order_and_pages(session, world, make_input):
    section, group = _store(session, world, make_input)
    newest_first = [col(Feedback.id).desc()]
    assert [r.id for r in feedback_rows(session, [], order=newest_first)] == [group.id, section.id]
    assert [r.id for r in feedback_rows(session, [], order=newest_first, limit=1, offset=1)] == [
        section.id
    ]
    mine = [feedback_authored_by(world.tutor)]
    assert [r.id for r in feedback_rows(session, mine)] == [group.id]
    assert count_feedback(session, mine) == 1 and count_feedback(session, []) == 2


def test_one_query_whatever_the_number_of_rows(session, world, make_input, queries):
    for _ in range(3):
        _store(session, world, make_input)
    with queries() as statements:
        rows = feedback_rows(session, [])
        # Everything a list, the export or the API reads is loaded already.
        seen = [(r.kind, r.visit_date, r.record.strengths, r.target_code) for r in rows]
    assert len(seen) == 6
    reads = [s for s in statements if s != "BEGIN"]  # the session's transaction opens
    assert len(reads) == 1, statements


def test_every_joined_field_is_selected():
    names = [f for f in FeedbackRow.__dataclass_fields__ if f != "record"]
    assert list(JOINED) == names
