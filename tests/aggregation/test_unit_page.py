"""The term summary on the unit pages: for VIEW_REPORTS only, honest, bounded in queries."""

from __future__ import annotations

import re

import pytest

from evalsys.aggregation import service


@pytest.fixture
def aggregated(uni, session):
    service.aggregate_term(session, term=uni.terms["T1"].code)
    service.aggregate_term(session, term=uni.terms["T2"].code)
    return uni


def test_a_dean_sees_the_college_summary_and_drills_down(client, auth, aggregated):
    aggregated.factory.user("dean", "dean@CS")
    auth.login("dean")
    page = client.get("/units/CS").get_data(as_text=True)
    assert "Term statistics" in page
    assert f'<option value="{aggregated.terms["T2"].code}" selected>' in page
    assert "Needs attention" in page and "Coverage" in page
    assert '<th scope="row">Overall</th>' in page and "<h3>Spot check</h3>" in page
    assert "Spot checks:" in page and "sections" in page
    assert f'href="/units/CS-SE?term={aggregated.terms["T2"].code}"' in page
    assert f'href="/units/CS-AI?term={aggregated.terms["T2"].code}"' in page
    dept = client.get(f"/units/CS-SE?term={aggregated.terms['T2'].code}").get_data(as_text=True)
    # A department's children are its courses, with their figures but no page of their own.
    children = dept[dept.index("Below this unit") :]
    assert "SE1" in children and "SE2" in children and 'href="/units/SE1' not in children


def test_insufficient_figures_are_not_shown_as_numbers(client, auth, aggregated, session):
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    page = client.get("/units/CS-SE").get_data(as_text=True)
    from sqlmodel import select

    from evalsys.aggregation.models import AggregateResult

    thin = session.exec(
        select(AggregateResult).where(
            AggregateResult.term_id == aggregated.terms["T2"].id,
            AggregateResult.level == "department",
            AggregateResult.unit_id == aggregated.units["CS-SE"].id,
            AggregateResult.insufficient == True,  # noqa: E712
            AggregateResult.n > 0,
        )
    ).all()
    assert thin, "the generated data has an insufficient result in CS-SE"
    assert "insufficient (fewer than 3 records)" in page


def test_earlier_terms_can_be_chosen(client, auth, aggregated):
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    t1 = aggregated.terms["T1"].code
    page = client.get(f"/units/U?term={t1}").get_data(as_text=True)
    assert f'<option value="{t1}" selected>' in page
    page = client.get("/units/U?term=NOPE").get_data(as_text=True)
    assert "No statistics for term NOPE" in page


def test_empty_units_say_so(client, auth, aggregated):
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")
    page = client.get("/units/ART-DES").get_data(as_text=True)
    assert "no records" in page
    assert "Spot checks: 0 of" in page
    page = client.get("/units/MATH-APP").get_data(as_text=True)
    assert "No sections taught this term." in page


def test_no_summary_without_reports_permission(client, auth, aggregated):
    aggregated.factory.user("teach", "teacher@CS-SE")
    auth.login("teach")
    page = client.get("/units/CS-SE").get_data(as_text=True)
    assert client.get("/units/CS-SE").status_code == 200
    assert "Term statistics" not in page


def test_before_any_aggregation(client, auth, uni):
    uni.factory.user("boss", "admin@U")
    auth.login("boss")
    page = client.get("/units/U").get_data(as_text=True)
    assert "No term has been aggregated yet" in page


def test_queries_do_not_grow_with_the_children(app, client, auth, aggregated, session, queries):
    aggregated.factory.user("boss", "admin@U")
    auth.login("boss")

    def count(url: str) -> int:
        return queries.page(client, url)

    small_dept, small_school = count("/units/CS-AI"), count("/units/U")
    t = aggregated.factory
    term = aggregated.terms["T2"]
    for i in range(15):
        course = t.course(f"X{i}", aggregated.units["CS-AI"])
        section = t.section(f"X{i}-1", course, term)
        aggregated.sections[section.code] = section
        for observer in aggregated.observers[:3]:
            aggregated.add(
                "spot_check",
                observer=observer,
                section=section.code,
                scores={i.code: i.scale_max for i in aggregated.item_codes("spot_check")},
            )
    session.commit()
    service.aggregate_term(session, term=term.code)
    page = client.get("/units/CS-AI").get_data(as_text=True)
    assert len(re.findall(r"<small class=\"muted\">X\d+</small>", page)) == 15
    # Not more (flags may have come or gone with the new figures: a page without flags
    # asks less).
    assert count("/units/CS-AI") <= small_dept
    assert count("/units/U") <= small_school


