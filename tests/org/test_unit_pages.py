"""Unit pages: the hierarchy for those in scope, 403 for the rest, a bounded number of queries."""

from __future__ import annotations

import re

import pytest
from flask_babel import gettext, ngettext
from sqlmodel import select

from evalsys.accounts.models import User
from evalsys.i18n import in_locale
from evalsys.org.models import Course
from tests.i18n.visible import data_words, foreign_words


@pytest.fixture
def uni(factory):
    units = factory.university()
    term = factory.term()
    teacher = factory.user("wang", "teacher@CS-SE", name="王老师")
    c1 = factory.course("CS-SE-101", units["CS-SE"], title="数据结构")
    c2 = factory.course("CS-SE-102", units["CS-SE"], title="<b>Operating</b> Systems")
    factory.section("CS-SE-101-01", c1, term, teacher, enrolled=42)
    factory.section("CS-SE-102-01", c2, term, None, enrolled=7)
    factory.course("CS-AI-201", units["CS-AI"], title="机器学习")
    factory.user("dean", "dean@CS", name="计算机院长")
    factory.user("dean_math", "dean@MATH")
    factory.user("admin", "admin@U")
    return units


def test_dean_sees_college_and_drills_down(client, auth, uni):
    auth.login("dean")
    page = client.get("/units/CS").get_data(as_text=True)
    assert "计算机学院" in page
    assert "软件工程系" in page and "人工智能系" in page
    assert 'href="/units/CS-SE"' in page
    assert "示范大学" in page  # the breadcrumb names the school
    assert 'href="/units/U"' not in page  # but does not link where the dean may not go
    dept = client.get("/units/CS-SE").get_data(as_text=True)
    assert "数据结构" in dept and "CS-SE-101-01" in dept and "王老师" in dept and "42" in dept


def test_course_counts_per_child(client, auth, uni):
    auth.login("admin")
    page = client.get("/units/U").get_data(as_text=True)
    page = page[page.index("<main") :]  # the header's menu links the user's units too
    # CS has 3 courses, MATH none.
    import re

    counts = dict(re.findall(r'href="/units/(\w+)".*?<td class="num">(\d+)</td>', page, re.S))
    assert counts == {"CS": "3", "MATH": "0"}


@pytest.mark.parametrize(
    ("user", "code", "status"),
    [
        ("dean", "CS", 200),
        ("dean", "CS-AI", 200),
        ("dean", "MATH", 403),
        ("dean", "MATH-PURE", 403),
        ("dean", "U", 403),
        ("dean_math", "CS-SE", 403),
        ("wang", "CS-SE", 200),
        ("wang", "CS-AI", 403),
        ("admin", "MATH-PURE", 200),
        ("admin", "NOPE", 404),
    ],
)
def test_scope(client, auth, uni, user, code, status):
    auth.login(user)
    assert client.get(f"/units/{code}").status_code == status


def test_user_text_is_escaped(client, auth, uni):
    auth.login("dean")
    page = client.get("/units/CS-SE").get_data(as_text=True)
    assert "&lt;b&gt;Operating&lt;/b&gt; Systems" in page
    assert "<b>Operating</b>" not in page


def test_queries_per_page_do_not_grow(app, client, auth, factory, uni, queries):
    """The department page runs the same number of queries for 2 courses as for 40."""
    auth.login("admin")

    def count(url: str) -> int:
        return queries.page(client, url)

    small_dept, small_school = count("/units/CS-SE"), count("/units/U")
    term = factory.term("2027-2028-1")
    teacher = factory.user("t2", "teacher@CS-SE")
    for i in range(40):
        course = factory.course(f"X-{i}", uni["CS-SE"])
        factory.section(f"X-{i}-01", course, term, teacher)
    assert count("/units/CS-SE") == small_dept
    assert count("/units/U") == small_school


def test_home_shows_each_role_its_tasks(client, auth, factory, uni):
    factory.user("many", "supervisor@CS", "tutor@CS-AI", name="Many Hats")
    auth.login("many")
    page = client.get("/").get_data(as_text=True)
    assert "Supervisor" in page and "spot checks" in page
    assert "Tutor" in page and "tutor-group" in page
    assert "Dean" not in page


def test_home_without_roles_says_what_to_do(client, auth, factory, uni):
    factory.user("nobody")
    auth.login("nobody")
    page = client.get("/").get_data(as_text=True)
    assert "no roles yet" in page and "Ask the teaching-quality office" in page


def test_breadcrumb_links_only_where_allowed(client, auth, uni):
    auth.login("admin")
    page = client.get("/units/CS-SE").get_data(as_text=True)
    assert 'href="/units/U"' in page and 'href="/units/CS"' in page
    client.post("/logout")
    auth.login("wang")
    page = client.get("/units/CS-SE").get_data(as_text=True)
    assert 'href="/units/U"' not in page and 'href="/units/CS"' not in page


def _without_statistics(page: str) -> str:
    """The page without the included term statistics (aggregation/_unit_summary.html)."""
    return re.sub(r'<section class="term-summary".*?</section>', "", page, flags=re.S)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_unit_pages_speak_the_readers_language(client, auth, uni, session, app, locale):
    uni["CS"].name_en = "School of Computer Science"
    session.add(uni["CS"])
    course = session.exec(select(Course).where(Course.code == "CS-SE-101")).one()
    course.title_en = "Data Structures"
    session.add(course)
    dean = session.exec(select(User).where(User.username == "dean")).one()
    dean.locale = locale
    session.add(dean)
    session.commit()
    auth.login("dean")
    allowed = data_words(session)
    college = client.get("/units/CS").get_data(as_text=True)
    department = client.get("/units/CS-SE").get_data(as_text=True)
    for page in (college, department):
        assert not foreign_words(_without_statistics(page), locale, allowed)
    with app.test_request_context(), in_locale(locale):
        departments = gettext("Departments")
        sections = ngettext("%(num)d section", "%(num)d sections", 1)
    assert f"<h2>{departments} " in college and sections in department
    if locale == "en":
        assert "<h1>School of Computer Science</h1>" in college
        assert "<strong>Data Structures</strong>" in department
    else:
        assert departments != "Departments"
        assert "<h1>计算机学院</h1>" in college and "<strong>数据结构</strong>" in department
        assert "School of Computer Science" not in college
