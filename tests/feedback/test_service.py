"""The feedback service: validation, scope, idempotency, edit window, revisions, scores."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from evalsys.accounts import service as accounts
from evalsys.accounts.models import AuditEvent
from evalsys.feedback import writes
from evalsys.feedback.checks import compute_overall_score
from evalsys.feedback.idempotency import IdempotencyKeyReused
from evalsys.feedback.inputs import (
    FeedbackInput,
    FeedbackPermissionError,
    FeedbackStateError,
    FeedbackValidationError,
)
from evalsys.feedback.models import Feedback, FeedbackRevision, FeedbackScore, TeacherResponse
from evalsys.feedback.reads import feedback_scores, input_from_feedback, revisions
from evalsys.feedback.vocab import suggested_grade
from evalsys.feedback.writes import (
    add_teacher_response,
    can_change,
    edit_deadline,
    edit_window_from_config,
    submit_feedback,
    submit_or_replay,
    update_feedback,
    withdraw_feedback,
)
from tests.fixtures.feedback_world import NOW, TODAY, full_scores

SPOT, OPEN, TUTOR = "spot_check", "open_class", "tutor_group"


def count(session: Session, model=Feedback) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def submit(session, user, data, **kw):
    kw.setdefault("today", TODAY)
    kw.setdefault("now", NOW)
    return submit_feedback(session, user=user, data=data, **kw)


# --- storing valid records --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "who"), [(SPOT, "supervisor"), (OPEN, "leader"), (TUTOR, "tutor")]
)
def test_each_kind_is_stored(session: Session, world, make_input, kind, who):
    user = getattr(world, who)
    fb = submit(session, user, make_input(kind))
    session.commit()
    stored = session.get(Feedback, fb.id)
    assert (stored.kind, stored.status, stored.observer_id) == (kind, "submitted", user.id)
    assert stored.term_id == world.term.id
    assert stored.submitted_at == NOW and stored.created_at == NOW
    assert stored.visit_date == TODAY
    if kind == TUTOR:
        assert (stored.group_id, stored.section_id) == (world.group.id, None)
        assert stored.department_id == world.group.department_id
        assert (stored.meeting_format, stored.attending) == ("student_discussion", 8)
    else:
        assert (stored.section_id, stored.group_id) == (world.se.id, None)
        assert (stored.enrolled, stored.present, stored.late) == (40, 36, 2)
    assert stored.strengths == "讲解清楚"
    assert feedback_scores(session, fb.id) == full_scores(session, kind, 4 if kind == TUTOR else 8)


def test_text_is_stripped_and_blank_is_none(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input(comment="  好课  ", location="   "))
    assert (fb.comment, fb.location) == ("好课", None)


# --- overall score against a hand computation -------------------------------------------


def test_overall_score_spot_check_by_hand(session: Session, world, make_input):
    # Default spot-check rubric, every item 0-10, weights summing to 100. All items at 10
    # except content_focus (weight 12) at 5; method_media (weight 8, optional) unanswered.
    # Answered weight = 92; weighted normalised sum = 92 - 12 * 0.5 = 86; 86 / 92 * 100.
    scores = full_scores(session, SPOT, 10)
    scores["content_focus"] = 5
    del scores["method_media"]
    fb = submit(session, world.supervisor, make_input(scores=scores))
    assert fb.overall_score == pytest.approx(8600 / 92)  # 93.478...


def test_overall_score_tutor_group_by_hand(session: Session, world, make_input):
    # Tutor-group rubric on 1-5: plan_goals (weight 20) at 3 -> (3-1)/(5-1) = 0.5;
    # guidance_career (weight 10) at 1 -> 0; support_wellbeing (weight 5) unanswered;
    # the rest (weight 65) at 5 -> 1. (65 + 10) / 95 * 100.
    scores = full_scores(session, TUTOR, 5)
    scores.update(plan_goals=3, guidance_career=1)
    del scores["support_wellbeing"]
    fb = submit(session, world.tutor, make_input(TUTOR, scores=scores))
    assert fb.overall_score == pytest.approx(7500 / 95)  # 78.947...


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (10, 100.0), (7, 70.0)])
def test_overall_score_uniform(session: Session, world, make_input, value, expected):
    fb = submit(session, world.supervisor, make_input(scores=full_scores(session, SPOT, value)))
    assert fb.overall_score == pytest.approx(expected)


def test_overall_score_none_without_answers():
    assert compute_overall_score([], {}) is None


def test_draft_may_lack_required_items(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input(scores={}, announced=None), draft=True)
    assert (fb.status, fb.submitted_at, fb.overall_score) == ("draft", None, None)


# --- validation: every rule names its field ---------------------------------------------

LONG = "长" * 4001


@pytest.mark.parametrize(
    ("kind", "overrides", "field", "message"),
    [
        (SPOT, {"kind": "lecture"}, "kind", "unknown kind 'lecture'"),
        (SPOT, {"section": None}, "section", "required"),
        (SPOT, {"group": "G-SE-1"}, "group", "only tutor-group reports name a group"),
        (TUTOR, {"section": "SE101-01"}, "section", "leave section empty"),
        (TUTOR, {"group": None}, "group", "required"),
        (SPOT, {"date": None}, "date", "required"),
        (SPOT, {"date": TODAY + timedelta(days=1)}, "date", "is in the future"),
        (SPOT, {"date": date(2026, 8, 31)}, "date", "outside the term 2026-2027-1"),
        (TUTOR, {"date": date(2026, 8, 31)}, "date", "(2026-09-01 to 2027-01-20)"),
        (SPOT, {"present": 41}, "present", "41 present is more than the 40 enrolled"),
        (OPEN, {"late": 37}, "late", "37 late is more than the 36 present"),
        (SPOT, {"enrolled": -1, "present": None, "late": None}, "enrolled", "0 or more"),
        (SPOT, {"late": -3}, "late", "0 or more"),
        (TUTOR, {"attending": -1}, "attending", "0 or more"),
        (TUTOR, {"enrolled": 20}, "enrolled", "count the students attending instead"),
        (SPOT, {"attending": 5}, "attending", "only tutor-group reports count attending"),
        (SPOT, {"scores": {"content_focus": 11}}, "scores.content_focus", "outside the scale"),
        (SPOT, {"scores": {"content_focus": -1}}, "scores.content_focus", "-1 is outside"),
        (TUTOR, {"scores": {"plan_goals": 0}}, "scores.plan_goals", "scale 1–5"),
        (SPOT, {"scores": {"content_focus": float("nan")}}, "scores.content_focus", "number"),
        (SPOT, {"scores": {"content_focus": "high"}}, "scores.content_focus", "number"),
        (SPOT, {"scores": {"nope": 5}}, "scores.nope", "no item 'nope' in the spot_check"),
        (SPOT, {"scores": {}}, "scores.content_focus", "required: '重点突出，难点讲透'"),
        (SPOT, {"comment": LONG}, "comment", "4001 characters is too long; the limit is 4000"),
        (SPOT, {"strengths": LONG}, "strengths", "the limit is 4000"),
        (SPOT, {"problems": LONG}, "problems", "the limit is 4000"),
        (TUTOR, {"suggestions": LONG}, "suggestions", "the limit is 4000"),
        (TUTOR, {"topics": "x" * 2001}, "topics", "the limit is 2000"),
        (SPOT, {"location": "x" * 201}, "location", "the limit is 200"),
        (SPOT, {"class_period": "x" * 41}, "class_period", "the limit is 40"),
        (SPOT, {"announced": None}, "announced", "required"),
        (OPEN, {"announced": True}, "announced", "only spot check records"),
        (SPOT, {"announced": "sometimes"}, "announced", "true or false"),
        (OPEN, {"observer_level": None}, "observer_level", "required"),
        (OPEN, {"observer_level": "dean"}, "observer_level", "one of school_leader"),
        (SPOT, {"observer_level": "peer"}, "observer_level", "only open class records"),
        (TUTOR, {"meeting_format": None}, "meeting_format", "required"),
        (TUTOR, {"meeting_format": "party"}, "meeting_format", "tutor_meeting"),
        (OPEN, {"meeting_format": "tutor_meeting"}, "meeting_format", "only tutor group"),
        (SPOT, {"overall_grade": "great"}, "overall_grade", "excellent, good, fair"),
    ],
)
def test_validation_rule(session: Session, world, make_input, kind, overrides, field, message):
    user = {SPOT: world.supervisor, OPEN: world.leader, TUTOR: world.tutor}[kind]
    data = make_input(kind)
    scores = overrides.pop("scores", None)
    if scores is not None:
        data.scores = {} if not scores else {**data.scores, **scores}
    for name, value in overrides.items():
        setattr(data, name, value)
    with pytest.raises(FeedbackValidationError) as caught:
        submit(session, user, data)
    messages = caught.value.by_field().get(field, [])
    assert any(message in m for m in messages), caught.value.errors
    assert count(session) == 0


def test_all_errors_are_reported_together(session: Session, world, make_input):
    data = make_input(present=50, comment=LONG, date=TODAY + timedelta(days=3))
    data.scores["content_focus"] = 99
    with pytest.raises(FeedbackValidationError) as caught:
        submit(session, world.supervisor, data)
    assert set(caught.value.fields()) == {"present", "comment", "date", "scores.content_focus"}
    assert caught.value.as_json()[0].keys() == {"field", "message"}


def test_draft_is_still_checked_for_scale_and_scope(session: Session, world, make_input):
    data = make_input(scores={"content_focus": 12})
    with pytest.raises(FeedbackValidationError, match="outside the scale"):
        submit(session, world.supervisor, data, draft=True)
    with pytest.raises(FeedbackPermissionError):
        submit(session, world.supervisor, make_input(section="MA101-01"), draft=True)


def test_no_published_rubric(session: Session, factory):
    units = factory.university()
    term = factory.term()
    course = factory.course("C1", units["CS-SE"])
    factory.section("C1-01", course, term)
    sup = factory.user("sup", "supervisor@CS")
    data = FeedbackInput(kind=SPOT, section="C1-01", date=TODAY, announced=True)
    with pytest.raises(FeedbackValidationError, match="no published spot_check rubric"):
        submit(session, sup, data)


# --- scope ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "kind", "overrides", "allowed"),
    [
        ("supervisor", SPOT, {}, True),
        ("supervisor", SPOT, {"section": "MA101-01"}, False),  # CS supervisor, MATH section
        ("supervisor", OPEN, {}, False),  # supervisors do spot checks
        ("supervisor", TUTOR, {}, False),
        ("leader", OPEN, {}, True),
        ("leader", OPEN, {"section": "MA101-01"}, False),
        ("leader", SPOT, {}, False),
        ("tutor", TUTOR, {}, True),
        ("tutor", TUTOR, {"group": "G-SE-2"}, False),  # not their group
        ("tutor", SPOT, {}, False),
        ("tutor2", TUTOR, {"group": "G-SE-2"}, True),
        ("admin", SPOT, {}, True),
        ("admin", SPOT, {"section": "MA101-01"}, True),
        ("admin", OPEN, {"section": "MA101-01"}, True),
        ("admin", TUTOR, {"group": "G-SE-2"}, True),
        ("math_admin", SPOT, {"section": "MA101-01"}, True),
        ("math_admin", SPOT, {}, False),  # an admin of MATH only
        ("math_admin", TUTOR, {}, False),
        ("teacher", SPOT, {}, False),
    ],
)
def test_scope(session: Session, world, make_input, who, kind, overrides, allowed):
    data = make_input(kind, **overrides)
    user = getattr(world, who)
    if allowed:
        assert submit(session, user, data).observer_id == user.id
    else:
        with pytest.raises(FeedbackPermissionError) as caught:
            submit(session, user, data)
        assert caught.value.field == ("group" if kind == TUTOR else "section")
        assert count(session) == 0


def test_scope_message_names_the_kind(session: Session, world, make_input):
    with pytest.raises(FeedbackPermissionError) as caught:
        submit(session, world.supervisor, make_input(OPEN))
    assert caught.value.message == "the section 'SE101-01' is outside your scope for open classes"


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (None, None),
        (100, "excellent"),
        (90, "excellent"),
        (89.99, "good"),
        (80, "good"),
        (75, "fair"),
        (60, "pass"),
        (59.9, "fail"),
        (0, "fail"),
    ],
)
def test_suggested_grade_bands(score, grade):
    assert suggested_grade(score) == grade


@pytest.mark.parametrize(
    ("kind", "field", "known", "unknown"),
    [(SPOT, "section", "MA101-01", "NOPE-01"), (TUTOR, "group", "G-SE-2", "G-NOPE")],
)
def test_unknown_code_is_refused_like_one_outside_the_scope(
    session: Session, world, make_input, kind, field, known, unknown
):
    """The answer never tells whether a section or group code exists (issue 13)."""
    user = world.supervisor if kind == SPOT else world.tutor
    answers = []
    for code in (known, unknown):
        with pytest.raises(FeedbackPermissionError) as caught:
            submit(session, user, make_input(kind, **{field: code}))
        answers.append((caught.value.field, caught.value.message.replace(code, "CODE")))
    assert answers[0] == answers[1] == (field, answers[0][1])
    assert count(session) == 0


def test_scope_refused_before_validation(session: Session, world, make_input):
    # Someone outside the scope learns nothing about what else would be wrong.
    data = make_input(section="MA101-01", present=999)
    with pytest.raises(FeedbackPermissionError, match="outside your scope for spot checks"):
        submit(session, world.supervisor, data)


def test_no_feedback_on_own_section(session: Session, world, make_input):
    # The teacher of SE101-01 is also a supervisor of the college.
    accounts.replace_grants(session, world.teacher, [accounts.parse_role_spec("supervisor@CS")])
    session.commit()
    with pytest.raises(FeedbackPermissionError, match="your own section"):
        submit(session, world.teacher, make_input())


def test_inactive_user_refused(session: Session, world, make_input):
    world.tutor.active = False
    session.add(world.tutor)
    session.commit()
    with pytest.raises(FeedbackPermissionError, match="not the tutor"):
        submit(session, world.tutor, make_input(TUTOR))


def test_admin_may_record_for_another_observer(session: Session, world, make_input):
    fb = submit(session, world.admin, make_input(), observer=world.supervisor)
    assert fb.observer_id == world.supervisor.id
    assert revisions(session, fb.id)[0].user_id == world.admin.id
    with pytest.raises(FeedbackPermissionError, match="for someone else"):
        submit(session, world.supervisor, make_input(), observer=world.leader)


# --- idempotency ------------------------------------------------------------------------


def test_same_idempotency_key_stores_one_record(session: Session, world, make_input):
    first = submit(session, world.supervisor, make_input(), idempotency_key="k-1")
    session.commit()
    again = submit(session, world.supervisor, make_input(comment="retry"), idempotency_key="k-1")
    assert again.id == first.id
    assert count(session) == 1
    assert count(session, FeedbackRevision) == 1
    # Another key, no key, or another observer with the same key: new records.
    submit(session, world.supervisor, make_input(), idempotency_key="k-2")
    submit(session, world.supervisor, make_input())
    submit(session, world.admin, make_input(), idempotency_key="k-1")
    assert count(session) == 4


def test_idempotency_key_too_long(session: Session, world, make_input):
    with pytest.raises(FeedbackValidationError) as caught:
        submit(session, world.supervisor, make_input(), idempotency_key="k" * 201)
    assert caught.value.fields() == ["idempotency_key"]


@pytest.mark.parametrize("earlier_write", [False, True])
def test_idempotency_race_returns_the_winner(
    session: Session, world, make_input, monkeypatch, earlier_write
):
    """Two requests with one key pass the lookup together; the loser gets the winner's record."""
    winner = submit(session, world.supervisor, make_input(), idempotency_key="race")
    session.commit()
    monkeypatch.setattr(writes, "_find_by_key", _miss_once(writes._find_by_key))
    if earlier_write:  # the caller wrote something first: it must survive the lost race
        session.add(AuditEvent(action="test.before", user_id=None))
        session.flush()
    loser = submit(session, world.supervisor, make_input(), idempotency_key="race")
    session.commit()
    assert loser.id == winner.id
    assert count(session) == 1
    before = session.exec(select(AuditEvent).where(AuditEvent.action == "test.before")).all()
    assert len(before) == (1 if earlier_write else 0)


DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


def store(session, user, data, **kw):
    kw.setdefault("today", TODAY)
    kw.setdefault("now", NOW)
    return submit_or_replay(session, user=user, data=data, **kw)


def test_key_with_another_digest_is_refused_and_stores_nothing(session: Session, world, make_input):
    first = store(
        session, world.supervisor, make_input(), idempotency_key="k", request_digest=DIGEST_A
    )
    session.commit()
    assert not first.replayed
    assert first.feedback.idempotency_digest == DIGEST_A
    again = store(
        session, world.supervisor, make_input(), idempotency_key="k", request_digest=DIGEST_A
    )
    assert again.replayed and again.feedback.id == first.feedback.id
    with pytest.raises(IdempotencyKeyReused) as caught:
        store(
            session,
            world.supervisor,
            make_input(comment="other"),
            idempotency_key="k",
            request_digest=DIGEST_B,
        )
    assert (caught.value.feedback_id, caught.value.status) == (first.feedback.id, "submitted")
    session.rollback()
    assert count(session) == 1 and count(session, FeedbackRevision) == 1


def test_no_digest_on_either_side_means_the_key_alone_decides(session: Session, world, make_input):
    """The web form and the import pass no digest; older rows have none stored."""
    with_digest = store(
        session, world.supervisor, make_input(), idempotency_key="k1", request_digest=DIGEST_A
    )
    without = submit(session, world.supervisor, make_input(), idempotency_key="k2")
    session.commit()
    assert without.idempotency_digest is None
    # A caller without a digest (the web form's double click) gets the record either way ...
    assert submit(session, world.supervisor, make_input(), idempotency_key="k1").id == (
        with_digest.feedback.id
    )
    # ... and a row without a digest matches any digest.
    replay = store(
        session, world.supervisor, make_input(), idempotency_key="k2", request_digest=DIGEST_B
    )
    assert replay.replayed and replay.feedback.id == without.id
    assert count(session) == 2


