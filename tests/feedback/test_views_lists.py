"""Lists of feedback: mine, in my scope (filters, pagination, bounded queries), on my classes;
the home page's entry points; CSRF on the forms."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlmodel import Session

from evalsys import create_app
from evalsys.db import get_engine
from evalsys.feedback.writes import submit_feedback, withdraw_feedback
from tests.factories import Factory
from tests.feedback.test_views_support import (
    SPOT,
    count,
    form_post,
    move_term_around_today,
    text,
    today,
)


@pytest.fixture
def web(world, session: Session, factory: Factory):
    move_term_around_today(session, world.term)
    factory.user("dean_cs", "dean@CS", name="计算机院长")
    factory.user("dean_math", "dean@MATH", name="数学院长")
    factory.user("head_ai", "head@CS-AI")
    return world


def store(session: Session, user, data, *, draft: bool = False):
    fb = submit_feedback(session, user=user, data=data, draft=draft)
    session.commit()
    return fb


def record_ids(page: str) -> list[int]:
    """The records a list links to, in order, each once."""
    seen: list[int] = []
    for found in re.findall(r'href="/feedback/(\d+)"', page):
        if int(found) not in seen:
            seen.append(int(found))
    return seen


@pytest.fixture
def records(web, session: Session, make_input):
    """A spot check and an open class on SE, a tutor-group report, a spot check on MATH,
    a draft and a withdrawn record (neither of which any list but the author's shows)."""
    day = today()
    spot = store(session, web.supervisor, make_input(date=day))
    low = store(
        session,
        web.leader,
        make_input("open_class", date=day, scores={c: 3 for c in make_input("open_class").scores}),
    )
    group = store(session, web.tutor, make_input("tutor_group", date=day))
    math = store(session, web.admin, make_input(section="MA101-01", date=day, present=20))
    draft = store(session, web.supervisor, make_input(date=day), draft=True)
    gone = store(session, web.supervisor, make_input(date=day))
    withdraw_feedback(session, user=web.supervisor, feedback=gone)
    session.commit()
    return {"spot": spot, "low": low, "group": group, "math": math, "draft": draft, "gone": gone}


# --- the reviewers' list ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("dean_cs", {"spot", "low", "group"}),
        ("dean_math", {"math"}),
        ("admin", {"spot", "low", "group", "math"}),
        ("leader", {"spot", "low", "group"}),
        ("head_ai", set()),
    ],
)
def test_list_is_scoped(client, auth, records, username, expected):
    auth.login(username)
    page = text(client.get("/feedback/"))
    assert set(record_ids(page)) == {records[k].id for k in expected}
    assert re.search(rf"\b{len(expected)} submitted records? found", page)


@pytest.mark.parametrize("username", ["sup", "tutor", "teacher"])
def test_list_refused_without_view_feedback(client, auth, records, username):
    auth.login(username)
    assert client.get("/feedback/").status_code == 403


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=open_class", {"low"}),
        ("kind=tutor_group", {"group"}),
        ("teacher=mteach", {"math"}),  # part of a username
        ("teacher=TEACHER", {"spot", "low", "math"}),  # any case: Teacher, Mteacher
        ("teacher=nobody", set()),
        ("score_min=70", {"spot", "group", "math"}),
        ("score_max=50", {"low"}),
        ("score_min=70&score_max=78", {"group"}),
        ("unit=CS-SE", {"spot", "low", "group"}),
        ("unit=CS-AI", set()),
        ("unit=MATH-PURE", {"math"}),
        ("term=2026-2027-1", {"spot", "low", "group", "math"}),
        ("term=NOPE", {"spot", "low", "group", "math"}),  # an unknown term filters nothing
        ("score_min=abc", {"spot", "low", "group", "math"}),
    ],
)
def test_list_filters(client, auth, records, query, expected):
    auth.login("admin")
    page = text(client.get(f"/feedback/?{query}"))
    assert set(record_ids(page)) == {records[k].id for k in expected}


def test_a_dean_cannot_filter_into_another_college(client, auth, records):
    auth.login("dean_cs")
    page = text(client.get("/feedback/?unit=MATH-PURE"))
    assert records["math"].id not in record_ids(page)
    assert "数学分析" not in page and "MA101-01" not in page


def test_bad_score_filter_is_marked(client, auth, records):
    auth.login("admin")
    page = text(client.get("/feedback/?score_min=abc"))
    assert "Enter a number from 0 to 100, or leave it empty." in page
    assert 'aria-invalid="true"' in page


def test_list_pagination_keeps_filters(client, auth, web, session, make_input):
    data = make_input(date=today())
    for n in range(30):
        store(session, web.supervisor, replace(data, comment=f"#{n}"))
    auth.login("dean_cs")
    first = text(client.get("/feedback/?kind=spot_check"))
    assert len(record_ids(first)) == 25 and "Page 1 of 2" in first
    assert 'href="/feedback/?page=2&amp;kind=spot_check"' in client.get(
        "/feedback/?kind=spot_check"
    ).get_data(as_text=True)
    second = text(client.get("/feedback/?kind=spot_check&page=2"))
    assert len(record_ids(second)) == 5 and "Page 2 of 2" in second
    assert not set(record_ids(first)) & set(record_ids(second))
    last = text(client.get("/feedback/?kind=spot_check&page=99"))  # past the end: the last page
    assert record_ids(last) == record_ids(second)


