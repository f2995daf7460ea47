"""A unit at a glance and the drill-down to courses: the headline figures against an
independent computation from the records (tests/aggregation/oracle.py), the charts with
their text alternative, the children's figures, the course page's access and MIN_N, and
query counts that do not grow with the children or the sections."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlmodel import select

from evalsys.aggregation.models import ALL_KINDS, OVERALL
from evalsys.aggregation.service import aggregate_term
from evalsys.feedback.models import Feedback
from evalsys.i18n import fmt_num, in_locale
from evalsys.org.models import Section
from tests.aggregation import oracle


@pytest.fixture
def aggregated(uni, session, settings):
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    return uni


@pytest.fixture
def want(aggregated, session, settings):
    """The oracle's rows and flags of T2, computed from the records."""
    rows = oracle.expected(session, aggregated.terms["T2"], settings)
    return rows, oracle.expected_flags(rows, settings)


def _glance(page: str, name: str) -> str | None:
    found = re.search(rf'data-glance="{name}">([^<]*)<', page)
    return unescape(found[1]).strip() if found else None


def _num(app, value, signed=False) -> str:
    with app.test_request_context(), in_locale("en"):
        return fmt_num(value, 1, signed=signed)


@pytest.mark.parametrize("code", ["U", "CS", "CS-SE", "CS-AI", "MATH-PURE", "MATH-APP", "ART-DES"])
def test_the_headline_matches_an_independent_computation(
    app, client, auth, aggregated, want, code, settings
):
    rows, flags = want
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    unit = aggregated.units[code]
    page = client.get(f"/units/{code}").get_data(as_text=True)
    row = rows.get((unit.kind, unit.id, ALL_KINDS, OVERALL))
    n = row["n"] if row else 0
    assert _glance(page, "n") == str(n)
    mean = _glance(page, "mean")
    if n == 0:
        assert mean == "no records"
    elif n < settings.min_n:
        # Too few: never the mean, anywhere in the headline.
        assert mean == f"too few (n={n})"
        assert _glance(page, "change") is None
    else:
        assert mean == _num(app, row["mean"])
        if row["prev_change"] is None:
            assert _glance(page, "change") is None
        else:
            assert _glance(page, "change").replace("−", "-") == _num(
                app, row["prev_change"], signed=True
            ).replace("−", "-")
    own = {f for f in flags if f[0] == unit.kind and f[1] == unit.id}
    assert _glance(page, "flags") == str(len(own))
    for _level, _unit_id, kind, dimension, flag in own:
        # Each flag's reason is in "Needs attention", under an id of its own.
        assert f'id="flag-{kind}-{dimension}-{flag}"' in page
    # The headline names the first three flagged results, each linked to its reason.
    results = {(kind, dimension) for _l, _u, kind, dimension, _f in own}
    fig = page[page.index('data-glance="flags"') :]
    note = fig[: fig.index("</div>", fig.index('class="note"'))]
    linked = re.findall(r'href="#flag-([a-z_]+)-([a-z_]+)-[a-z_]+"', note)
    assert len(linked) == min(3, len(results)) and set(linked) <= results
    assert ('href="#attention"' in note) == (len(results) > 3)


def test_a_unit_with_too_few_records_shows_no_mean_in_its_headline(
    app, client, auth, uni, session, settings
):
    """A new department observed twice this term: n=2 < MIN_N, so "too few", never its mean,
    no change, no flag, and its dimension chart draws "too few" bars."""
    t = uni.factory
    term = uni.terms["T2"]
    dept = t.unit("CS-THIN", "department", parent="CS")
    course = t.course("THIN1", dept)
    section = t.section("T2-THIN1-0", course, term)
    uni.sections[section.code] = section
    for observer in uni.observers[:2]:
        uni.add(
            "spot_check",
            observer=observer,
            section=section.code,
            scores={i.code: i.scale_min for i in uni.item_codes("spot_check")},
        )
    session.commit()
    aggregate_term(session, term=uni.terms["T1"].code, settings=settings)
    aggregate_term(session, term=term.code, settings=settings)
    rows = oracle.expected(session, term, settings)
    row = rows[("department", dept.id, ALL_KINDS, OVERALL)]
    assert row["n"] == 2 < settings.min_n
    uni.factory.user("boss", "admin@U")
    auth.login("boss")
    page = client.get("/units/CS-THIN").get_data(as_text=True)
    assert _glance(page, "n") == "2"
    assert _glance(page, "mean") == "too few (n=2)"
    assert _glance(page, "change") is None and _glance(page, "flags") == "0"
    headline = page[page.index('class="glance-figures"') : page.index('id="attention"')]
    assert _num(app, row["mean"]) not in headline
    # Nor does a chart tell it: no distribution of the two records, bars marked "too few".
    charts_html = page[page.index('class="glance-figures"') : page.index('id="attention"')]
    assert "Score distribution" not in charts_html and "too few" in charts_html
    # The college lists it with its n and "insufficient", not a mean.
    college = client.get("/units/CS").get_data(as_text=True)
    tr = re.search(r'<tr>\s*<td><a href="/units/CS-THIN\?.*?</tr>', college, re.S)
    assert tr and "insufficient" in tr[0] and _num(app, row["mean"]) not in tr[0]