def test_a_digest_without_a_key_is_not_stored(session: Session, world, make_input):
    fb = store(session, world.supervisor, make_input(), request_digest=DIGEST_A).feedback
    assert fb.idempotency_key is None and fb.idempotency_digest is None


def test_race_lost_to_another_request_is_refused(session: Session, world, make_input, monkeypatch):
    """The lookup misses, the insert collides: the winner's digest still decides."""
    store(session, world.supervisor, make_input(), idempotency_key="race", request_digest=DIGEST_A)
    session.commit()
    monkeypatch.setattr(writes, "_find_by_key", _miss_once(writes._find_by_key))
    with pytest.raises(IdempotencyKeyReused):
        store(
            session, world.supervisor, make_input(), idempotency_key="race", request_digest=DIGEST_B
        )
    session.rollback()
    assert count(session) == 1


def test_bounded_wait_restores_the_lock_timeout(session: Session, world, make_input):
    """The short lock_timeout covers the keyed insert only, not the rest of the transaction."""
    if session.connection().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no lock_timeout")
    session.execute(text("SET lock_timeout = '7s'"))
    store(
        session,
        world.supervisor,
        make_input(),
        idempotency_key="k",
        request_digest=DIGEST_A,
        in_flight_wait=timedelta(milliseconds=250),
    )
    assert session.execute(text("SHOW lock_timeout")).scalar_one() == "7s"
    session.rollback()


