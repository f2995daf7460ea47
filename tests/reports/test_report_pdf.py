"""The rendered PDFs: names, the aggregation's figures, the outline, escaping, query count."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import select

from evalsys.aggregation.models import AggregateResult
from evalsys.feedback.models import Feedback, FeedbackKind
from evalsys.org.models import Course, Section
from evalsys.reports import data as report_data_mod
from evalsys.reports.models import Report
from evalsys.reports.pdf import render_pdf
from evalsys.reports.render import build_html, render_unit
from tests.reports.conftest import pdf_text


def _data(session, app, unit: str, term: str = "2026-2027-1") -> dict:
    """The report data in the site's language (the words come from the app's catalogue)."""
    with app.app_context():
        return report_data_mod.report_data(
            session, term_code=term, unit_code=unit, config=app.config
        )


def _render(session, app, unit: str, out: Path, term: str = "2026-2027-1", **kw):
    outcome = render_unit(session, app, term_code=term, unit_code=unit, out_dir=out, **kw)
    assert outcome.status in ("rendered", "unchanged"), outcome
    return outcome


def _result(session, term_id: int, level: str, code: str, kind="all", dimension="overall"):
    return session.exec(
        select(AggregateResult).where(
            AggregateResult.term_id == term_id,
            AggregateResult.level == level,
            AggregateResult.unit_code == code,
            AggregateResult.kind == kind,
            AggregateResult.dimension == dimension,
        )
    ).one()


def _shown(result: AggregateResult) -> str:
    """How the template prints a result's mean."""
    if result.n == 0:
        return "no records"
    if result.insufficient:
        return f"n={result.n}, too few"
    return f"{result.mean:.1f}"


def test_college_report_shows_names_and_the_aggregated_figures(aggregated, session, app, tmp_path):
    outcome = _render(session, app, "CS", tmp_path)
    assert outcome.status == "rendered" and outcome.pages >= 3
    path = Path(outcome.path)
    assert path == (tmp_path / "2026-2027-1" / "CS.en.pdf").resolve()
    text = pdf_text(path)
    assert "计算机学院" in text and "示范大学" in text  # the unit and its parent, in Chinese
    term_id = aggregated.terms["T2"].id
    checked = 0
    # The college's own figures, per kind; its departments' overall ones, one row each.
    for level, code, kinds in (
        ("college", "CS", ("all", "spot_check", "open_class", "tutor_group")),
        ("department", "CS-SE", ("all",)),
        ("department", "CS-AI", ("all",)),
    ):
        for kind in kinds:
            try:
                result = _result(session, term_id, level, code, kind)
            except Exception:  # noqa: S112  (a kind without any record in that unit)
                continue
            assert _shown(result) in text, (level, code, kind, _shown(result))
            checked += 1
    assert checked >= 4
    # The dimension rows of the college's own table, as printed.
    for dimension in ("attitude", "content", "method", "organisation", "effect"):
        result = _result(session, term_id, "college", "CS", "spot_check", dimension)
        assert _shown(result) in text
    # A department's figures per kind, and its courses', are in the department's report.
    dept_text = pdf_text(Path(_render(session, app, "CS-SE", tmp_path).path))
    for level, code in (("department", "CS-SE"), ("course", "SE1"), ("course", "SE2")):
        for kind in ("all", "spot_check", "open_class", "tutor_group"):
            try:
                result = _result(session, term_id, level, code, kind)
            except Exception:  # noqa: S112  (a kind without any record in that unit)
                continue
            assert _shown(result) in dept_text, (level, code, kind, _shown(result))
            checked += 1
    assert checked >= 10
    for course in ("SE1", "SE2", "SE3"):
        assert course in dept_text


def test_insufficient_results_are_marked_not_printed(bare_uni, session, app, tmp_path, factory):
    uni = bare_uni
    teacher = factory.user("tt", "teacher@U")
    observer = factory.user("oo", "supervisor@U")
    course = factory.course("LONE", uni.units["CS-SE"], title="孤立课程")
    uni.sections["S1"] = factory.section("S1", course, uni.terms["T2"], teacher=teacher)
    uni.courses["LONE"] = course
    items = uni.item_codes("spot_check")
    for _ in range(2):
        uni.add("spot_check", observer=observer, section="S1", scores={i.code: 7 for i in items})
    session.commit()
    from evalsys.aggregation import service

    service.aggregate_term(session, term="2026-2027-1")
    outcome = _render(session, app, "CS-SE", tmp_path)
    text = pdf_text(Path(outcome.path))
    assert "孤立课程" in text
    assert "n=2, too few" in text
    result = _result(session, uni.terms["T2"].id, "department", "CS-SE")
    assert result.insufficient and f"{result.mean:.1f}" not in text.split("Appendix")[0]