def test_the_generated_data_has_what_the_headline_tests_need(aggregated, want, settings):
    rows, flags = want
    overall = {
        code: rows.get((u.kind, u.id, ALL_KINDS, OVERALL)) for code, u in aggregated.units.items()
    }
    assert any(
        r and r["n"] >= settings.min_n and r["prev_change"] is not None for r in overall.values()
    )
    assert any(f[:2] == ("college", aggregated.units["CS"].id) for f in flags) or any(
        f[0] == "department" for f in flags
    )


def test_charts_come_with_a_caption_and_their_figures(client, auth, aggregated, want, settings):
    rows, _flags = want
    aggregated.factory.user("dean", "dean@CS")
    auth.login("dean")
    page = client.get("/units/CS").get_data(as_text=True)
    figures = re.findall(r'<figure class="glance-chart">(.*?)</figure>', page, re.S)
    assert len(figures) == 3  # dimensions, distribution, trend
    for fig in figures:
        assert "<figcaption>" in fig
        img = re.search(r'<img class="chart" alt="([^"]+)" src="data:image/svg\+xml;base64,', fig)
        assert img and img[1].strip()
        assert "<details>" in fig and "<table" in fig
    # The dimension chart's table: every dimension's n, and its mean only with enough records.
    dims = figures[0]
    unit = aggregated.units["CS"]
    for (level, unit_id, kind, dimension), row in rows.items():
        if (level, unit_id, kind) != ("college", unit.id, ALL_KINDS) or dimension == OVERALL:
            continue
        cell = re.search(rf"<th scope=\"row\">[^<]+</th><td class=\"num\">{row['n']}</td>", dims)
        assert cell, dimension
    # The four full tables are still there, but folded away.
    folded = page[page.index('<details class="all-figures">') :]
    assert folded.count('<table class="striped stats">') >= 2


def test_too_few_records_never_show_a_mean_in_the_charts_tables(
    app, client, auth, aggregated, want, settings
):
    rows, _flags = want
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    thin = [
        (key, row)
        for key, row in rows.items()
        if key[0] == "department" and key[2] == ALL_KINDS and 0 < row["n"] < settings.min_n
    ]
    assert thin, "the generated data has a department dimension with too few records"
    (level, unit_id, _kind, dimension), row = thin[0]
    code = next(c for c, u in aggregated.units.items() if u.id == unit_id)
    page = client.get(f"/units/{code}").get_data(as_text=True)
    charts = page[: page.index('<details class="all-figures">')]
    assert "too few" in charts
    assert _num(app, row["mean"]) not in charts.split("<figure", 1)[1]


def test_children_rows_show_n_mean_change_and_flags(app, client, auth, aggregated, want, settings):
    rows, flags = want
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    page = client.get("/units/CS").get_data(as_text=True)
    table = page[page.index('<table class="striped children-stats') :]
    table = table[: table.index("</table>")]
    for code in ("CS-SE", "CS-AI"):
        unit = aggregated.units[code]
        row = rows[(unit.kind, unit.id, ALL_KINDS, OVERALL)]
        tr = re.search(rf'<tr>\s*<td><a href="/units/{code}\?.*?</tr>', table, re.S)
        assert tr, code
        cells = re.findall(r'<td class="num">(.*?)</td>', tr[0], re.S)
        n, mean, change, flagged = (re.sub(r"<[^>]+>", "", c).strip() for c in cells)
        assert n == str(row["n"])
        if row["n"] >= settings.min_n:
            assert mean == _num(app, row["mean"])
            expected_change = (
                "—" if row["prev_change"] is None else _num(app, row["prev_change"], signed=True)
            )
            if row["prev_change"] is not None and abs(row["prev_change"]) < 0.05:
                expected_change = _num(app, 0)
            assert change == expected_change
        else:
            assert mean == "insufficient" and change == "—"
        assert flagged == str(len({f for f in flags if f[:2] == (unit.kind, unit.id)}))


