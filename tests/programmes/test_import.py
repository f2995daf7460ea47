"""programmes.csv in the import: a good file, each kind of bad row located by file, row and
column, all or nothing, the dry run, an .xlsx, and the free-text programmes of old actions
linked where they are a code."""

from __future__ import annotations

from datetime import date

import pytest
from openpyxl import Workbook
from sqlmodel import col, select

from evalsys.importer.service import import_directory, import_tables
from evalsys.loop.actions import ActionInput, update_action
from evalsys.loop.models import Action, Problem
from evalsys.org.models import Course, Term
from evalsys.programmes.models import Programme, ProgrammeCourse, TrainingPlan

HEADER = "code,name,department,courses,name_en,plan_version,plan_term,plan_summary"
GOOD = [
    {
        "code": "SE-BS",
        "name": "软件工程",
        "department": "CS-SE",
        "courses": "SE101; SE102；MA101",  # spaces and a Chinese semicolon are fine
        "name_en": "Software Engineering",
        "plan_version": "2025",
        "plan_term": "T1",
        "plan_summary": "四年制",
    },
    {"code": "AI-BS", "name": "人工智能", "department": "CS-AI", "courses": ""},
]


@pytest.fixture
def org(factory, session):
    units = factory.university()
    factory.term("T1", date(2025, 9, 1), date(2026, 1, 20))
    for code, unit in (("SE101", "CS-SE"), ("SE102", "CS-SE"), ("MA101", "MATH-PURE")):
        factory.course(code, units[unit])
    return units


def _links(session) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in session.exec(select(Programme)).all():
        stmt = select(ProgrammeCourse).where(ProgrammeCourse.programme_id == p.id)
        out[p.code] = {session.get(Course, link.course_id).code for link in session.exec(stmt)}
    return out


def test_good_file_then_changes_and_a_second_version(org, session):
    result = import_tables(session, {"programmes.csv": GOOD})
    assert result.ok, result.report_lines()
    assert result.counts["programmes.csv"] == {"created": 2, "updated": 0, "unchanged": 0}
    session.commit()
    assert _links(session) == {"SE-BS": {"SE101", "SE102", "MA101"}, "AI-BS": set()}
    se = session.exec(select(Programme).where(Programme.code == "SE-BS")).one()
    assert (se.name_en, se.department_id) == ("Software Engineering", org["CS-SE"].id)
    plan = session.exec(select(TrainingPlan)).one()
    assert (plan.programme_id, plan.version, plan.summary) == (se.id, "2025", "四年制")

    # The same file again changes nothing; a course dropped and a new version are updates.
    assert import_tables(session, {"programmes.csv": GOOD}).counts["programmes.csv"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 2,
    }
    changed = [{**GOOD[0], "courses": "SE101", "plan_version": "2026"}, GOOD[1]]
    result = import_tables(session, {"programmes.csv": changed})
    assert result.counts["programmes.csv"]["updated"] == 1
    session.commit()
    assert _links(session)["SE-BS"] == {"SE101"}
    assert sorted(session.exec(select(TrainingPlan.version)).all()) == ["2025", "2026"]
    # Without the summary column a stored version keeps its summary.
    short = [{k: v for k, v in changed[0].items() if k != "plan_summary"}]
    result = import_tables(session, {"programmes.csv": short})
    assert result.counts["programmes.csv"]["unchanged"] == 1, result.changes


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        ({"department": "NOPE"}, "department", "unknown department 'NOPE'"),
        ({"department": "CS"}, "department", "a programme belongs to a department"),
        ({"courses": "SE101;XX9"}, "courses", "unknown course(s) 'XX9'"),
        ({"name": ""}, "name", "missing value"),
        ({"plan_version": "", "plan_term": "T1"}, "plan_version", "needs its version"),
        ({"plan_term": "T9"}, "plan_term", "unknown plan_term 'T9'"),
        ({"name": "x" * 201}, "name", "at most 200"),
    ],
)
def test_each_bad_row_is_located_and_nothing_is_written(org, session, row, column, words):
    rows = [GOOD[1], {**GOOD[0], **row}]
    result = import_tables(session, {"programmes.csv": rows})
    assert not result.ok
    [issue] = result.errors
    assert (issue.file, issue.row, issue.column) == ("programmes.csv", 3, column)
    assert words in issue.message
    assert session.exec(select(Programme)).all() == []  # the good row is not written either