def test_queries_per_page_do_not_grow(
    app, client, auth, web, session, make_input, factory, queries
):
    """5 records or 40, with several teachers and observers: the same number of queries."""
    data = make_input(date=today())
    tutor_data = make_input("tutor_group", date=today())

    def add(n: int) -> None:
        for i in range(n):
            store(session, web.supervisor if i % 2 else web.admin, data)
            store(session, web.tutor, tutor_data)

    add(3)
    auth.login("admin")
    urls = ["/feedback/", "/feedback/?kind=spot_check&score_min=10", "/feedback/mine"]
    small = [queries.page(client, url) for url in urls]
    add(20)
    assert [queries.page(client, url) for url in urls] == small
    client.post("/logout")
    auth.login("teacher")
    small_teaching = queries.page(client, "/feedback/teaching")
    add(20)
    assert queries.page(client, "/feedback/teaching") == small_teaching


# --- my records, feedback on my classes -------------------------------------------------


def test_my_records(client, auth, records, session):
    auth.login("sup")
    page = text(client.get("/feedback/mine"))
    ids = record_ids(page)
    mine = {records[k].id for k in ("spot", "draft", "gone")}
    assert set(ids) == mine and ids[0] == records["draft"].id  # drafts first
    assert ">Draft<" in page and ">Withdrawn<" in page and "80.0" in page
    assert "New spot check" in page


def test_my_records_paginated(client, auth, web, session, make_input):
    for _ in range(27):
        store(session, web.supervisor, make_input(date=today()))
    auth.login("sup")
    assert len(record_ids(text(client.get("/feedback/mine")))) == 25
    assert len(record_ids(text(client.get("/feedback/mine?page=2")))) == 2


def test_feedback_on_my_classes(client, auth, records):
    auth.login("teacher")
    page = text(client.get("/feedback/teaching"))
    assert set(record_ids(page)) == {records["spot"].id, records["low"].id}
    assert "Sup" not in page and "Leader" not in page
    client.post("/logout")
    auth.login("mteacher")
    page = text(client.get("/feedback/teaching"))
    assert set(record_ids(page)) == {records["math"].id}
    assert client.get(f"/feedback/{records['spot'].id}").status_code == 403


# --- home page --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "present", "absent"),
    [
        ("sup", ["New spot check", "My records"], ["Feedback in my", "New open class"]),
        ("leader", ["New open class", "Feedback in my college"], ["New spot check"]),
        ("tutor", ["New tutor-group report", "My records"], ["Feedback in my"]),
        ("teacher", ["Feedback on my classes"], ["My records", "New spot check"]),
        ("dean_cs", ["Feedback in my college"], ["New spot check", "Feedback on my classes"]),
        ("head_ai", ["Feedback in my department"], ["My records"]),
        ("admin", ["New spot check", "New open class", "Feedback in the school"], []),
    ],
)
def test_home_links_each_role_to_its_pages(client, auth, web, username, present, absent):
    auth.login(username)
    page = text(client.get("/"))
    for words in present:
        assert words in page, words
    for words in absent:
        assert words not in page, words


def test_home_links_work(client, auth, web):
    auth.login("admin")
    page = client.get("/").get_data(as_text=True)
    links = set(re.findall(r'href="(/feedback[^"]*)"', page))
    assert {"/feedback/new/spot_check", "/feedback/mine", "/feedback/"} <= links
    for link in links:
        assert client.get(link).status_code == 200, link


# --- CSRF on ----------------------------------------------------------------------------


def test_csrf_is_enforced_on_the_forms(database_url, tmp_path, world, session: Session):
    move_term_around_today(session, world.term)
    app = create_app(
        {
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
            "SECRET_KEY": "csrf-test",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "csrf"),
        }
    )
    client = app.test_client()

    def token(page: str) -> str:
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert match, "no CSRF token in the page"
        return match.group(1)

    login = client.get("/login").get_data(as_text=True)
    client.post(
        "/login",
        data={"username": "sup", "password": Factory.PASSWORD, "csrf_token": token(login)},
    )
    form = client.get("/feedback/new/spot_check").get_data(as_text=True)
    data = form_post(session, SPOT)
    refused = client.post("/feedback/new/spot_check", data=data)
    assert refused.status_code == 400 and b"security token" in refused.data
    assert count(session) == 0
    accepted = client.post("/feedback/new/spot_check", data=data | {"csrf_token": token(form)})
    assert accepted.status_code == 303 and count(session) == 1
    fb_id = accepted.headers["Location"].rsplit("/", 1)[1]
    assert client.post(f"/feedback/{fb_id}/withdraw", data={}).status_code == 400
    get_engine(app).dispose()