def test_unit_page_queries_do_not_grow_with_the_children(
    client, auth, aggregated, session, queries, settings
):
    """More departments under a college, with records: the college page asks no more."""
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    before = queries.page(client, "/units/CS")
    t = aggregated.factory
    term = aggregated.terms["T2"]
    for i in range(6):
        dept = t.unit(f"CS-N{i}", "department", parent="CS")
        course = t.course(f"N{i}", dept)
        section = t.section(f"N{i}-1", course, term)
        aggregated.sections[section.code] = section
        for observer in aggregated.observers[:3]:
            aggregated.add(
                "spot_check",
                observer=observer,
                section=section.code,
                scores={i.code: i.scale_max for i in aggregated.item_codes("spot_check")},
            )
    session.commit()
    aggregate_term(session, term=term.code, settings=settings)
    page = client.get("/units/CS").get_data(as_text=True)
    assert all(f'href="/units/CS-N{i}?' in page for i in range(6))
    assert queries.page(client, "/units/CS") <= before


# --- the course page ------------------------------------------------------------------------


def _course_url(uni, code: str, course: str, term: str | None = None) -> str:
    url = f"/units/{code}/courses/{course}"
    return url + (f"?term={uni.terms[term].code}" if term else "")


@pytest.mark.parametrize(
    ("grant", "code", "course", "status"),
    [
        ("dean@CS", "CS-SE", "SE1", 200),
        ("head@CS-SE", "CS-SE", "SE1", 200),
        ("teacher@CS-SE", "CS-SE", "SE1", 200),
        ("supervisor@CS", "CS-SE", "SE1", 200),
        ("dean@MATH", "CS-SE", "SE1", 403),
        ("head@CS-AI", "CS-SE", "SE1", 403),
        ("admin@U", "CS-SE", "MP1", 404),  # a course of another department
        ("admin@U", "CS-AI", "SE1", 404),
        ("admin@U", "CS-SE", "NOPE", 404),
        ("admin@U", "NOPE", "SE1", 404),
        ("admin@U", "CS", "SE1", 404),  # a college has no courses of its own
    ],
)
def test_course_page_access_is_the_department_pages(
    client, auth, aggregated, grant, code, course, status
):
    aggregated.factory.user("who", grant)
    auth.login("who")
    assert client.get(_course_url(aggregated, code, course)).status_code == status


def test_department_page_links_its_courses(client, auth, aggregated):
    aggregated.factory.user("head", "head@CS-SE")
    auth.login("head")
    page = client.get("/units/CS-SE").get_data(as_text=True)
    t2 = aggregated.terms["T2"].code
    for code in ("SE1", "SE2", "SE3"):
        assert f'href="/units/CS-SE/courses/{code}?term={t2}"' in page


def test_course_figures_by_term_and_sections_match_the_records(
    app, client, auth, aggregated, session, settings
):
    aggregated.factory.user("head", "head@CS-SE")
    auth.login("head")
    course = aggregated.courses["SE1"]
    for key in ("T1", "T2"):
        term = aggregated.terms[key]
        rows = oracle.expected(session, term, settings)
        page = client.get(_course_url(aggregated, "CS-SE", "SE1", key)).get_data(as_text=True)
        # The term's row in "term by term".
        by_term = page[page.index('id="by-term"') : page.index('id="sections-title"')]
        row = rows.get(("course", course.id, ALL_KINDS, OVERALL))
        tr = re.search(r'<tr class="current">(.*?)</tr>', by_term, re.S)
        assert tr, key
        cells = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", tr[1], re.S)
        ]
        n = row["n"] if row else 0
        assert cells[0] == str(n)
        if n >= settings.min_n:
            assert cells[1] == _num(app, row["mean"])
        else:
            assert cells[1] in ("too few", "no records")
        # Each section of the term: teacher, n, and the mean only with enough records.
        sections = session.exec(
            select(Section).where(Section.course_id == course.id, Section.term_id == term.id)
        ).all()
        listing = page[page.index('id="sections-title"') :]
        for section in sections:
            srow = rows.get(("section", section.id, ALL_KINDS, OVERALL))
            sn = srow["n"] if srow else 0
            tr = re.search(
                rf"<tr>\s*<th scope=\"row\">(?:<a [^>]*>)?{re.escape(section.code)}"
                r"(?:</a>)?</th>(.*?)</tr>",
                listing,
                re.S,
            )
            assert tr, section.code
            cells = [
                re.sub(r"<[^>]+>", "", c).strip()
                for c in re.findall(r"<td[^>]*>(.*?)</td>", tr[1], re.S)
            ]
            assert cells[1] == str(sn), section.code
            if sn >= settings.min_n:
                assert cells[2] == _num(app, srow["mean"])
            else:
                assert cells[2] in ("too few", "no records"), section.code
                if sn:
                    assert _num(app, srow["mean"]) not in tr[0]