def test_unit_page_offers_its_statistics_as_excel_and_csv_to_reviewers_only(
    client, auth, aggregated, cli, session
):
    """The download is the CLI export below the unit, for those who may read reports."""
    import csv
    import io

    from openpyxl import load_workbook
    from sqlmodel import select

    from evalsys.accounts.models import AuditEvent

    term = aggregated.terms["T2"].code
    f = aggregated.factory
    f.user("dean", "dean@CS")
    f.user("sup", "supervisor@CS")
    auth.login("dean")
    page = client.get(f"/units/CS?term={term}").get_data(as_text=True)
    assert f'href="/units/CS/statistics.xlsx?term={term}"' in page
    expected = list(
        csv.DictReader(
            io.StringIO(
                cli(
                    "export", "aggregates", "--term", term, "--unit", "CS", "--format", "csv"
                ).output
            )
        )
    )
    xlsx = client.get(f"/units/CS/statistics.xlsx?term={term}")
    assert xlsx.status_code == 200
    values = list(load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True))
    got = [dict(zip(values[0], row, strict=True)) for row in values[1:]]
    assert [(r["level"], r["unit_code"], r["kind"], r["dimension"]) for r in got] == [
        (r["level"], r["unit_code"], r["kind"], r["dimension"]) for r in expected
    ]
    for row, want in zip(got, expected, strict=True):
        if want["mean"]:
            assert row["mean"] == pytest.approx(float(want["mean"]), abs=0.006)
    text = client.get(f"/units/CS/statistics.csv?term={term}").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))) == len(expected)
    assert client.get("/units/MATH/statistics.csv?term=" + term).status_code == 403
    assert client.get("/units/CS/statistics.csv?term=NOPE").status_code == 404
    assert client.get(f"/units/CS/statistics.pdf?term={term}").status_code == 404
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "aggregates.export")).all()
    assert sum(e.user_id is not None for e in events) == 2
    auth.logout()
    auth.login("sup")
    assert client.get(f"/units/CS/statistics.csv?term={term}").status_code == 403


# --- in the reader's language ----------------------------------------------------------------


def _summary_section(page: str) -> str:
    match = re.search(r'<section class="term-summary".*?</section>', page, re.S)
    assert match, "no term summary on the page"
    return match.group(0)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_summary_is_in_the_readers_language(app, client, auth, aggregated, session, locale):
    """Headings, kinds, dimensions, flags, shares and the aggregation time follow the reader."""
    from flask_babel import gettext
    from sqlmodel import select

    from evalsys.accounts.models import User
    from evalsys.aggregation.models import AggregationRun
    from evalsys.feedback.vocab import DIMENSION_NAMES, KIND_NAMES
    from evalsys.i18n import fmt_datetime, in_locale
    from tests.i18n.visible import data_words, foreign_words, visible_text

    aggregated.factory.user("dean", "dean@CS")
    dean = session.exec(select(User).where(User.username == "dean")).one()
    dean.locale = locale
    session.add(dean)
    session.commit()
    auth.login("dean")
    section = _summary_section(client.get("/units/CS").get_data(as_text=True))
    text = visible_text(section)
    run = session.exec(
        select(AggregationRun)
        .where(AggregationRun.term_id == aggregated.terms["T2"].id)
        .order_by(AggregationRun.id.desc())  # type: ignore[union-attr]
    ).first()
    with app.test_request_context(), in_locale(locale):
        expected = [
            gettext("Term statistics"),
            gettext("Needs attention"),
            gettext("Overall"),
            gettext("below threshold"),
            str(KIND_NAMES["spot_check"]),
            str(DIMENSION_NAMES["attitude"]),
            " ".join(fmt_datetime(run.finished_at).split()),
        ]
    for sentence in expected:
        assert sentence in text, sentence
    assert foreign_words(section, locale, data_words(session)) == []


def test_flag_reasons_read_as_stored_in_english(app, aggregated, session):
    """The words a reader sees are composed from the stored flag and figures; in English they
    are the stored reason itself (below threshold and drop; below parent leaves out the
    parent's sd and n, which the reader follows through the link)."""
    from evalsys.aggregation.flags import flag_text
    from evalsys.aggregation.read import result_rows
    from evalsys.i18n import in_locale

    rows = result_rows(session, term=aggregated.terms["T2"])
    checked = 0
    with app.test_request_context():
        for row in rows:
            for flag in row["flags"]:
                values = {**row, **flag, "kind": row["kind"], "dimension": row["dimension"]}
                with in_locale("en"):
                    english = flag_text(values)
                with in_locale("zh"):
                    chinese = flag_text(values)
                assert chinese != english and f"n={row['n']}" in chinese
                if flag["flag"] in ("below_threshold", "drop"):
                    assert english == flag["reason"]
                    checked += 1
                else:
                    assert english.startswith(flag["reason"].split(" standard deviations")[0])
    assert checked, "the generated data has flags"
