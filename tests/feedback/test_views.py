"""The feedback forms: who gets which, storing, every refusal shown in place, drafts, edits."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from evalsys.clock import utcnow
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback, FeedbackRevision, Rubric, TeacherResponse
from evalsys.feedback.reads import feedback_scores, revisions
from evalsys.feedback.vocab import FeedbackKind
from evalsys.feedback.writes import submit_feedback
from evalsys.org.models import Course
from tests.feedback.test_views_support import (
    OPEN,
    SPOT,
    TUTOR,
    chosen,
    count,
    error_next_to,
    form_post,
    fresh,
    input_tag,
    items,
    only_record,
    text,
    today,
)


def post_new(client, kind: str, data: dict):
    return client.post(f"/feedback/new/{kind}", data=data)


# --- who gets which form ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "kind", "status"),
    [
        ("sup", SPOT, 200),
        ("sup", OPEN, 403),
        ("sup", TUTOR, 403),
        ("leader", OPEN, 200),
        ("leader", SPOT, 403),
        ("tutor", TUTOR, 200),
        ("tutor", SPOT, 403),
        ("teacher", SPOT, 403),
        ("teacher", OPEN, 403),
        ("teacher", TUTOR, 403),
        ("admin", SPOT, 200),
        ("admin", OPEN, 200),
        ("admin", TUTOR, 200),
        ("sup", "lecture", 404),
    ],
)
def test_each_form_for_its_roles(client, auth, web, username, kind, status):
    auth.login(username)
    assert client.get(f"/feedback/new/{kind}").status_code == status
    if status == 403:  # and a post is refused the same way, storing nothing
        assert client.post(f"/feedback/new/{kind}", data={"send": "y"}).status_code == 403


def test_anonymous_is_sent_to_login(client, web):
    response = client.get("/feedback/new/spot_check")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_choose_offers_only_usable_forms(client, auth, web):
    auth.login("admin")
    page = text(client.get("/feedback/new"))
    for kind in (SPOT, OPEN, TUTOR):
        assert f'href="/feedback/new/{kind}"' in page
    client.post("/logout")
    auth.login("sup")  # one kind only: straight to it
    response = client.get("/feedback/new")
    assert response.status_code == 302 and response.headers["Location"].endswith("/spot_check")
    client.post("/logout")
    auth.login("teacher")
    assert client.get("/feedback/new").status_code == 403


def test_spot_form_shows_the_rubric_and_the_sections_in_scope(client, auth, session, web):
    auth.login("sup")
    page = text(client.get("/feedback/new/spot_check"))
    for item in items(session, SPOT):
        # in English: the English label and criteria where the rubric has them
        assert item.label_en in page and item.description_en in page
        # a row of buttons 0..10, one per step of the scale
        for step in (0, 5, 10):
            assert f'id="scores-{item.code}-{step}"' in page
        assert f'name="scores-{item.code}"' in page
    assert "0–10 points · weight 12" in page  # the scale and the weight are shown
    assert '<option value="SE101-01 — 软件工程导论 — Teacher">' in page
    assert "MA101-01" not in page  # outside the supervisor's scope
    assert re.search(r'name="idempotency_key"[^>]*value="[0-9a-f]{32}"', page)
    assert f'value="{today().isoformat()}"' in page
    assert 'name="save_draft"' in page and 'name="send"' in page


def test_tutor_form_offers_only_own_groups(client, auth, web):
    auth.login("tutor")
    page = text(client.get("/feedback/new/tutor_group"))
    assert '<option selected value="G-SE-1">' in page  # the one group, chosen already
    assert "G-SE-2" not in page
    assert "Problems raised by students" in page
    assert "Suggested adjustments to the training plan" in page


def test_own_section_is_never_offered(client, auth, factory, session, web):
    both = factory.user("both", "supervisor@CS", "teacher@CS-SE")
    course = session.get(Course, web.se.course_id)
    factory.section("SE101-02", course, web.term, teacher=both)
    auth.login("both")
    page = text(client.get("/feedback/new/spot_check"))
    assert "SE101-01 — " in page and "SE101-02" not in page
    response = post_new(client, SPOT, form_post(session, SPOT, section="SE101-02"))
    assert response.status_code == 403 and count(session) == 0
    assert "your own section" in error_next_to(text(response), "section")


# --- storing ----------------------------------------------------------------------------


def test_spot_check_is_stored_exactly(client, auth, session, web):
    auth.login("sup")
    data = form_post(session, SPOT, **{"scores-content_focus": "5", "scores-method_media": ""})
    response = post_new(client, SPOT, data)
    assert response.status_code == 303
    fb = only_record(session)
    assert response.headers["Location"].endswith(f"/feedback/{fb.id}")
    assert (fb.kind, fb.status, fb.observer_id) == (SPOT, "submitted", web.supervisor.id)
    assert (fb.section_id, fb.group_id, fb.term_id) == (web.se.id, None, web.term.id)
    assert fb.visit_date == today()
    assert (fb.class_period, fb.location, fb.announced) == ("3-4节", "教一-201", False)
    assert (fb.enrolled, fb.present, fb.late) == (40, 36, 2)
    assert (fb.overall_grade, fb.strengths, fb.problems, fb.suggestions) == (
        "good",
        "讲解清楚",
        "互动偏少",
        "增加提问",
    )
    expected = {i.code: 8.0 for i in items(session, SPOT) if i.code != "method_media"}
    expected["content_focus"] = 5.0
    assert feedback_scores(session, fb.id) == expected
    # weights: 92 answered (method_media, 8, left out); 80 at 0.8 and 12 at 0.5
    assert fb.overall_score == pytest.approx((80 * 0.8 + 12 * 0.5) / 92 * 100)
    assert [r.action for r in revisions(session, fb.id)] == ["create"]


def test_open_class_and_tutor_group_are_stored(client, auth, session, web):
    auth.login("leader")
    assert post_new(client, OPEN, form_post(session, OPEN)).status_code == 303
    fb = only_record(session)
    assert (fb.kind, fb.observer_level, fb.comment, fb.section_id) == (
        OPEN,
        "college_leader",
        "示范性强",
        web.se.id,
    )
    assert fb.overall_score == pytest.approx(80.0)
    client.post("/logout")
    auth.login("tutor")
    assert post_new(client, TUTOR, form_post(session, TUTOR)).status_code == 303
    session.commit()
    fb = session.exec(select(Feedback).where(Feedback.kind == TUTOR)).one()
    assert (fb.group_id, fb.meeting_format, fb.attending) == (
        web.group.id,
        "student_discussion",
        8,
    )
    assert (fb.topics, fb.problems, fb.suggestions) == (
        "选课与实习安排",
        "实习单位少",
        "增加校企合作",
    )
    assert fb.overall_score == pytest.approx(75.0)  # every item 4 on 1..5


def test_record_page_after_submit(client, auth, session, web):
    auth.login("sup")
    response = post_new(client, SPOT, form_post(session, SPOT))
    page = text(client.get(response.headers["Location"]))
    assert "Spot check submitted" in page and "edit or withdraw it until" in page
    assert "SE101-01" in page and "软件工程导论" in page and "80.0" in page
    assert "互动偏少" in page and "督导甲" in page


# --- bad input: the message at the field, the typed values kept -------------------------

BAD = [
    # (field overrides, field id with the error, message, status)
    ({"scores-content_focus": "11"}, "scores-content_focus", "11 is outside the scale 0–10", 422),
    ({"scores-content_focus": "abc"}, "scores-content_focus", "must be a number", 422),
    ({"scores-content_focus": None}, "scores-content_focus", "required: 'Key points stressed", 422),
    ({"present": "41"}, "present", "41 present is more than the 40 enrolled", 422),
    ({"enrolled": "many"}, "enrolled", "must be a whole number", 422),
    ({"late": "-3"}, "late", "must be 0 or more", 422),
    (
        {"strengths": "长" * 4001},
        "strengths",
        "4001 characters is too long; the limit is 4000",
        422,
    ),
    ({"location": "x" * 201}, "location", "the limit is 200", 422),
    ({"announced": None}, "announced", "required: say whether the visit was announced", 422),
    ({"section": ""}, "section", "required: the code of the section", 422),
    # An unknown code is answered like one outside the scope: no code's existence leaks.
    ({"section": "NOPE-9"}, "section", "'NOPE-9' is outside your scope for spot checks", 403),
    ({"section": "MA101-01"}, "section", "outside your scope for spot checks", 403),
]


@pytest.mark.parametrize(("overrides", "field_id", "message", "status"), BAD)
def test_bad_input_is_shown_at_its_field(
    client, auth, session, web, overrides, field_id, message, status
):
    auth.login("sup")
    data = form_post(session, SPOT, **overrides)
    response = post_new(client, SPOT, data)
    assert response.status_code == status
    assert count(session) == 0
    page = text(response)
    assert message in error_next_to(page, field_id)
    # the summary at the top links to the field
    summary = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert message in summary and 'href="#' + field_id in summary
    # the field is marked and described by its error
    if field_id.startswith("scores-"):
        group = page.split(f'id="{field_id}-group"', 1)[1].split("</fieldset>", 1)[0]
        assert 'aria-invalid="true"' in group and f"{field_id}-error" in group
    elif field_id == "announced":
        tag = input_tag(page, "announced-0")
        assert 'aria-invalid="true"' in tag and 'aria-describedby="announced-error"' in tag
    else:
        tag = input_tag(page, field_id)
        assert 'aria-invalid="true"' in tag and f"{field_id}-error" in tag
    assert_kept(page, data)


def assert_kept(page: str, data: dict[str, str]) -> None:
    """Everything the user typed or chose is in the form again."""
    for name, value in data.items():
        if name in ("send", "save_draft") or value == "":
            continue
        if name.startswith("scores-") or name == "announced":
            assert chosen(page, name, value), name
        elif name in ("strengths", "problems", "suggestions", "comment", "topics"):
            assert f">\r\n{value}</textarea>" in page or f">{value}</textarea>" in page, name
        elif name == "overall_grade":
            assert f'<option selected value="{value}">' in page, name
        else:
            assert chosen(page, name, value), name


@pytest.mark.parametrize(
    ("shift", "message"),
    [(timedelta(days=1), "is in the future"), (timedelta(days=-91), "is outside the term")],
)
def test_date_in_future_or_outside_term(client, auth, session, web, shift, message):
    auth.login("sup")
    day = (today() + shift).isoformat()
    response = post_new(client, SPOT, form_post(session, SPOT, date=day))
    assert response.status_code == 422 and count(session) == 0
    page = text(response)
    assert message in error_next_to(page, "date")
    assert f'value="{day}"' in input_tag(page, "date")


def test_every_problem_at_once(client, auth, session, web):
    """An unreadable value does not hide the other problems: all are listed together."""
    auth.login("sup")
    data = form_post(session, SPOT, enrolled="x", present="50", date="")
    data["scores-content_focus"] = "12"
    page = text(post_new(client, SPOT, data))
    assert "must be a whole number" in error_next_to(page, "enrolled")
    assert "required: the date" in error_next_to(page, "date")
    assert "outside the scale" in error_next_to(page, "scores-content_focus")
    assert "problems to fix" in page


def test_tutor_cannot_report_on_another_group(client, auth, session, web):
    auth.login("tutor")
    data = form_post(session, TUTOR, group="G-SE-2")
    response = post_new(client, TUTOR, data)
    assert response.status_code == 403 and count(session) == 0
    page = text(response)
    assert "you are not the tutor of the group 'G-SE-2'" in error_next_to(page, "group")
    assert '<option selected value="G-SE-2">' in page  # what was sent stays chosen
    assert "选课与实习安排" in page


def test_tutor_group_present_is_refused(client, auth, session, web):
    """Missing required choices on the other kinds, shown in place."""
    auth.login("tutor")
    response = post_new(client, TUTOR, form_post(session, TUTOR, meeting_format=None))
    assert "required: the format of the meeting" in error_next_to(text(response), "meeting_format")
    client.post("/logout")
    auth.login("leader")
    response = post_new(client, OPEN, form_post(session, OPEN, observer_level="king"))
    assert "must be one of" in error_next_to(text(response), "observer_level")
    assert count(session) == 0


# --- double submission ------------------------------------------------------------------


def test_double_submit_stores_one_record(client, auth, session, web):
    auth.login("sup")
    data = form_post(session, SPOT, idempotency_key="5f0c3c1e9d8b4a7f8e6d5c4b3a291807")
    first = post_new(client, SPOT, data)
    second = post_new(client, SPOT, data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(session) == 1
    assert "saved already" in text(client.get(second.headers["Location"]))
    # a new form has a new key: a second visit is a second record
    post_new(client, SPOT, form_post(session, SPOT, idempotency_key="another-key"))
    assert count(session) == 2


# --- drafts -----------------------------------------------------------------------------


def test_draft_then_finish(client, auth, session, web):
    auth.login("sup")
    partial = {
        "section": "SE101-01",
        "date": today().isoformat(),
        "location": "教一-201",
        "scores-content_focus": "9",
        "idempotency_key": "draft-1",
        "save_draft": "y",
    }
    response = post_new(client, SPOT, partial)
    assert response.status_code == 303
    fb = only_record(session)
    assert (fb.status, fb.submitted_at, fb.location) == ("draft", None, "教一-201")
    assert feedback_scores(session, fb.id) == {"content_focus": 9.0}

    # listed first under My records, with a way to continue
    submitted = submit_feedback(
        session,
        user=web.supervisor,
        data=FeedbackInput(
            kind=SPOT,
            section="SE101-01",
            date=today(),
            announced=True,
            scores={i.code: 7 for i in items(session, SPOT)},
        ),
    )
    session.commit()
    mine = text(client.get("/feedback/mine"))
    assert mine.index(f"/feedback/{fb.id}") < mine.index(f"/feedback/{submitted.id}")
    assert f"/feedback/{fb.id}/edit" in mine and f"/feedback/{submitted.id}/edit" not in mine

    # the edit page starts from what was saved
    page = text(client.get(f"/feedback/{fb.id}/edit"))
    assert 'value="教一-201"' in page
    assert chosen(page, "scores-content_focus", "9")
    assert 'name="save_draft"' in page

    # submitting an incomplete draft is refused; it stays a draft
    response = client.post(
        f"/feedback/{fb.id}/edit", data=partial | {"save_draft": ""} | {"send": "y"}
    )
    assert response.status_code == 422
    assert only_record_status(session, fb.id) == "draft"

    full = form_post(session, SPOT)
    response = client.post(f"/feedback/{fb.id}/edit", data=full)
    assert response.status_code == 303
    assert only_record_status(session, fb.id) == "submitted"
    assert [r.action for r in revisions(session, fb.id)] == ["create", "submit"]


def only_record_status(session: Session, feedback_id: int) -> str:
    fresh(session)
    return session.get(Feedback, feedback_id).status


def test_drafts_are_their_authors_alone(client, auth, session, web):
    auth.login("sup")
    post_new(client, SPOT, form_post(session, SPOT, send=None, save_draft="y"))
    fb = only_record(session)
    for other in ("admin", "teacher", "leader"):
        client.post("/logout")
        auth.login(other)
        assert client.get(f"/feedback/{fb.id}").status_code == 404
        assert client.get(f"/feedback/{fb.id}/edit").status_code == 404


# --- edit window, withdraw ---------------------------------------------------------------


def submit_as_sup(client, auth, session) -> Feedback:
    auth.login("sup")
    assert post_new(client, SPOT, form_post(session, SPOT)).status_code == 303
    return only_record(session)


def test_edit_inside_the_window(client, auth, session, web):
    fb = submit_as_sup(client, auth, session)
    page = text(client.get(f"/feedback/{fb.id}/edit"))
    assert "You can change or withdraw this record until" in page
    assert 'name="save_draft"' not in page  # a submitted record stays submitted
    data = form_post(session, SPOT, present="38", **{"scores-content_focus": "10"})
    response = client.post(f"/feedback/{fb.id}/edit", data=data)
    assert response.status_code == 303
    fresh(session)
    stored = session.get(Feedback, fb.id)
    assert stored.present == 38 and stored.status == "submitted"
    assert feedback_scores(session, fb.id)["content_focus"] == 10.0
    edit = revisions(session, fb.id)[-1]
    assert edit.action == "edit" and edit.changes["present"] == [36, 38]
    record = text(client.get(f"/feedback/{fb.id}"))
    assert "<h2>History</h2>" in record and "Edited" in record
    assert "<td>36</td><td>38</td>" in record.replace("\n", "")


def test_edit_keeps_fields_the_form_does_not_show(client, auth, session, web, make_input):
    """A spot check sent through the API with a comment keeps it when edited in the form."""
    fb = submit_feedback(
        session, user=web.supervisor, data=make_input(comment="API 评语", date=today())
    )
    session.commit()
    auth.login("sup")
    response = client.post(f"/feedback/{fb.id}/edit", data=form_post(session, SPOT, present="30"))
    assert response.status_code == 303
    fresh(session)
    assert session.get(Feedback, fb.id).comment == "API 评语"


def test_edit_refused_after_the_window(client, auth, session, web):
    fb = submit_as_sup(client, auth, session)
    fb.submitted_at = utcnow() - timedelta(hours=73)
    session.add(fb)
    session.commit()
    response = client.get(f"/feedback/{fb.id}/edit")
    assert response.status_code == 303
    assert "edit window of this record closed" in text(client.get(response.headers["Location"]))
    response = client.post(f"/feedback/{fb.id}/edit", data=form_post(session, SPOT, present="30"))
    assert response.status_code == 303
    response = client.post(f"/feedback/{fb.id}/withdraw", data={"reason": "x"})
    assert "edit window closed" in text(client.get(response.headers["Location"]))
    fresh(session)
    stored = session.get(Feedback, fb.id)
    assert (stored.present, stored.status) == (36, "submitted")
    assert len(revisions(session, fb.id)) == 1
    assert f"/feedback/{fb.id}/edit" not in text(client.get(f"/feedback/{fb.id}"))


def test_edit_window_from_config(app, client, auth, session, web):
    app.config["FEEDBACK_EDIT_WINDOW_HOURS"] = 1
    fb = submit_as_sup(client, auth, session)
    assert client.get(f"/feedback/{fb.id}/edit").status_code == 200
    fb.submitted_at = utcnow() - timedelta(minutes=61)
    session.add(fb)
    session.commit()
    assert client.get(f"/feedback/{fb.id}/edit").status_code == 303


def test_edit_window_closing_mid_edit_keeps_the_typing(client, auth, session, web, monkeypatch):
    fb = submit_as_sup(client, auth, session)
    page_opened = client.get(f"/feedback/{fb.id}/edit")
    assert page_opened.status_code == 200
    from evalsys.feedback import views

    monkeypatch.setattr(views, "can_change", lambda *a: True)  # passed when the page opened
    fb.submitted_at = utcnow() - timedelta(hours=80)
    session.add(fb)
    session.commit()
    data = form_post(session, SPOT, strengths="写了很久的意见")
    response = client.post(f"/feedback/{fb.id}/edit", data=data)
    assert response.status_code == 409
    page = text(response)
    assert "edit window closed" in page and "写了很久的意见" in page


def test_only_the_author_may_edit(client, auth, session, web):
    fb = submit_as_sup(client, auth, session)
    client.post("/logout")
    auth.login("admin")
    assert client.get(f"/feedback/{fb.id}/edit").status_code == 403
    assert client.post(f"/feedback/{fb.id}/edit", data=form_post(session, SPOT)).status_code == 403
    assert client.post(f"/feedback/{fb.id}/withdraw", data={}).status_code == 403
    assert only_record(session).status == "submitted"


def test_withdraw(client, auth, session, web):
    fb = submit_as_sup(client, auth, session)
    assert "Withdraw this record" in text(client.get(f"/feedback/{fb.id}"))
    response = client.post(f"/feedback/{fb.id}/withdraw", data={"reason": "记错了课程"})
    assert response.status_code == 303
    fresh(session)
    assert session.get(Feedback, fb.id).status == "withdrawn"
    last = session.exec(
        select(FeedbackRevision)
        .where(FeedbackRevision.feedback_id == fb.id)
        .order_by(
            FeedbackRevision.id.desc()  # type: ignore[union-attr]
        )
    ).first()
    assert last.action == "withdraw" and last.changes["reason"] == [None, "记错了课程"]
    page = text(client.get(f"/feedback/{fb.id}"))
    assert "Record withdrawn" in page and "This record was withdrawn" in page
    assert "记错了课程" in page  # in the history
    client.post("/logout")
    auth.login("teacher")  # a withdrawn record is not the teacher's to read any more
    assert client.get(f"/feedback/{fb.id}").status_code == 403


def test_discard_a_draft(client, auth, session, web):
    auth.login("sup")
    post_new(client, SPOT, form_post(session, SPOT, send=None, save_draft="y"))
    fb = only_record(session)
    assert "Discard this draft" in text(client.get(f"/feedback/{fb.id}"))
    client.post(f"/feedback/{fb.id}/withdraw", data={})
    assert only_record(session).status == "withdrawn"


# --- the record page: who sees it, the observer, responses -------------------------------


def test_who_may_read_a_record(client, auth, factory, session, web):
    fb = submit_as_sup(client, auth, session)
    factory.user("dean_cs", "dean@CS")
    factory.user("dean_math", "dean@MATH")
    factory.user("head_ai", "head@CS-AI")
    expected = {
        "sup": 200,
        "admin": 200,
        "dean_cs": 200,
        "leader": 200,
        "teacher": 200,
        "dean_math": 403,
        "head_ai": 403,
        "mteacher": 403,
        "tutor": 403,
        "madmin": 403,
    }
    for username, status in expected.items():
        client.post("/logout")
        auth.login(username)
        assert client.get(f"/feedback/{fb.id}").status_code == status, username
    assert client.get("/feedback/99999").status_code == 404


def test_teacher_sees_no_observer_by_default(app, client, auth, session, web):
    fb = submit_as_sup(client, auth, session)
    client.post("/logout")
    auth.login("teacher")
    page = text(client.get(f"/feedback/{fb.id}"))
    assert "互动偏少" in page and "督导甲" not in page and "not shown" in page
    assert "<h2>History</h2>" not in page  # the history names the observer too
    listing = text(client.get("/feedback/teaching"))
    assert "SE101-01" in listing and "督导甲" not in listing
    app.config["FEEDBACK_SHOW_OBSERVER_TO_TEACHER"] = True
    assert "督导甲" in text(client.get(f"/feedback/{fb.id}"))
    assert "督导甲" in text(client.get("/feedback/teaching"))


def test_teacher_response(client, auth, session, web):
    fb = submit_as_sup(client, auth, session)
    client.post("/logout")
    auth.login("teacher")
    page = text(client.get(f"/feedback/{fb.id}"))
    assert f'action="/feedback/{fb.id}/respond"' in page
    response = client.post(f"/feedback/{fb.id}/respond", data={"text": "   "})
    assert response.status_code == 422
    assert "required" in error_next_to(text(response), "text")
    long = "回" * 4001
    response = client.post(f"/feedback/{fb.id}/respond", data={"text": long})
    assert response.status_code == 422 and long in text(response)
    response = client.post(f"/feedback/{fb.id}/respond", data={"text": " 已调整互动环节 "})
    assert response.status_code == 303
    session.commit()
    stored = session.exec(select(TeacherResponse)).all()
    assert [(r.text, r.teacher_id, r.feedback_id) for r in stored] == [
        ("已调整互动环节", web.teacher.id, fb.id)
    ]
    assert "已调整互动环节" in text(client.get("/feedback/teaching"))
    client.post("/logout")
    auth.login("sup")  # the author reads the response; only the teacher may write one
    page = text(client.get(f"/feedback/{fb.id}"))
    assert "已调整互动环节" in page and "/respond" not in page
    assert client.post(f"/feedback/{fb.id}/respond", data={"text": "x"}).status_code == 403


# --- finding a section ------------------------------------------------------------------


def test_section_search_then_prefilled_form(client, auth, session, web):
    auth.login("sup")
    page = text(client.get("/feedback/sections?kind=spot_check&q=软件"))
    assert "SE101-01" in page and "MA101-01" not in page
    assert "/feedback/new/spot_check?section=SE101-01" in page
    assert "SE101-01" not in text(client.get("/feedback/sections?kind=spot_check&q=数学"))
    form = text(client.get("/feedback/new/spot_check?section=SE101-01"))
    assert 'value="SE101-01"' in input_tag(form, "section")
    assert 'value="40"' in input_tag(form, "enrolled")
    assert client.get("/feedback/sections?kind=open_class").status_code == 403
    assert client.get("/feedback/sections?kind=tutor_group").status_code == 404


def test_no_published_rubric(client, auth, session, web):
    rubric = session.exec(select(Rubric).where(Rubric.kind == FeedbackKind.SPOT_CHECK)).one()
    rubric.status = "retired"
    session.add(rubric)
    session.commit()
    auth.login("sup")
    response = client.get("/feedback/new/spot_check")
    assert response.status_code == 503 and "no published spot check rubric" in text(response)
