"""Reports in Chinese and English: the PDF, its file, its email, and the page for the screen.

Expected words come from the catalogue (``gettext`` under ``in_locale``), never typed here.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest
from flask_babel import gettext
from pypdf import PdfReader
from sqlmodel import select

from evalsys.accounts.models import User
from evalsys.feedback.models import Feedback
from evalsys.i18n import in_locale
from evalsys.org.models import Course, OrgUnit
from evalsys.reports import delivery, render
from evalsys.reports.models import Report
from tests.i18n.visible import data_words, foreign_words, visible_text
from tests.reports.conftest import pdf_text

TERM = "2026-2027-1"


def tr(app, locale: str, msgid: str, **values) -> str:
    with app.app_context(), in_locale(locale):
        return gettext(msgid, **values)


def _squash(text: str) -> str:
    """pdftotext may break or space a heading; compare without white space."""
    return "".join(text.split())


@pytest.mark.once(
    "the two files, their names and languages come from the renderer; the report data's"
    " queries run on both (tests/reports/test_report_pdf.py)"
)
def test_zh_and_en_pdfs_coexist_each_in_its_language(aggregated, session, app, tmp_path):
    zh = render.render_unit(
        session, app, term_code=TERM, unit_code="CS", out_dir=tmp_path, locale="zh"
    )
    en = render.render_unit(
        session, app, term_code=TERM, unit_code="CS", out_dir=tmp_path, locale="en"
    )
    assert (zh.status, en.status) == ("rendered", "rendered")
    assert Path(zh.path) == (tmp_path / TERM / "CS.zh.pdf").resolve()
    assert Path(en.path) == (tmp_path / TERM / "CS.en.pdf").resolve()
    assert Path(zh.path).is_file() and Path(en.path).is_file()  # neither overwrote the other
    records = {r.locale: r for r in session.exec(select(Report)).all()}
    assert set(records) == {"zh", "en"} and records["zh"].input_hash != records["en"].input_hash

    zh_text, en_text = _squash(pdf_text(Path(zh.path))), _squash(pdf_text(Path(en.path)))
    for heading in (
        "At a glance",
        "Needs attention",
        "Appendix: method",
        "Term teaching-quality report",
    ):
        assert _squash(tr(app, "zh", heading)) in zh_text, heading
        assert _squash(tr(app, "en", heading)) in en_text, heading
        assert _squash(tr(app, "en", heading)) not in zh_text, heading
    assert tr(app, "zh", "At a glance") != "At a glance"  # the catalogue really has it
    # The chart labels are in the language too (charts keep their text as text).
    assert _squash(tr(app, "zh", "Teaching attitude")) in zh_text
    assert "Teachingattitude" not in zh_text and "Teachingattitude" in en_text

    # Metadata title and outline follow the language.
    for outcome, locale in ((zh, "zh"), (en, "en")):
        reader = PdfReader(outcome.path)
        title = tr(app, locale, "%(unit)s · %(term)s · Teaching-quality report", unit="", term="")
        assert title.strip(" ·") in reader.metadata.title
        outline = [item.title for item in reader.outline if not isinstance(item, list)]
        assert tr(app, locale, "Appendix: method") in outline

    # Unchanged inputs: each language is skipped on its own.
    again = render.render_unit(
        session, app, term_code=TERM, unit_code="CS", out_dir=tmp_path, locale="zh"
    )
    assert again.status == "unchanged"


@pytest.mark.once(
    "the lang attribute follows the locale asked for; the report data's queries run on both"
    " (tests/reports/test_report_pdf.py)"
)
def test_html_lang_follows_the_report(aggregated, session, app):
    from evalsys.reports.data import report_data

    for locale, lang in (("zh", 'lang="zh-Hans"'), ("en", 'lang="en"')):
        with app.app_context():
            data = report_data(
                session, term_code=TERM, unit_code="CS", config=app.config, locale=locale
            )
        html = render.build_html(app, data, generated="2027-01-20 08:00")
        assert f"<html {lang}>" in html


def test_needed_locales_are_the_sites_and_the_recipients(aggregated, session, app, factory):
    factory.user("dean_cs", "dean@CS")
    assert render.needed_locales(session, app, "CS") == ["en"]
    chinese = factory.user("dean_cs2", "dean@CS")
    chinese.locale = "zh"
    session.add(chinese)
    session.commit()
    assert render.needed_locales(session, app, "CS") == ["en", "zh"]
    assert render.needed_locales(session, app, "MATH") == ["en"]


def test_each_recipient_gets_their_language(aggregated, session, app, factory, smtp):
    zh_user = factory.user("dean_zh", "dean@CS", name="中文院长")
    zh_user.locale = "zh"
    session.add(zh_user)
    factory.user("dean_en", "dean@CS", name="English Dean")  # no choice: the site's (en)
    session.commit()
    outcomes = render.render_units(app, term_code=TERM, unit_codes=["CS"], in_process=True)
    assert sorted((o.unit, o.locale, o.status) for o in outcomes) == [
        ("CS", "en", "rendered"),
        ("CS", "zh", "rendered"),
    ]
    with app.app_context():
        assert delivery.queue_deliveries(session, term_code=TERM) == 2
    session.commit()
    assert delivery.send_pending(session, app)["sent"] == 2
    got = {m["To"]: m for m in smtp.messages}
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == "CS")).one()
    term_name = aggregated.terms["T2"].name
    for address, locale in (("dean_zh@example.edu", "zh"), ("dean_en@example.edu", "en")):
        message = got[address]
        with app.app_context(), in_locale(locale):
            from evalsys.i18n import localized

            subject = gettext(
                "%(unit)s · %(term)s: teaching-quality report",
                unit=localized(unit, "name"),
                term=term_name,
            )
        import email.header

        decoded = str(email.header.make_header(email.header.decode_header(message["Subject"])))
        assert decoded == subject
        body = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        text = body.get_payload(decode=True).decode(body.get_content_charset())
        assert tr(app, locale, "Dear %(name)s,", name="").rstrip(",：") in text
        [pdf] = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
        assert pdf.get_filename() == f"CS-{TERM}-{locale}.pdf"
        saved = Path(app.instance_path) / f"got-{locale}.pdf"
        saved.write_bytes(pdf.get_payload(decode=True))
        assert _squash(tr(app, locale, "At a glance")) in _squash(pdf_text(saved))
    assert tr(app, "zh", "Dear %(name)s,", name="x") != "Dear x,"


# --- the page for the screen ------------------------------------------------------------------


@pytest.fixture
def readers(aggregated, factory):
    factory.user("dean_cs", "dean@CS")
    factory.user("teacher_only", "teacher@CS-SE")
    return aggregated


def _overall_mean(session, unit_code: str, term_id: int) -> float:
    """The college's overall mean computed here from the records (not the aggregation)."""
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).one()
    departments = [u.id for u in session.exec(select(OrgUnit).where(OrgUnit.parent_id == unit.id))]
    scores = [
        f.overall_score
        for f in session.exec(
            select(Feedback).where(
                Feedback.term_id == term_id,
                Feedback.status == "submitted",
            )
        )
        if f.department_id in departments and f.overall_score is not None
    ]
    return statistics.fmean(scores), len(scores)


