"""The access helpers: grants cover subtrees, never siblings or parents; one lookup per kind
of object (a unit, a feedback record) decides 404 and 403 for every view; one SQL rule says
who reads a feedback record, for lists and single records alike."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from evalsys.accounts.access import (
    FeedbackPerm,
    Perm,
    api_feedback_or_404,
    feedback_lookup,
    feedback_or_404,
    feedback_visible_to,
    may,
    scope_ids,
    top_units,
)
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback
from evalsys.feedback.reads import feedback_by_observer, feedback_in_scope, feedback_on_teacher
from evalsys.feedback.vocab import FeedbackKind
from evalsys.feedback.writes import submit_feedback, withdraw_feedback
from evalsys.org.models import OrgUnit


@pytest.fixture
def units(factory):
    return factory.university()


def _ids(session, codes):
    return {u.code: u.id for u in session.exec(select(OrgUnit)) if u.code in codes}


def test_dean_of_one_college_sees_its_subtree_only(session, factory, units):
    dean = factory.user("dean", "dean@CS")
    ids = {u.code: u.id for u in session.exec(select(OrgUnit))}
    allowed = {code for code, uid in ids.items() if may(session, dean, Perm.VIEW_UNIT, uid)}
    assert allowed == {"CS", "CS-SE", "CS-AI"}
    scope = set(session.exec(scope_ids(dean, Perm.VIEW_UNIT)))
    assert scope == {ids["CS"], ids["CS-SE"], ids["CS-AI"]}


def test_role_decides_permission(session, factory, units):
    sup = factory.user("sup", "supervisor@MATH")
    math_pure = units["MATH-PURE"].id
    assert may(session, sup, Perm.SUBMIT_SPOT_CHECK, math_pure)
    assert not may(session, sup, Perm.SUBMIT_OPEN_CLASS, math_pure)
    assert not may(session, sup, Perm.VIEW_FEEDBACK, math_pure)
    assert not may(session, sup, Perm.SUBMIT_SPOT_CHECK, units["CS-SE"].id)


def test_admin_on_school_may_everything_everywhere(session, factory, units):
    admin = factory.user("admin", "admin@U")
    for unit in units.values():
        for perm in Perm:
            assert may(session, admin, perm, unit.id)


def test_inactive_user_may_nothing(session, factory, units):
    admin = factory.user("admin", "admin@U")
    admin.active = False
    assert not may(session, admin, Perm.VIEW_UNIT, units["U"].id)


def test_head_of_department_not_the_sibling(session, factory, units):
    head = factory.user("head", "head@CS-SE")
    assert may(session, head, Perm.VIEW_FEEDBACK, units["CS-SE"].id)
    assert not may(session, head, Perm.VIEW_FEEDBACK, units["CS-AI"].id)
    assert not may(session, head, Perm.VIEW_FEEDBACK, units["CS"].id)


def test_top_units_drop_covered_grants(session, factory, units):
    user = factory.user("multi", "dean@CS", "head@CS-SE", "head@MATH-PURE")
    assert [u.code for u in top_units(session, user, Perm.VIEW_FEEDBACK)] == ["CS", "MATH-PURE"]


def test_moving_a_department_moves_its_scope(session, factory, units):
    from evalsys.org.hierarchy import rebuild_closure

    dean = factory.user("dean", "dean@CS")
    dept = units["MATH-PURE"]
    assert not may(session, dean, Perm.VIEW_UNIT, dept.id)
    dept.parent_id = units["CS"].id
    session.add(dept)
    rebuild_closure(session)
    session.commit()
    assert may(session, dean, Perm.VIEW_UNIT, dept.id)


@pytest.mark.parametrize("perm", list(Perm))
def test_dean_of_cs_never_reaches_math(session, factory, units, perm):
    dean = factory.user("dean", "dean@CS", "head@CS-SE", "supervisor@CS", "leader@CS")
    for code in ("U", "MATH", "MATH-PURE"):
        assert not may(session, dean, perm, units[code].id), (perm, code)


# --- one object, one rule: the lookups every view uses --------------------------------------


@pytest.fixture
def people(session, factory, units):
    """One user per standing towards CS-SE: inside, above, beside and outside it."""
    return {
        "root": factory.user("root", "admin@U"),
        "dean": factory.user("dean", "dean@CS"),
        "head": factory.user("head", "head@CS-SE"),
        "ai_head": factory.user("ai_head", "head@CS-AI"),
        "leader": factory.user("leader", "leader@CS"),
        "sup": factory.user("sup", "supervisor@CS"),
        "msup": factory.user("msup", "supervisor@MATH"),
        "teacher": factory.user("teacher", "teacher@CS-SE"),
        "ai_teacher": factory.user("ai_teacher", "teacher@CS-AI"),
        "mteacher": factory.user("mteacher", "teacher@MATH-PURE"),
        "tutor": factory.user("tutor", "tutor@CS-SE"),
        # A head of CS-SE who also teaches there: both standings at once.
        "head_teacher": factory.user("head_teacher", "head@CS-SE", "teacher@CS-SE"),
        "stranger": factory.user("stranger"),
    }


@pytest.mark.parametrize(
    ("who", "code", "perm", "outcome"),
    [
        ("head", "CS-SE", Perm.VIEW_FEEDBACK, "unit"),  # inside the scope
        ("dean", "CS-SE", Perm.VIEW_REPORTS, "unit"),  # below the grant
        ("head", "CS-AI", Perm.VIEW_FEEDBACK, 403),  # a sibling
        ("head", "CS", Perm.VIEW_UNIT, 403),  # the parent
        ("sup", "CS-SE", Perm.VIEW_FEEDBACK, 403),  # inside, but not this permission
        ("dean", "MATH-PURE", Perm.VIEW_UNIT, 403),  # another college
        ("dean", "NO-SUCH-UNIT", Perm.VIEW_UNIT, 404),  # unknown code
        ("root", "NO-SUCH-UNIT", Perm.VIEW_UNIT, 404),  # unknown even to the school admin
        # Any of several permissions (the loop's pages: VIEW_REPORTS or MANAGE_LOOP).
        ("leader", "CS-SE", (Perm.MANAGE_LOOP, Perm.VIEW_REPORTS), "unit"),
        ("sup", "CS-SE", (Perm.MANAGE_LOOP, Perm.VIEW_REPORTS), 403),
    ],
)
def test_unit_or_404(app, session, people, who, code, perm, outcome):
    from werkzeug.exceptions import Forbidden, NotFound

    from evalsys.accounts.access import unit_or_404

    if outcome == "unit":
        assert unit_or_404(session, code, people[who], perm).code == code
    else:
        with pytest.raises(NotFound if outcome == 404 else Forbidden):
            unit_or_404(session, code, people[who], perm)


def test_may_with_several_perms_is_any_of_them(session, people, units):
    leader, sup, head = people["leader"], people["sup"], people["head"]
    cs_se = units["CS-SE"].id
    both = (Perm.MANAGE_LOOP, Perm.VIEW_REPORTS)
    assert not may(session, leader, Perm.MANAGE_LOOP, cs_se)
    assert may(session, leader, both, cs_se)  # by VIEW_REPORTS alone
    assert may(session, head, both, cs_se)
    assert not may(session, sup, both, cs_se)
    assert not may(session, head, both, units["CS-AI"].id)
    in_scope = set(session.exec(scope_ids(leader, both)))
    assert in_scope == set(session.exec(scope_ids(leader, Perm.VIEW_REPORTS)))


def test_api_require_answers_the_apis_json_403(app, session, people, units):
    from werkzeug.exceptions import HTTPException

    from evalsys.accounts.access import api_require

    with app.test_request_context():
        api_require(session, people["dean"], Perm.VIEW_REPORTS, units["CS-SE"].id, "unused")
        with pytest.raises(HTTPException) as refused:
            api_require(session, people["dean"], Perm.VIEW_UNIT, units["MATH"].id, "not yours")
    response = refused.value.get_response()
    assert response.status_code == 403
    assert response.get_json() == {"error": "not yours", "status": 403}


VISIT = date(2026, 10, 15)
NOW = datetime(2026, 10, 15, 10, 0, tzinfo=UTC)


def _record(
    session, user, kind: str, target: str, *, draft=False, withdrawn=False, discarded=False
):
    """A record stored through the service, as the forms and the API store them."""
    rubric = rubrics.current_rubric(session, kind)
    scores = {i.code: i.scale_max for i in rubrics.rubric_items(session, rubric.id)}
    if kind == FeedbackKind.TUTOR_GROUP:
        given = {"group": target, "meeting_format": "student_discussion", "attending": 8}
        data = FeedbackInput(kind=kind, date=VISIT, scores=scores, topics="选课", **given)
    else:
        given = {"section": target, "enrolled": 40, "present": 36, "late": 2}
        data = FeedbackInput(kind=kind, date=VISIT, scores=scores, announced=False, **given)
    record = submit_feedback(
        session, user=user, data=data, draft=draft or discarded, now=NOW, today=VISIT
    )
    if withdrawn or discarded:  # a draft withdrawn is what "discard draft" does
        withdraw_feedback(session, user=user, feedback=record, now=NOW)
    session.commit()
    return record


@pytest.fixture
def records(session, factory, units, people):
    """Records of every status, on sections in CS-SE, CS-AI and MATH-PURE and a tutor group."""
    term = factory.term()
    se = factory.course("SE101", units["CS-SE"])
    ai = factory.course("AI101", units["CS-AI"])
    ma = factory.course("MA101", units["MATH-PURE"])
    factory.section("SE101-01", se, term, teacher=people["teacher"])
    factory.section("SE101-02", se, term, teacher=people["head_teacher"])
    factory.section("AI101-01", ai, term, teacher=people["ai_teacher"])
    factory.section("MA101-01", ma, term, teacher=people["mteacher"])
    factory.group("G-SE-1", units["CS-SE"], term, tutor=people["tutor"])
    rubrics.ensure_default_rubrics(session)
    session.commit()
    sup, msup, tutor = people["sup"], people["msup"], people["tutor"]
    spot = FeedbackKind.SPOT_CHECK
    return {
        "se": _record(session, sup, spot, "SE101-01"),
        "se_draft": _record(session, sup, spot, "SE101-01", draft=True),
        "se_withdrawn": _record(session, sup, spot, "SE101-01", withdrawn=True),
        "se_discarded": _record(session, sup, spot, "SE101-01", discarded=True),
        "se_2": _record(session, sup, spot, "SE101-02"),
        "ai": _record(session, sup, spot, "AI101-01"),
        "math": _record(session, msup, spot, "MA101-01"),
        "math_draft": _record(session, msup, spot, "MA101-01", draft=True),
        "group": _record(session, tutor, FeedbackKind.TUTOR_GROUP, "G-SE-1"),
        "group_draft": _record(session, tutor, FeedbackKind.TUTOR_GROUP, "G-SE-1", draft=True),
    }


def _sees(session, user, record) -> bool:
    found = feedback_lookup(session, record.id, user)
    assert found is not None
    return found[1].can_view


@pytest.mark.parametrize(
    ("who", "record", "sees"),
    [
        ("sup", "se", True),  # its observer
        ("sup", "se_draft", True),  # a draft: its author's
        ("sup", "se_withdrawn", True),
        ("teacher", "se", True),  # the teacher of its section
        ("teacher", "se_draft", False),  # ... not while it is a draft
        ("teacher", "se_withdrawn", False),  # ... nor once withdrawn
        ("head", "se", True),  # the head of its department
        ("dean", "se", True),  # a head above: the dean of its college
        ("leader", "se", True),
        ("root", "se", True),  # the school admin
        ("head", "se_withdrawn", True),  # reviewers keep withdrawn records
        ("head", "se_draft", False),  # ... but never drafts
        ("root", "se_draft", False),  # not even the school admin
        # A draft discarded unsent is stored as withdrawn, and stays its author's alone.
        ("sup", "se_discarded", True),
        ("head", "se_discarded", False),
        ("dean", "se_discarded", False),
        ("root", "se_discarded", False),
        ("teacher", "se_discarded", False),
        ("teacher", "se_2", False),  # a teacher of another section of the course
        ("ai_teacher", "se", False),  # a teacher of another department
        ("ai_head", "se", False),  # the head of the sibling department
        ("dean", "math", False),  # the dean of another college
        ("msup", "se", False),  # another college's supervisor
        ("sup", "math", False),
        ("tutor", "se", False),
        ("tutor", "group", True),  # a tutor-group report: its author's ...
        ("tutor", "group_draft", True),
        ("head", "group", True),  # ... and its department's reviewers
        ("head", "group_draft", False),
        ("teacher", "group", False),  # no section, so no teacher sees it as theirs
        ("head_teacher", "se_2", True),
        ("stranger", "se", False),
    ],
)
def test_who_sees_a_feedback_record(session, people, records, who, record, sees):
    assert _sees(session, people[who], records[record]) is sees


def test_an_inactive_user_sees_no_record(session, people, records):
    sup = people["sup"]
    sup.active = False
    assert not any(_sees(session, sup, r) for r in records.values())
    assert session.exec(select(Feedback.id).where(feedback_visible_to(sup))).all() == []


def test_feedback_access_parts(session, people, records):
    """The parts the record page uses beside can_view: author, reviewer, teacher."""
    _, access = feedback_lookup(session, records["se_2"].id, people["head_teacher"])
    assert (access.author, access.reviewer, access.teacher) == (False, True, True)
    _, access = feedback_lookup(session, records["se"].id, people["sup"])
    assert (access.author, access.reviewer, access.teacher) == (True, False, False)
    assert feedback_lookup(session, 999_999, people["root"]) is None
    assert feedback_lookup(session, 2**31, people["root"]) is None  # beyond any id column


@pytest.mark.parametrize(
    ("who", "record", "perm", "outcome"),
    [
        ("teacher", "se", FeedbackPerm.VIEW, "record"),
        ("head", "se", FeedbackPerm.VIEW, "record"),
        ("teacher", "se_2", FeedbackPerm.VIEW, 403),  # another's section: it exists
        ("dean", "math", FeedbackPerm.VIEW, 403),  # out of scope: it exists
        ("teacher", "se_withdrawn", FeedbackPerm.VIEW, 403),
        ("head", "se_draft", FeedbackPerm.VIEW, 404),  # another's draft does not exist
        ("root", "se_draft", FeedbackPerm.VIEW, 404),
        ("head", "se_discarded", FeedbackPerm.VIEW, 404),  # it never existed for them
        ("root", "se_discarded", FeedbackPerm.VIEW, 404),
        ("sup", "se_discarded", FeedbackPerm.VIEW, "record"),
        ("sup", "se_draft", FeedbackPerm.CHANGE, "record"),
        ("sup", "se_withdrawn", FeedbackPerm.CHANGE, "record"),  # the window is the service's
        ("head", "se", FeedbackPerm.CHANGE, 403),  # a reviewer reads, never changes
        ("teacher", "se", FeedbackPerm.CHANGE, 403),
        ("head", "se_draft", FeedbackPerm.CHANGE, 404),
        ("head", "se", None, "record"),  # None: only the 404s, the service decides the rest
        ("stranger", "se", None, "record"),
        ("stranger", "se_draft", None, 404),
        ("root", "missing", FeedbackPerm.VIEW, 404),
    ],
)
def test_feedback_or_404(app, session, people, records, who, record, perm, outcome):
    from werkzeug.exceptions import Forbidden, NotFound

    feedback_id = records[record].id if record != "missing" else 999_999
    if outcome == "record":
        feedback, access = feedback_or_404(session, feedback_id, people[who], perm)
        assert feedback.id == feedback_id
        assert access.allows(perm) if perm is not None else not access.hidden
    else:
        with pytest.raises(NotFound if outcome == 404 else Forbidden):
            feedback_or_404(session, feedback_id, people[who], perm)


@pytest.mark.parametrize(
    ("who", "record"),
    [
        ("teacher", "se_2"),  # forbidden on the web: hidden by the API
        ("dean", "math"),
        ("head", "se_draft"),
        ("teacher", "se_withdrawn"),
        ("root", "missing"),
        ("root", "beyond"),
    ],
)
def test_api_feedback_or_404_answers_404_for_all_it_refuses(
    app, session, people, records, who, record
):
    from werkzeug.exceptions import HTTPException

    feedback_id = {"missing": 999_999, "beyond": 2**31}.get(record) or records[record].id
    with app.test_request_context(), pytest.raises(HTTPException) as refused:
        api_feedback_or_404(session, feedback_id, people[who])
    response = refused.value.get_response()
    assert response.status_code == 404
    assert response.get_json() == {
        "error": f"no feedback record {feedback_id} that you may see",
        "status": 404,
    }


def test_api_feedback_or_404_lets_readers_through(app, session, people, records):
    with app.test_request_context():
        feedback, _ = api_feedback_or_404(session, records["se"].id, people["teacher"])
    assert feedback.id == records["se"].id


def test_record_check_and_list_predicate_agree(session, people, records):
    """Every user × every record: the one-record check says yes exactly when the list has
    it — the SQL the API lists with, and the API's page query too."""
    from evalsys.api.records import observer_hidden_from, page_of_records

    disagreements = []
    for name, user in people.items():
        listed = set(session.exec(select(Feedback.id).where(feedback_visible_to(user))))
        rows, total = page_of_records(
            session,
            [feedback_visible_to(user)],
            page=1,
            per_page=100,
            hidden=observer_hidden_from(user, shown_to_teacher=False),
        )
        assert {row["id"] for row in rows} == listed and total == len(listed), name
        for label, record in records.items():
            if _sees(session, user, record) != (record.id in listed):
                disagreements.append(f"{name} × {label}")
    assert not disagreements, disagreements
    # The world is not trivial: some see much, some little, some nothing.
    counts = {
        name: len(session.exec(select(Feedback.id).where(feedback_visible_to(u))).all())
        for name, u in people.items()
    }
    assert counts["stranger"] == 0 and counts["teacher"] == 1
    assert 0 < counts["head"] < counts["root"] < len(records)


def test_web_lists_show_only_what_the_record_page_shows(session, people, records):
    """My records, feedback on my classes and feedback in my units are parts of the rule."""
    for name, user in people.items():
        for page in (
            feedback_by_observer(session, user=user, per_page=100),
            feedback_on_teacher(session, user=user, per_page=100),
            feedback_in_scope(session, user=user, per_page=100),
        ):
            for row in page.items:
                record = session.get(Feedback, row.id)
                assert _sees(session, user, record), f"{name} lists {row.id}"