def _outline_titles(items) -> list:
    out = []
    for item in items:
        if isinstance(item, list):
            out.append(_outline_titles(item))
        else:
            out.append(item.title)
    return out


@pytest.mark.once(
    "the outline and the embedded fonts come from the HTML and WeasyPrint; the report data's"
    " queries run on both in the tests beside it"
)
def test_outline_nests_as_the_hierarchy(aggregated, session, app, tmp_path):
    outcome = _render(session, app, "U", tmp_path)
    reader = PdfReader(outcome.path)
    outline = _outline_titles(reader.outline)
    # Top level: the school, then (nested below it) its sections; the appendix. The colleges
    # have no part here (a row each, linking their own reports: test_report_layers.py).
    assert outline[0] == "示范大学"
    below = outline[1]
    assert isinstance(below, list)
    flat = [t for t in below if isinstance(t, str)]
    assert flat[:2] == ["At a glance", "Summary"], flat

    def flatten(items) -> list[str]:
        return [t for i in items for t in (flatten(i) if isinstance(i, list) else [i])]

    everything = flatten(below)
    assert "Colleges" in everything and "Flagged results" in everything, everything
    for college in ("计算机学院", "数学学院", "艺术学院"):
        assert not any(college in t for t in everything), (college, everything)
    assert any("Appendix" in t for t in outline[2:] if isinstance(t, str))
    assert reader.metadata.title.startswith("示范大学")
    # Embedded fonts: every font in the PDF carries its file.
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descendant = font.get("/DescendantFonts")
            desc = (descendant[0].get_object() if descendant else font).get("/FontDescriptor")
            if desc is not None:
                desc = desc.get_object()
                fonts.add(
                    (
                        desc["/FontName"],
                        any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")),
                    )
                )
    assert fonts and all(embedded for _name, embedded in fonts), fonts
    assert reader.trailer["/Root"]["/Lang"] == "en"  # the tests' site language


@pytest.mark.once(
    "the parts' anchors and outline come from the template; the data runs on both above"
)
def test_department_report_holds_each_course_as_a_linked_part(aggregated, session, app, tmp_path):
    outcome = _render(session, app, "CS-SE", tmp_path)
    outline = _outline_titles(PdfReader(outcome.path).outline)
    assert outline[0] == "CS-SE"
    nested = [t for t in outline[1] if isinstance(t, str)]
    for course in ("SE1", "SE2", "SE3"):
        assert any(course in t for t in nested), (course, nested)
    html = build_html(
        app,
        _data(session, app, "CS-SE", "2026-2027-1"),
        generated="x",
    )
    assert 'href="#u-course-SE1"' in html and 'id="u-course-SE1"' in html


@pytest.fixture
def spy_server():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@pytest.mark.once(
    "escaping and the URL fetcher act on the text as read back, the same from either"
    " database (storing hostile text on both: tests/security/test_hostile_text.py)"
)
def test_hostile_observer_text_is_escaped_and_fetches_nothing(
    aggregated, session, app, tmp_path, spy_server
):
    base, hits = spy_server
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT 42\n")
    section = session.exec(
        select(Section)
        .join(Course, Course.id == Section.course_id)
        .where(Course.code == "SE1", Section.term_id == aggregated.terms["T2"].id)
    ).first()
    record = session.exec(
        select(Feedback).where(Feedback.section_id == section.id, Feedback.status == "submitted")
    ).first()
    record.problems = (
        f'<script>alert("x")</script> <img src="file://{secret}"> '
        f'<img src="{base}/pixel.png"> <link rel="stylesheet" href="{base}/evil.css">'
    )
    record.suggestions = (
        f"<style>body {{ background: url({base}/bg.png) }}</style> "
        f'<p style="background: url({base}/p.png)">styled</p> </blockquote></div><h1>fake</h1>'
    )
    session.add(record)
    session.commit()
    data = _data(session, app, "CS-SE", "2026-2027-1")
    html = build_html(app, data, generated="x")
    assert "&lt;script&gt;" in html and "<script>" not in html
    rendered = render_pdf(html)
    assert hits == [] and rendered.refused == ()  # escaped: nothing even tried to load
    outcome = _render(session, app, "CS-SE", tmp_path)
    assert hits == []
    text = pdf_text(Path(outcome.path))
    flat = "".join(text.split())  # long lines wrap anywhere: compare without white space

    def shown(s: str) -> bool:
        return "".join(s.split()) in flat

    assert shown('<script>alert("x")</script>')  # shown as the text it is
    assert shown(f'<img src="file://{secret}">')
    assert shown(f"url({base}/bg.png)")
    assert shown("</blockquote></div><h1>fake</h1>")
    assert "TOP-SECRET" not in text and b"TOP-SECRET" not in Path(outcome.path).read_bytes()