def test_the_page_shows_the_reports_figures_and_charts(readers, session, client, auth, app):
    auth.login("dean_cs")
    response = client.get(f"/reports/{TERM}/CS.html")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    mean, n = _overall_mean(session, "CS", readers.terms["T2"].id)
    text = visible_text(page)
    assert f"{mean:.1f}" in text and f"n={n}" in text
    assert 'class="chart"' in page and "data:image/svg+xml;base64," in page
    assert "<figcaption>" in page and 'alt="' in page
    assert ' style="' not in page and "<style" not in page  # the strict CSP
    assert f'href="/reports/{TERM}/CS.pdf"' in page
    assert '<th scope="col">' in page
    # Listed on the unit page and in the reports index.
    assert f'href="/reports/{TERM}/CS.html"' in client.get("/units/CS").get_data(as_text=True)


def _without_loop_section(page: str) -> str:
    """The page less last term's problems (templates/loop/_report_section.html: the loop's)."""
    return re.sub(r'<section class="loop-section">.*?</section>', "", page, flags=re.S)


@pytest.mark.once(
    "the page's words come from the catalogue and the templates; its figures and its scope"
    " run on both (test_the_page_shows_the_reports_figures_and_charts,"
    " test_the_page_is_scoped_like_the_pdf)"
)
def test_the_page_in_chinese_has_no_english_left(readers, session, client, auth, app):
    auth.login("dean_cs")
    page = client.get(f"/reports/{TERM}/CS.html", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert tr(app, "zh", "At a glance") in page
    assert tr(app, "zh", "Needs attention") in page
    session.rollback()
    # Stored names and codes may show in either language.
    stored = data_words(session) | {
        word
        for value in [
            *session.exec(select(OrgUnit.code)).all(),
            *session.exec(select(User.name)).all(),
            *session.exec(select(User.username)).all(),
        ]
        for word in re.findall(r"[A-Za-z]+", value or "")
    }
    stored |= {
        *session.exec(select(OrgUnit.name)).all(),
        *session.exec(select(Course.title)).all(),
        *session.exec(select(User.name)).all(),
        *[f.problems or "" for f in session.exec(select(Feedback)).all()],
        *[f.suggestions or "" for f in session.exec(select(Feedback)).all()],
    }
    assert foreign_words(_without_loop_section(page), "zh", stored) == []
    english = client.get(f"/reports/{TERM}/CS.html").get_data(as_text=True)
    assert foreign_words(_without_loop_section(english), "en", stored) == []


def test_the_page_is_scoped_like_the_pdf(readers, client, auth):
    auth.login("dean_cs")
    assert client.get(f"/reports/{TERM}/MATH.html").status_code == 403
    assert client.get(f"/reports/{TERM}/U.html").status_code == 403
    assert client.get("/reports/NOPE/CS.html").status_code == 404
    auth.logout()
    auth.login("teacher_only")
    assert client.get(f"/reports/{TERM}/CS-SE.html").status_code == 403
    auth.logout()
    response = client.get(f"/reports/{TERM}/CS.html")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_download_serves_the_readers_language_rendering_it_once(
    readers, session, client, auth, app
):
    render.render_unit(session, app, term_code=TERM, unit_code="CS", locale="en")
    auth.login("dean_cs")
    english = client.get(f"/reports/{TERM}/CS.pdf")
    assert english.status_code == 200 and english.data.startswith(b"%PDF")
    english.close()
    # Chinese was never rendered: made now, recorded, then served from its file.
    chinese = client.get(f"/reports/{TERM}/CS.pdf", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 200 and chinese.data.startswith(b"%PDF")
    chinese.close()
    session.rollback()
    assert sorted(r.locale for r in session.exec(select(Report)).all()) == ["en", "zh"]
    client.get(f"/reports/{TERM}/CS.pdf?lang=zh").close()
    session.rollback()
    assert len(session.exec(select(Report)).all()) == 2
    # Never rendered in any language: not rendered by a download.
    assert client.get(f"/reports/{TERM}/CS-SE.pdf").status_code == 404


# --- names in the reader's language: the term, the units, the outline --------------------


def _name_in_both_languages(session, aggregated) -> None:
    term = aggregated.terms["T2"]
    term.name, term.name_en = "2026-2027学年第一学期", "Autumn term 2026"
    for code, name, name_en in (
        ("CS", "计算机学院", "School of Computer Science"),
        ("CS-SE", "软件工程系", "Department of Software Engineering"),
    ):
        unit = aggregated.units[code]
        unit.name, unit.name_en = name, name_en
        session.add(unit)
    session.add(term)
    session.commit()


def _flat_outline(items) -> list[str]:
    out: list[str] = []
    for item in items:
        out.extend(_flat_outline(item) if isinstance(item, list) else [item.title])
    return out


@pytest.mark.once(
    "the name is chosen in Python (evalsys.i18n.localized) from the stored pair; rendering"
    " and delivering in each reader's language run on both"
    " (test_each_recipient_gets_their_language)"
)
def test_pdfs_and_emails_name_the_term_in_the_readers_language(
    aggregated, session, app, tmp_path, factory, smtp
):
    _name_in_both_languages(session, aggregated)
    zh_user = factory.user("dean_zh", "dean@CS", name="中文院长")
    zh_user.locale = "zh"
    session.add(zh_user)
    factory.user("dean_en", "dean@CS", name="English Dean")
    session.commit()
    outcomes = render.render_units(app, term_code=TERM, unit_codes=["CS"], in_process=True)
    paths = {o.locale: Path(o.path) for o in outcomes}

    zh_text, en_text = _squash(pdf_text(paths["zh"])), _squash(pdf_text(paths["en"]))
    assert "2026-2027学年第一学期" in zh_text and "Autumnterm2026" not in zh_text
    assert "Autumnterm2026" in en_text and "2026-2027学年第一学期" not in en_text

    # A college's report names its departments in its children table, in the language.
    assert "DepartmentofSoftwareEngineering" in en_text and "软件工程系" in zh_text

    # The outline names each unit part once, with its level only where the name lacks it:
    # the courses' parts of a department's report.
    courses = {c.code: c for c in session.exec(select(Course))}
    for code, title, title_en in (
        ("SE1", "软件工程课程", "Software Engineering Course"),
        ("SE2", "算法", "Algorithms"),
    ):
        courses[code].title, courses[code].title_en = title, title_en
        session.add(courses[code])
    session.commit()
    dept = {
        loc: render.render_unit(
            session, app, term_code=TERM, unit_code="CS-SE", out_dir=tmp_path, locale=loc
        )
        for loc in ("zh", "en")
    }
    zh_outline = _flat_outline(PdfReader(dept["zh"].path).outline)
    en_outline = _flat_outline(PdfReader(dept["en"].path).outline)
    assert "Software Engineering Course" in en_outline
    assert not [t for t in en_outline if "Course Software" in t], en_outline
    assert "Course: Algorithms" in en_outline  # a name without the level gets it
    assert "软件工程课程" in zh_outline and "课程：算法" in zh_outline
    assert not [t for t in zh_outline if t.startswith("课程 ")], zh_outline

    with app.app_context():
        assert delivery.queue_deliveries(session, term_code=TERM) == 2
    session.commit()
    assert delivery.send_pending(session, app)["sent"] == 2
    import email.header

    for address, term_name, college in (
        ("dean_zh@example.edu", "2026-2027学年第一学期", "计算机学院"),
        ("dean_en@example.edu", "Autumn term 2026", "School of Computer Science"),
    ):
        message = next(m for m in smtp.messages if m["To"] == address)
        subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
        assert subject.startswith(f"{college} · {term_name}"), subject
        body = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        assert term_name in body.get_payload(decode=True).decode(body.get_content_charset())


@pytest.mark.once(
    "the name is chosen in Python (evalsys.i18n.localized) from the stored pair; these"
    " pages' data run on both (tests/reports, tests/dashboards, tests/aggregation)"
)
def test_the_report_page_names_the_term_in_the_readers_language(
    aggregated, session, client, auth, factory
):
    _name_in_both_languages(session, aggregated)
    factory.user("dean_cs", "dean@CS")
    auth.login("dean_cs")
    english = visible_text(client.get(f"/reports/{TERM}/CS.html").get_data(as_text=True))
    chinese = visible_text(
        client.get(f"/reports/{TERM}/CS.html", headers={"Accept-Language": "zh-CN"}).get_data(
            as_text=True
        )
    )
    assert "Autumn term 2026" in english and "2026-2027学年第一学期" not in english
    assert "2026-2027学年第一学期" in chinese and "Autumn term 2026" not in chinese
    # The appendix says what its limits mean, not what they are called in the config.
    for text in (english, chinese):
        assert not re.findall(r"\b[A-Z]+(?:_[A-Z]+)+\b", text)  # FLAG_THRESHOLD, MIN_N, …
    assert "the flag threshold" in english and "标记阈值" in chinese
    # The dean's home board and the unit page name the term the same way.
    for path in ("/", "/units/CS"):
        english = visible_text(client.get(path).get_data(as_text=True))
        chinese = visible_text(
            client.get(path, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
        )
        assert "Autumn term 2026" in english and "2026-2027学年第一学期" not in english, path
        assert "2026-2027学年第一学期" in chinese and "Autumn term 2026" not in chinese, path