def test_duplicate_code_and_dry_run(org, session):
    result = import_tables(session, {"programmes.csv": [GOOD[0], GOOD[0]]})
    [issue] = result.errors
    assert (issue.row, issue.column) == (3, "code") and "duplicate" in issue.message
    result = import_tables(session, {"programmes.csv": GOOD}, dry_run=True)
    assert result.ok and result.counts["programmes.csv"]["created"] == 2
    assert sorted(result.changes["programmes.csv"].created) == ["AI-BS", "SE-BS"]
    assert session.exec(select(Programme)).all() == []


def test_xlsx_errors_name_the_workbook(org, session, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append(["SE-BS", "软件工程", "CS-SE", "SE101;NOPE", "", "", "", ""])
    book.save(tmp_path / "programmes.xlsx")
    result = import_directory(session, tmp_path)
    [issue] = result.errors
    assert (issue.file, issue.row, issue.column) == ("programmes.xlsx", 2, "courses")
    (tmp_path / "programmes.xlsx").unlink()
    (tmp_path / "programmes.csv").write_text(f"{HEADER}\nSE-BS,软件工程,CS-SE,SE101,,,,\n")
    assert import_directory(session, tmp_path).ok


def test_import_links_old_free_text_where_it_is_a_code(org, factory, session):
    """Old actions typed their programme; the import links those whose text is a code."""
    head = factory.user("head", "head@CS-SE")
    term = session.exec(select(Term)).one()
    problem = Problem(term_id=term.id, unit_id=org["CS-SE"].id, title="Labs", status="open")
    session.add(problem)
    session.flush()
    texts = [" SE-BS ", "Software engineering", "se-bs"]
    for text in texts:
        session.add(
            Action(
                problem_id=problem.id,
                title="t",
                owner_id=head.id,
                due_date=date(2026, 1, 1),
                plan_programme=text,
                plan_change="more labs",
            )
        )
    session.commit()
    assert import_tables(session, {"programmes.csv": GOOD}).ok
    session.commit()
    session.expire_all()
    se = session.exec(select(Programme).where(Programme.code == "SE-BS")).one()
    rows = session.exec(select(Action).order_by(col(Action.id))).all()
    assert [(a.plan_programme_id, a.plan_programme) for a in rows] == [
        (se.id, None),
        (None, "Software engineering"),
        (None, "se-bs"),  # codes are matched exactly: a near miss stays text
    ]
    # Editing a kept one to name the programme replaces its text.
    data = ActionInput(
        title="t",
        owner_id=head.id,
        due_date=date(2026, 1, 1),
        plan_programme=rows[1].plan_programme,  # what the edit form passes on
        plan_programme_id=se.id,
        plan_change="more labs",
        plan_from_term_id=term.id,
    )
    update_action(session, action=rows[1], user=head, data=data, today=date(2026, 1, 1))
    assert (rows[1].plan_programme_id, rows[1].plan_programme) == (se.id, None)


def test_a_department_holding_a_programme_cannot_become_a_college(org, session):
    assert import_tables(session, {"programmes.csv": GOOD[1:]}).ok
    session.commit()
    row = {"code": "CS-AI", "name": "AI", "kind": "college", "parent": "U"}
    result = import_tables(session, {"units.csv": [row]})
    [issue] = [e for e in result.errors if "programme AI-BS" in e.message]
    assert (issue.file, issue.row, issue.column) == ("units.csv", 2, "kind")
