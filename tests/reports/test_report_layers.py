"""Layered reports: each report treats its own unit in depth and each child in one row, and
nothing is lost — every flag of every unit is in some report, every report names all its
children and points to their own reports.

The tree (school, three colleges, five departments) is rendered once for the module
(:func:`_tree`); the expectations come from the database (the aggregation's results, the
org tree, the records), never from the report data under test.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import col, select

from evalsys.aggregation.models import AggregateFlag, AggregateResult
from evalsys.feedback.models import Feedback
from evalsys.org.models import Course, OrgUnit
from evalsys.reports import data as report_data_mod
from evalsys.reports.render import build_html, render_unit

TERM = "2026-2027-1"
#: Every unit that gets a report, top down.
UNITS = ("U", "CS", "MATH", "ART", "CS-SE", "CS-AI", "MATH-PURE", "MATH-APP", "ART-DES")
FLAG_NAMES = {
    "below_threshold": "below threshold",
    "drop": "dropped",
    "below_parent": "below parent",
}
#: Comments written on every record of the term (see :func:`_write_comments`).
MARK = "PROBLEM-"

#: The rendered tree of this module: unit code -> (raw text, path). Filled once.
_TREE: dict[str, tuple[str, Path]] = {}


def squash(text: str) -> str:
    return "".join(text.split())


def raw_text(path: Path) -> str:
    """The PDF's text in the order it is drawn (a table row's cells one after the other)."""
    return subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _prepare(uni, session) -> None:
    """The world of this module: the art department observed at last — well, but for one
    poor lesson, so that it is not flagged and has one record below the threshold (a
    problem to quote) and others above it (nothing to explain) — and a problem written on
    every record of the term, naming the record: which ones a report quotes is then read
    off the PDF. The term aggregated again."""
    from evalsys.aggregation.service import aggregate_term

    items = uni.item_codes("spot_check")
    section = next(code for code in uni.sections if code.startswith("T2-AD1-"))
    for share in (0.95, 0.95, 0.9, 0.4):
        uni.add(
            "spot_check",
            observer=uni.observers[0],
            section=section,
            scores={i.code: i.scale_min + share * (i.scale_max - i.scale_min) for i in items},
        )
    session.commit()
    records = session.exec(
        select(Feedback).where(Feedback.status == "submitted", col(Feedback.term_id).is_not(None))
    ).all()
    for record in records:
        record.problems = f"{MARK}{record.id}-END"
        session.add(record)
    session.commit()
    aggregate_term(session, term=TERM)


def _tree(uni, session, app, out: Path) -> dict[str, tuple[str, Path]]:
    """Every report of the tree rendered (in the tests' site language), once per module."""
    if not _TREE:
        _prepare(uni, session)
        for code in UNITS:
            outcome = render_unit(session, app, term_code=TERM, unit_code=code, out_dir=out)
            assert outcome.status == "rendered", outcome
            path = Path(outcome.path)
            _TREE[code] = (raw_text(path), path)
    return _TREE


@pytest.fixture
def tree(aggregated, session, app, tmp_path_factory):
    """The rendered tree, for tests that read only the PDFs and the org tree (which
    :func:`_prepare` does not change)."""
    if not _TREE:
        return _tree(aggregated, session, app, tmp_path_factory.mktemp("tree"))
    return _TREE


@pytest.fixture
def prepared_tree(aggregated, session, app, tmp_path_factory):
    """The rendered tree, and this test's database as the tree was rendered from."""
    if not _TREE:
        return _tree(aggregated, session, app, tmp_path_factory.mktemp("tree"))
    _prepare(aggregated, session)
    return _TREE


def _term_id(session) -> int:
    from evalsys.org.models import Term

    return session.exec(select(Term.id).where(Term.code == TERM)).one()


def _flagged(session) -> list[tuple[AggregateResult, list[str]]]:
    """The term's flagged results with their flag codes, from the aggregation's tables (the
    "all kinds" copy of a single dimension left out: the kinds' own flags say it)."""
    term_id = _term_id(session)
    results = {
        (r.level, r.unit_id, r.kind, r.dimension): r
        for r in session.exec(
            select(AggregateResult).where(AggregateResult.term_id == term_id)
        ).all()
    }
    codes: dict[tuple, list[str]] = {}
    for f in session.exec(select(AggregateFlag).where(AggregateFlag.term_id == term_id)).all():
        if f.kind == "all" and f.dimension != "overall":
            continue
        codes.setdefault((f.level, f.unit_id, f.kind, f.dimension), []).append(f.flag)
    return [(results[key], sorted(flags)) for key, flags in codes.items()]


#: The marks of a course's matrix cell, in the flags' order (by code).
MARKS = {"below_parent": "◀", "below_threshold": "▼", "drop": "↘"}


def _course_part(text: str, course: Course) -> str:
    """A course's part of its department's report (squashed text): from its heading (the
    level, the name, the code) to the next part's heading or the appendix."""
    start = text.index(squash(f"Course {course.title_en or course.title} {course.code}"))
    ends = [text.find(squash("Observers' problems and suggestions on"), start)]
    ends.append(text.find("Appendix:", start))
    return text[start : min((e for e in ends if e > 0), default=len(text))]


def _course_rows(text: str, course: Course, others) -> str:
    """A course's rows in its department's courses-by-dimension table (squashed text): from
    its name to the next course's name, the table's end or the first course's part."""
    start = text.index(squash("Courses by dimension"))
    heads = [
        text.find(squash(f"Course {c.title_en or c.title} {c.code}"), start)
        for c in [course, *others]
    ]
    table = text[start : min((h for h in heads if h > 0), default=len(text))]
    name = squash(course.title_en or course.title)
    at = table.index(name)
    after = [
        table.find(squash(c.title_en or c.title), at + len(name))
        for c in others
        if c.code != course.code
    ]
    return table[at : min((a for a in after if a > 0), default=len(table))]


def _kind_label(kind: str) -> str:
    from evalsys.feedback.vocab import KIND_NAMES, name_of

    return "All kinds" if kind == "all" else name_of(KIND_NAMES, kind)


def _dimension_label(dimension: str) -> str:
    from evalsys.feedback.vocab import DIMENSION_NAMES, name_of

    return "Overall" if dimension == "overall" else name_of(DIMENSION_NAMES, dimension)


def test_every_flag_of_every_unit_is_in_some_report(prepared_tree, session, app):
    tree = prepared_tree
    flagged = _flagged(session)
    levels = {r.level for r, _codes in flagged}
    assert {"college", "department", "course"} <= levels, levels  # the world has them
    everything = {code: squash(text) for code, (text, _path) in tree.items()}
    courses = {c.code: c for c in session.exec(select(Course))}
    dept_of_course = {
        code: session.get(OrgUnit, c.department_id).code for code, c in courses.items()
    }
    checked = 0
    with app.app_context():
        for r, codes in flagged:
            if r.level == "section":
                # A section's flags are counted in its course's sections table (the
                # department's report): its code and each flag's name, in the same row.
                continue
            label = squash(f"{_kind_label(r.kind)} · {_dimension_label(r.dimension)}")
            row = f"{label}{r.n}{r.mean:.1f}"
            where = dept_of_course[r.unit_code] if r.level == "course" else r.unit_code
            text = everything[where]
            if r.level == "course":
                # The mean and its marks in the course's rows of the department's courses-
                # by-dimension table (the all-kinds overall in the line under the course's
                # name in its part), then a line per flagged result in the course's part —
                # "kind · dimension mean (n=…): each flag's name" — up to the next "·".
                marks = "".join(MARKS[flag] for flag in codes)
                part = _course_part(text, courses[r.unit_code])
                rows = (
                    part
                    if r.kind == "all"
                    else _course_rows(text, courses[r.unit_code], courses.values())
                )
                assert f"{r.mean:.1f}{marks}" in rows, (r.unit_code, r.kind, r.dimension, marks)
                row = f"{label}{r.mean:.1f}(n={r.n}):"
                assert row in part, (r.level, r.unit_code, r.kind, r.dimension, row)
                start = part.index(row) + len(row)
                after = part[start : part.index("·", start) if "·" in part[start:] else None]
                for flag in codes:
                    assert squash(FLAG_NAMES[flag]) in after, (r.unit_code, flag, after)
                checked += 1
                continue
            assert row in text, (r.level, r.unit_code, r.kind, r.dimension, row)
            after = text[text.index(row) : text.index(row) + 400]
            for flag in codes:
                assert squash(FLAG_NAMES[flag]) in after, (r.unit_code, flag)
            checked += 1
    assert checked >= 5
    # Sections: the row of each flagged section in its department's report carries the marks.
    for r, codes in flagged:
        if r.level != "section":
            continue
        texts = [t for t in everything.values() if squash(r.unit_code) in t]
        assert texts, r.unit_code
        assert any(squash(FLAG_NAMES[codes[0]]) in t for t in texts)


def test_each_report_names_all_its_children_and_links_their_reports(tree, session):
    for code in UNITS:
        text, path = tree[code]
        unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
        if unit.kind == "department":
            children = [
                c.code for c in session.exec(select(Course).where(Course.department_id == unit.id))
            ]
            links: set[str] = set()
        else:
            kids = session.exec(select(OrgUnit).where(OrgUnit.parent_id == unit.id)).all()
            children = [k.code for k in kids]
            for kid in kids:
                assert squash(kid.name) in squash(text), (code, kid.name)
            # Each child's own report: its file name in the text, its page as the link.
            links = {f"/reports/{TERM}/{k}.pdf?lang=en" for k in children}
            for k in children:
                assert f"{k}.en.pdf" in text, (code, k)
        for child in children:
            assert child in text, (code, child)
        uris = {
            a.get_object()["/A"].get("/URI")
            for page in PdfReader(path).pages
            for a in page.get("/Annots") or []
            if "/A" in a.get_object()
        }
        assert links <= uris, (code, links - uris)


@pytest.mark.once(
    "what the PDFs hold and leave out is decided by the templates; the data they are"
    " rendered from is checked on both databases by the tests beside it"
)
def test_school_and_college_reports_hold_no_part_per_child(tree):
    """Compact children: no child's dimension table, chart or part in a school's or a
    college's report; a department's report keeps its courses' parts."""
    school, _ = tree["U"]
    college, _ = tree["CS"]
    for text in (school, college):
        assert "Dimensions of" not in text and "Flagged results of" not in text
        assert "Observers' problems and suggestions on" not in text
    department, _ = tree["CS-SE"]
    assert "Courses by dimension" in department  # its courses' dimensions, one table
    pages = {code: len(PdfReader(path).pages) for code, (_t, path) in tree.items()}
    assert pages["U"] <= pages["CS"] + 2, pages  # no longer every college's pages again


def _page_fill(path: Path) -> list[float]:
    """How far down each page's body the text reaches (0-1), from pdftotext's word boxes;
    the running header and footer in the page margins (report.css: 18 mm, 20 mm) left out.
    Charts keep their labels as text, so a page of charts counts as filled."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    fills = []
    for page in re.findall(r"<page [^>]*>(.*?)</page>", out, flags=re.S):
        height = 841.89  # A4, points
        top, bottom = 18 / 25.4 * 72, height - 20 / 25.4 * 72
        ys = [float(y) for y in re.findall(r'yMax="([\d.]+)"', page)]
        body = [y for y in ys if top < y < bottom]
        fills.append((max(body) - top) / (bottom - top) if body else 0.0)
    return fills


@pytest.mark.once(
    "page breaks are the stylesheet's and WeasyPrint's; the data rendered is checked on"
    " both databases by the tests beside it"
)
def test_no_page_is_less_than_half_full_but_a_parts_last(tree):
    """The body is one part (the unit's own, then its courses' without a break each); the
    method appendix starts a page. Only the body's last page and the report's last page
    may be less than half full."""
    checked = 0
    for code, (text, path) in tree.items():
        fills = _page_fill(path)
        pages = text.split("\f")
        appendix = next(i for i, page in enumerate(pages) if "Appendix: method" in page)
        for i, fill in enumerate(fills):
            if i in (appendix - 1, len(fills) - 1):
                continue
            assert fill >= 0.5, (code, i + 1, round(fill, 2), [round(f, 2) for f in fills])
            checked += 1
    assert checked >= 3, checked  # pages that must be half full exist in this world


def _comments_quoted(text: str) -> list[int]:
    return [int(m) for m in re.findall(rf"{MARK}(\d+)-END", squash(text))]


def test_school_and_college_quote_only_explaining_comments_at_most_three_each(
    prepared_tree, session
):
    tree = prepared_tree
    """At most three per child, and only: the lowest-scored records of a flagged child, or
    records scored below their kind's threshold — computed here from the records."""
    from evalsys.aggregation.flags import Settings

    settings = Settings()
    term_id = _term_id(session)
    flagged_units = {(r.level, r.unit_code) for r, _codes in _flagged(session)}
    records = session.exec(
        select(Feedback).where(Feedback.term_id == term_id, Feedback.status == "submitted")
    ).all()
    unit_of = {u.id: u for u in session.exec(select(OrgUnit))}
    quoted_somewhere = 0
    for code, child_level in (
        ("U", "college"),
        ("CS", "department"),
        ("MATH", "department"),
        ("ART", "department"),
    ):
        quoted = set(_comments_quoted(tree[code][0]))
        by_child: dict[str, list[Feedback]] = {}
        for rec in records:
            dept = unit_of[rec.department_id]
            college = unit_of[dept.parent_id]
            if code != "U" and college.code != code:
                continue
            by_child.setdefault(college.code if code == "U" else dept.code, []).append(rec)
        expected: set[int] = set()
        for child, recs in by_child.items():
            recs.sort(
                key=lambda r: (
                    r.overall_score if r.overall_score is not None else 101,
                    r.visit_date,
                    r.id,
                )
            )
            if (child_level, child) not in flagged_units:
                recs = [
                    r
                    for r in recs
                    if r.overall_score is not None
                    and r.overall_score < settings.threshold_for(r.kind)
                ]
            mine = {r.id for r in recs[:3]}
            assert len(quoted & {r.id for r in by_child[child]}) <= 3, (code, child)
            expected |= mine
        assert quoted == expected, (code, sorted(quoted - expected), sorted(expected - quoted))
        quoted_somewhere += len(quoted)
    assert quoted_somewhere, "the world quotes nothing: the limit is not tested"
    # The art department is not flagged: of its four records only the poor one is quoted.
    assert ("department", "ART-DES") not in flagged_units
    art = set(_comments_quoted(tree["ART"][0]))
    assert len(art) == 1, art
    # A department's report keeps its courses' comments: more than three for a course.
    assert len(_comments_quoted(tree["CS-SE"][0])) > 3


@pytest.mark.once(
    "which dimension rows collapse is decided from the figures the data holds; the data's"
    " queries run on both databases in the tests above"
)
def test_too_few_rows_collapse_into_one_line_naming_them(aggregated, session, app):
    with app.app_context():
        data = report_data_mod.report_data(
            session, term_code=TERM, unit_code="CS-SE", config=app.config
        )
    html = build_html(app, data, generated="x")
    # The courses' tables hold no row that says only "too few" or "no records".
    tables = re.findall(r'<table class="dims[^"]*">(.*?)</table>', html, flags=re.S)
    assert tables
    for table in tables:
        for row in re.findall(r"<tr class=\"([^\"]*)\"", table):
            assert "few" not in row.split() or "flagged" in row.split(), row
    # ...and each such result is named, with its n, in the line after its part's table.
    term_id = _term_id(session)
    few = session.exec(
        select(AggregateResult).where(
            AggregateResult.term_id == term_id,
            col(AggregateResult.insufficient).is_(True),
            col(AggregateResult.level).in_(["department", "course"]),
        )
    ).all()
    lines = re.findall(r'<p class="few-line">(.*?)</p>', html, flags=re.S)
    assert lines, "no collapsed line: the world has too-few results in CS-SE's courses"
    named = squash(re.sub(r"<[^>]+>", "", " ".join(lines)))
    # The courses-by-dimension table (a row per course and kind, a column per dimension): a
    # too-few result is its cell's "n=…" with no mean; a kind with no result of enough
    # records is no row, named with its n beside its course in the line under the table;
    # the course's overall says "too few" in the line under its part's name.
    courses = dict(
        re.findall(r'<section class="part child" id="u-course-([^"]+)">(.*?)</section>', html, re.S)
    )
    assert courses
    block = re.search(r'<section class="course-dims">(.*?)</section>', html, re.S).group(1)
    cells: dict[tuple[str, str, str], str] = {}  # (course, kind label, dimension label) -> cell
    for table in re.findall(r"<table class=\"cdx.*?</table>", block, re.S):
        dims = re.findall(r'<th scope="col" class="num">(.*?)</th>', table)
        course = None
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1], re.S):
            named_course = re.search(r'href="#u-course-([^"]+)"', row)
            course = named_course.group(1) if named_course else course
            kind = re.search(r"<td>(.*?) <span", row).group(1)
            values = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
            for dim, value in zip(dims, values, strict=True):
                cells[(course, kind, dim)] = value
    few_line = squash(re.sub(r"<[^>]+>", "", block.split('<p class="few-line">')[-1]))
    checked = 0
    with app.app_context():
        for r in few:
            if r.unit_code not in ("CS-SE", "SE1", "SE2", "SE3"):
                continue
            if r.kind == "all" and r.dimension != "overall":
                continue  # drawn in the chart, never a table row
            if r.level == "department":
                assert squash(f"{_dimension_label(r.dimension)} n={r.n}") in named, (
                    r.unit_code,
                    r.kind,
                    r.dimension,
                )
                continue
            part = courses[r.unit_code]
            if r.kind == "all":
                figline = re.search(r'<p class="figline">(.*?)</p>', part, re.S).group(1)
                assert squash(f"n={r.n}, too few") in squash(figline), (r.unit_code, figline)
                checked += 1
                continue
            kind = _kind_label(r.kind)
            if not any(c == r.unit_code and k == kind for c, k, _d in cells):
                course = session.exec(select(Course).where(Course.code == r.unit_code)).one()
                title = squash(course.title_en or course.title)
                assert title in few_line, (r.unit_code, few_line)
                after = few_line[few_line.index(title) :].split(")")[0]
                assert squash(f"{kind} n=") in after, (r.unit_code, r.kind, after)
                checked += 1
                continue
            cell = cells[(r.unit_code, kind, _dimension_label(r.dimension))]
            assert cell == f'<span class="few">n={r.n}</span>', (r.unit_code, r.kind, cell)
            checked += 1
    assert checked >= 1


@pytest.mark.once(
    "the link is built from the configuration and the unit's code; the data's queries run"
    " on both databases in the tests above"
)
def test_children_link_their_reports_under_the_sites_address(aggregated, session, app):
    app.config["BASE_URL"] = "https://evalsys.example.edu/"
    with app.app_context():
        data = report_data_mod.report_data(
            session, term_code=TERM, unit_code="CS", config=app.config, locale="zh"
        )
    html = build_html(app, data, generated="x")
    for code in ("CS-SE", "CS-AI"):
        assert f'href="https://evalsys.example.edu/reports/{TERM}/{code}.pdf?lang=zh"' in html
        assert f"{code}.zh.pdf" in html
    # A department's courses are parts of its own PDF: their links stay inside it.
    with app.app_context():
        data = report_data_mod.report_data(
            session, term_code=TERM, unit_code="CS-SE", config=app.config
        )
    html = build_html(app, data, generated="x")
    assert 'href="#u-course-SE1"' in html and "evalsys.example.edu" not in html