def _miss_once(real):
    calls = {"n": 0}

    def find(session, observer_id, key):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(session, observer_id, key)

    return find


# --- edit window, drafts, withdrawal ----------------------------------------------------

WINDOW = timedelta(hours=72)


def test_edit_inside_window_records_changes(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    session.commit()
    old_score = fb.overall_score
    data = make_input(comment="补充：板书清晰", present=38)
    data.scores["content_focus"] = 10
    later = NOW + timedelta(hours=71)
    update_feedback(
        session, user=world.supervisor, feedback=fb, data=data, edit_window=WINDOW, now=later
    )
    session.commit()
    assert fb.updated_at == later and fb.submitted_at == NOW
    assert feedback_scores(session, fb.id)["content_focus"] == 10
    history = revisions(session, fb.id)
    assert [r.action for r in history] == ["create", "edit"]
    edit = history[1]
    assert edit.user_id == world.supervisor.id and edit.at == later
    assert edit.changes == {
        "comment": [None, "补充：板书清晰"],
        "present": [36, 38],
        "scores.content_focus": [8.0, 10.0],
        "overall_score": [old_score, fb.overall_score],
    }
    create = history[0].changes
    assert create["status"] == [None, "submitted"]
    assert create["visit_date"] == [None, TODAY.isoformat()]
    assert create["scores.content_focus"] == [None, 8.0]


def test_unchanged_update_records_nothing(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    update_feedback(
        session,
        user=world.supervisor,
        feedback=fb,
        data=input_from_feedback(session, fb),
        now=NOW + timedelta(hours=1),
        today=TODAY,
    )
    assert len(revisions(session, fb.id)) == 1
    assert fb.updated_at == NOW


def test_edit_outside_window_refused(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    late = NOW + WINDOW + timedelta(seconds=1)
    with pytest.raises(FeedbackStateError, match="72-hour edit window closed"):
        update_feedback(
            session,
            user=world.supervisor,
            feedback=fb,
            data=make_input(comment="x"),
            edit_window=WINDOW,
            now=late,
            today=TODAY,
        )
    with pytest.raises(FeedbackStateError):
        withdraw_feedback(session, user=world.supervisor, feedback=fb, edit_window=WINDOW, now=late)
    assert edit_deadline(fb, WINDOW) == NOW + WINDOW
    assert can_change(fb, world.supervisor, WINDOW, NOW + WINDOW)
    assert not can_change(fb, world.supervisor, WINDOW, late)
    # A shorter configured window closes sooner.
    short = edit_window_from_config({"FEEDBACK_EDIT_WINDOW_HOURS": 1})
    assert short == timedelta(hours=1)
    assert not can_change(fb, world.supervisor, short, NOW + timedelta(hours=2))
    assert edit_window_from_config({}) == timedelta(hours=72)


def test_only_the_author_may_change(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    for other in (world.admin, world.leader):
        with pytest.raises(FeedbackPermissionError, match="only the author"):
            update_feedback(session, user=other, feedback=fb, data=make_input(), now=NOW)
        with pytest.raises(FeedbackPermissionError):
            withdraw_feedback(session, user=other, feedback=fb, now=NOW)


def test_draft_then_submit(session: Session, world, make_input):
    partial = make_input(scores={"content_focus": 9}, announced=None)
    fb = submit(session, world.supervisor, partial, draft=True)
    # Drafts have no edit window: finished weeks later, still on the same rubric.
    later = NOW + timedelta(days=20)
    update_feedback(
        session,
        user=world.supervisor,
        feedback=fb,
        data=partial,
        draft=True,
        now=later,
        today=TODAY + timedelta(days=20),
    )
    assert fb.status == "draft"
    update_feedback(
        session,
        user=world.supervisor,
        feedback=fb,
        data=make_input(),
        now=later,
        today=TODAY + timedelta(days=20),
    )
    assert (fb.status, fb.submitted_at) == ("submitted", later)
    history = revisions(session, fb.id)
    assert [r.action for r in history] == ["create", "submit"]
    assert history[1].changes["status"] == ["draft", "submitted"]
    with pytest.raises(FeedbackStateError, match="back to being a draft"):
        update_feedback(
            session,
            user=world.supervisor,
            feedback=fb,
            data=make_input(),
            draft=True,
            now=later,
            today=TODAY + timedelta(days=20),
        )


def test_edit_cannot_change_kind(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    with pytest.raises(FeedbackValidationError) as caught:
        update_feedback(session, user=world.supervisor, feedback=fb, data=make_input(OPEN), now=NOW)
    assert caught.value.fields() == ["kind"]


def test_edit_is_validated_and_stores_nothing_when_bad(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    session.commit()
    with pytest.raises(FeedbackValidationError):
        update_feedback(
            session,
            user=world.supervisor,
            feedback=fb,
            data=make_input(present=99),
            now=NOW,
            today=TODAY,
        )
    session.rollback()
    assert session.get(Feedback, fb.id).present == 36
    assert len(revisions(session, fb.id)) == 1


def test_withdraw(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    withdraw_feedback(
        session,
        user=world.supervisor,
        feedback=fb,
        reason="记错了课程",
        now=NOW + timedelta(hours=2),
    )
    session.commit()
    assert session.get(Feedback, fb.id).status == "withdrawn"
    last = revisions(session, fb.id)[-1]
    assert last.action == "withdraw"
    assert last.changes == {"status": ["submitted", "withdrawn"], "reason": [None, "记错了课程"]}
    with pytest.raises(FeedbackStateError, match="withdrawn"):
        update_feedback(session, user=world.supervisor, feedback=fb, data=make_input(), now=NOW)
    with pytest.raises(FeedbackStateError, match="withdrawn"):
        withdraw_feedback(session, user=world.supervisor, feedback=fb, now=NOW)


def test_input_round_trip(session: Session, world, make_input):
    data = make_input(overall_grade="good", comment="好")
    fb = submit(session, world.supervisor, data)
    assert input_from_feedback(session, fb) == data


# --- teacher responses ------------------------------------------------------------------


def test_teacher_response(session: Session, world, make_input):
    fb = submit(session, world.supervisor, make_input())
    response = add_teacher_response(
        session, user=world.teacher, feedback=fb, text=" 已调整互动环节 ", now=NOW
    )
    session.commit()
    assert (response.text, response.teacher_id) == ("已调整互动环节", world.teacher.id)
    with pytest.raises(FeedbackPermissionError):
        add_teacher_response(session, user=world.supervisor, feedback=fb, text="x")
    with pytest.raises(FeedbackValidationError, match="limit is 4000"):
        add_teacher_response(session, user=world.teacher, feedback=fb, text="x" * 4001)
    with pytest.raises(FeedbackValidationError, match="required"):
        add_teacher_response(session, user=world.teacher, feedback=fb, text="  ")
    draft = submit(session, world.supervisor, make_input(), draft=True)
    with pytest.raises(FeedbackStateError):
        add_teacher_response(session, user=world.teacher, feedback=draft, text="x")
    assert count(session, TeacherResponse) == 1


# --- reading loose input (API JSON, CSV cells) ------------------------------------------


def test_from_mapping_reads_json_and_csv_values():
    data = FeedbackInput.from_mapping(
        {
            "kind": "spot_check",
            "section": 12345,
            "date": "2026-10-15",
            "announced": "否",
            "enrolled": "40",
            "present": 36,
            "late": "",
            "scores": {"content_focus": "8.5", "effect_engagement": 9, "method_media": ""},
            "comment": "好",
        }
    )
    assert data == FeedbackInput(
        kind="spot_check",
        section="12345",
        date=TODAY,
        announced=False,
        enrolled=40,
        present=36,
        scores={"content_focus": 8.5, "effect_engagement": 9.0, "method_media": None},
        comment="好",
    )


def test_from_mapping_names_every_unreadable_field():
    with pytest.raises(FeedbackValidationError) as caught:
        FeedbackInput.from_mapping(
            {
                "section": ["x"],
                "date": "15/10/2026",
                "announced": "maybe",
                "enrolled": "forty",
                "present": True,
                "scores": {"content_focus": "high", "x": True},
                "colour": "blue",
            }
        )
    assert sorted(caught.value.fields()) == sorted(
        [
            "colour",
            "section",
            "enrolled",
            "present",
            "announced",
            "date",
            "scores.content_focus",
            "scores.x",
            "kind",
        ]
    )
    with pytest.raises(FeedbackValidationError):
        FeedbackInput.from_mapping(["not", "an", "object"])
    with pytest.raises(FeedbackValidationError) as caught:
        FeedbackInput.from_mapping({"kind": "spot_check", "scores": [1, 2]})
    assert caught.value.fields() == ["scores"]


def test_from_mapping_then_submit(session: Session, world):
    scores = {code: str(v) for code, v in full_scores(session, SPOT, 9).items()}
    data = FeedbackInput.from_mapping(
        {
            "kind": "spot_check",
            "section": "SE101-01",
            "date": "2026-10-15",
            "announced": "true",
            "scores": scores,
        }
    )
    fb = submit(session, world.supervisor, data)
    assert fb.overall_score == pytest.approx(90)
    assert count(session, FeedbackScore) == len(scores)