def test_observers_are_named_only_when_the_setting_says_so(aggregated, session, app):
    # A spot check: its observer is called "Supervisor" when unnamed (an open class's would
    # be "Observer"); which row comes first without ORDER BY differs between databases.
    record = session.exec(
        select(Feedback)
        .where(Feedback.status == "submitted", Feedback.kind == FeedbackKind.SPOT_CHECK.value)
        .order_by(Feedback.id)
    ).first()
    record.problems = "节奏太快"
    session.add(record)
    session.commit()
    observer_name = session.get(type(aggregated.observers[0]), record.observer_id).name

    from evalsys.org.models import OrgUnit

    department = session.get(OrgUnit, record.department_id).code

    def comments(show: bool) -> list[dict]:
        app.config["REPORT_SHOW_OBSERVER_NAMES"] = show
        data = _data(session, app, department, record_term(session, record))
        return [c for p in data["parts"] for c in p["comments"] if c["problems"] == "节奏太快"]

    [hidden] = comments(False)
    assert hidden["observer"] is None and hidden["by"] == "Supervisor"  # their role only
    [named] = comments(True)
    assert named["observer"] == observer_name


def record_term(session, record) -> str:
    from evalsys.org.models import Term

    return session.get(Term, record.term_id).code


def test_report_data_runs_a_fixed_number_of_queries(aggregated, session, app, queries):
    counts: list[int] = []
    for code in ("ART-DES", "CS-SE", "CS", "U"):
        session.rollback()
        with queries() as statements:
            _data(session, app, code, "2026-2027-1")
        counts.append(len(statements))
    # A flat count, whatever the unit: figures, trends, comments, the loop, the training-plan
    # changes (five queries, departments and colleges only) and the themes (four).
    assert max(counts) <= 24, counts
    assert counts[3] < counts[2], counts  # the school's report lists no plan changes
    assert counts[0] == counts[1], counts  # a department with one course or with three


def test_templates_are_autoescaped(app):
    assert app.jinja_env.autoescape("reports/report.html") is True
    assert app.jinja_env.autoescape("reports/_part.html") is True


def test_unknown_or_unaggregated_term_is_a_clear_error(uni, session, app, tmp_path):
    with pytest.raises(report_data_mod.ReportError, match="has not been aggregated"):
        render_unit(session, app, term_code="2026-2027-1", unit_code="CS", out_dir=tmp_path)
    with pytest.raises(report_data_mod.ReportError, match="no term"):
        render_unit(session, app, term_code="NOPE", unit_code="CS", out_dir=tmp_path)
    assert session.exec(select(Report)).all() == []


def test_units_without_records_get_a_line_not_a_page(aggregated, session, app, tmp_path):
    """The art department's one course was never observed: the department's report names it,
    with its coverage, under "Without records this term", without a page of empty tables;
    the observed courses of another department keep their full parts, before it. In the
    college's report the department is one row saying "no records"."""
    dept = _render(session, app, "ART-DES", tmp_path)
    text = pdf_text(Path(dept.path))
    assert "Without records this term" in text
    tail = text[text.index("Without records this term") :]
    assert "AD1" in tail and "No records" in tail
    assert "Dimensions of" not in text and "Sections of" not in text
    art = pdf_text(Path(_render(session, app, "ART", tmp_path).path))
    assert any("ART-DES" in line and "no records" in line for line in art.splitlines()), art
    data = _data(session, app, "CS-SE", "2026-2027-1")
    assert not any(p["empty"] for p in data["parts"][1:])
    data = _data(session, app, "ART-DES", "2026-2027-1")
    assert [(p["code"], p["empty"]) for p in data["parts"][1:]] == [("AD1", True)]
    html = build_html(app, data, generated="x")
    assert html.index("Courses") < html.index("Without records this term")
    assert html.index("Without records this term") < html.index('id="u-course-AD1"')