def test_the_course_page_needs_a_section_with_too_few_records(aggregated, session, settings):
    """The data above exercises MIN_N at section level (the solo section: n = 1)."""
    rows = oracle.expected(session, aggregated.terms["T2"], settings)
    solo = aggregated.sections["T2-SOLO"]
    assert rows[("section", solo.id, ALL_KINDS, OVERALL)]["n"] == 1


def test_records_of_each_section_for_feedback_readers_only(client, auth, aggregated, session):
    f = aggregated.factory
    f.user("head", "head@CS-SE")
    f.user("sup", "supervisor@CS-SE")
    course = aggregated.courses["SE1"]
    t2 = aggregated.terms["T2"]
    submitted = session.exec(
        select(Feedback)
        .join(Section, Section.id == Feedback.section_id)  # type: ignore[arg-type]
        .where(Section.course_id == course.id, Feedback.term_id == t2.id)
    ).all()
    shown = {fb.id for fb in submitted if fb.status == "submitted"}
    hidden = {fb.id for fb in submitted if fb.status != "submitted"}
    assert shown and hidden
    auth.login("head")
    page = client.get(_course_url(aggregated, "CS-SE", "SE1", "T2")).get_data(as_text=True)
    linked = {int(i) for i in re.findall(r'href="/feedback/(\d+)"', page)}
    assert linked == shown
    # The section's row links to its records.
    assert re.search(r'<a href="#records-\d+">T2-SE1-', page)
    auth.logout()
    auth.login("sup")
    page = client.get(_course_url(aggregated, "CS-SE", "SE1")).get_data(as_text=True)
    assert not re.search(r'href="/feedback/\d+"', page)  # no record (the menu links forms)
    # No figures without VIEW_REPORTS: the sections of every term, without n or mean.
    assert 'id="by-term"' not in page and "T1-SE1-0" in page and "T2-SE1-0" in page


def test_the_course_page_asks_a_fixed_number_of_queries(
    client, auth, aggregated, session, queries, settings
):
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    url = _course_url(aggregated, "CS-SE", "SE2", "T2")
    before = queries.page(client, url)
    t = aggregated.factory
    term = aggregated.terms["T2"]
    course = aggregated.courses["SE2"]
    for i in range(8):
        section = t.section(f"T2-SE2-X{i}", course, term)
        aggregated.sections[section.code] = section
        for observer in aggregated.observers[:3]:
            aggregated.add(
                "spot_check",
                observer=observer,
                section=section.code,
                scores={i.code: i.scale_max for i in aggregated.item_codes("spot_check")},
            )
    session.commit()
    aggregate_term(session, term=term.code, settings=settings)
    page = client.get(url).get_data(as_text=True)
    assert page.count("T2-SE2-X") >= 8
    assert queries.page(client, url) <= before


def test_an_unknown_term_on_the_course_page_is_not_found(client, auth, aggregated):
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    assert client.get("/units/CS-SE/courses/SE1?term=NOPE").status_code == 404


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_glance_and_course_pages_speak_the_readers_language(
    client, auth, aggregated, session, locale
):
    from evalsys.accounts.models import User
    from tests.i18n.visible import data_words, foreign_words

    aggregated.factory.user("head", "head@CS-SE")
    head = session.exec(select(User).where(User.username == "head")).one()
    head.locale = locale
    session.add(head)
    session.commit()
    auth.login("head")
    allowed = data_words(session)
    for url in ("/units/CS-SE", _course_url(aggregated, "CS-SE", "SE1", "T2")):
        page = client.get(url).get_data(as_text=True)
        assert not foreign_words(page, locale, allowed), url
