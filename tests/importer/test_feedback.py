"""Historical feedback in `evalsys import DIR`: feedback.csv, checked like the forms.

Files are written into tmp_path as a spreadsheet would save them. Error cases
check the message (file, row, column) and that not one row of any file was
written: every table is compared before and after.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select as select_table
from sqlmodel import Session, SQLModel, col, select

from evalsys.accounts.models import AuditEvent
from evalsys.clock import local_today
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.models import Feedback, FeedbackRevision, FeedbackScore, RubricItem
from evalsys.importer.feedback import GRADE_WORDS, row_key
from evalsys.importer.service import import_directory, import_tables
from evalsys.org.models import OrgUnit, Section, Term
from tests.fixtures.feedback_world import full_scores

FEEDBACK = "feedback.csv"
REQUIRED = ["kind", "section", "group", "observer", "date", "overall", "comment"]


def items(session: Session, kind: str) -> list[str]:
    return list(full_scores(session, kind))


def header(session: Session) -> list[str]:
    """The required columns, some optional ones, and the score columns of every kind."""
    codes: list[str] = []
    for kind in ("spot_check", "open_class", "tutor_group"):
        codes += [c for c in items(session, kind) if c not in codes]
    optional = ["announced", "observer_level", "meeting_format", "enrolled", "present", "late"]
    optional += ["attending", "topics", "class_period", "location", "strengths", "备注"]
    return REQUIRED + optional + [f"score:{c}" for c in codes]


def spot(session: Session, **cells: Any) -> dict[str, Any]:
    """A good spot check by `sup` on SE101-01 (8 of 10 everywhere but method_media)."""
    row: dict[str, Any] = dict.fromkeys(REQUIRED, "") | {
        "kind": "spot_check",
        "section": "SE101-01",
        "observer": "sup",
        "date": "2026-10-15",
        "overall": "良好",
        "comment": "讲解清楚，互动偏少",
        "announced": "否",
        "enrolled": "40",
        "present": "36",
        "late": "2",
        "class_period": "3-4节",
        "location": "教一-201",
        "strengths": "条理清楚",
        "备注": "a note column, ignored",
    }
    row |= {f"score:{c}": "8" for c in items(session, "spot_check") if c != "method_media"}
    row |= cells
    return row


def open_class(session: Session, **cells: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(REQUIRED, "") | {
        "kind": "公开课",
        "section": "SE101-01",
        "observer": "leader",
        "date": "2026-10-20",
        "overall": "中等",
        "comment": "",
        "observer_level": "院领导",
    }
    return row | {f"score:{c}": "7" for c in items(session, "open_class")} | cells


def tutor(session: Session, **cells: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(REQUIRED, "") | {
        "kind": "tutor_group",
        "group": "G-SE-1",
        "observer": "tutor",
        "date": "2026-11-02",
        "overall": "excellent",
        "comment": "学生反映实习安排偏晚",
        "meeting_format": "student_discussion",
        "attending": "8",
        "topics": "选课与实习",
    }
    return row | {f"score:{c}": "4" for c in items(session, "tutor_group")} | cells


def feedback_csv(session: Session, rows: list[dict[str, Any]], columns: list[str] | None = None):
    columns = columns or header(session)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v for k, v in row.items() if k in columns})
    return out.getvalue()


#: A past term and a section in it, imported in the same run as the feedback about it.
PAST = {
    "terms.csv": "code,name,start_date,end_date\n"
    "2025-2026-2,2025-2026学年第二学期,2026-02-24,2026-07-10\n",
    "sections.csv": "code,course,term,teacher,enrolled\n"
    "SE101-2026-S,SE101,2025-2026-2,teacher,50\n",
}


def write_files(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def database(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log, read in a fresh transaction."""
    session.rollback()
    session.expire_all()
    tables = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name != AuditEvent.__tablename__:
            rows = session.connection().execute(select_table(table)).all()
            tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    session.rollback()
    return tables


def records(session: Session) -> list[Feedback]:
    session.rollback()
    session.expire_all()
    return list(session.exec(select(Feedback).order_by(col(Feedback.visit_date))).all())


def scores_of(session: Session, feedback: Feedback) -> dict[str, float]:
    stmt = (
        select(RubricItem.code, FeedbackScore.value)
        .join(RubricItem, col(RubricItem.id) == FeedbackScore.item_id)
        .where(FeedbackScore.feedback_id == feedback.id)
    )
    return dict(session.exec(stmt).all())


def good_files(session: Session) -> dict[str, str]:
    rows = [
        spot(session),
        spot(session, section="SE101-2026-S", date="2026-03-10", overall="优秀", enrolled="50"),
        open_class(session),
        tutor(session),
    ]
    return PAST | {FEEDBACK: feedback_csv(session, rows)}


# --- a good import ---------------------------------------------------------------------


def test_good_import_stores_every_record(cli, session, world, tmp_path):
    result = cli("import", str(write_files(tmp_path / "in", good_files(session))))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "terms.csv: 1 created, 0 updated, 0 unchanged",
        "sections.csv: 1 created, 0 updated, 0 unchanged",
        "feedback.csv: 4 created, 0 updated, 0 unchanged",
    ]
    past_spot, spot_check, open_, tutor_ = records(session)
    past_section = session.exec(select(Section).where(Section.code == "SE101-2026-S")).one()
    past_term = session.exec(select(Term).where(Term.code == "2025-2026-2")).one()
    cs_se = session.exec(select(OrgUnit).where(OrgUnit.code == "CS-SE")).one()

    # The spot check, field by field.
    assert (spot_check.kind, spot_check.status) == ("spot_check", "submitted")
    assert (spot_check.section_id, spot_check.group_id) == (world.se.id, None)
    assert (spot_check.term_id, spot_check.department_id) == (world.term.id, cs_se.id)
    assert spot_check.observer_id == world.supervisor.id
    assert spot_check.visit_date == date(2026, 10, 15)
    assert (spot_check.announced, spot_check.enrolled, spot_check.present, spot_check.late) == (
        False,
        40,
        36,
        2,
    )
    assert (spot_check.class_period, spot_check.location) == ("3-4节", "教一-201")
    assert (spot_check.comment, spot_check.strengths) == ("讲解清楚，互动偏少", "条理清楚")
    assert spot_check.overall_grade == "good"  # 良好
    expected = {c: 8.0 for c in items(session, "spot_check") if c != "method_media"}
    assert scores_of(session, spot_check) == expected
    # 8/10 on every answered item; the unanswered optional one is left out, not zero.
    assert spot_check.overall_score == pytest.approx(80.0)
    assert spot_check.idempotency_key.startswith("import:")

    # A past term's section, created by the same import.
    assert (past_spot.section_id, past_spot.term_id) == (past_section.id, past_term.id)
    assert (past_spot.visit_date, past_spot.overall_grade) == (date(2026, 3, 10), "excellent")

    assert (open_.kind, open_.observer_level, open_.overall_grade) == (
        "open_class",
        "college_leader",
        "fair",
    )
    assert open_.observer_id == world.leader.id and open_.comment is None
    assert open_.overall_score == pytest.approx(70.0)

    assert (tutor_.kind, tutor_.group_id, tutor_.section_id) == (
        "tutor_group",
        world.group.id,
        None,
    )
    assert (tutor_.meeting_format, tutor_.attending, tutor_.topics) == (
        "student_discussion",
        8,
        "选课与实习",
    )
    # 4 on a 1..5 scale everywhere: (4 - 1) / 4 = 75.
    assert tutor_.overall_score == pytest.approx(75.0)
    assert scores_of(session, tutor_) == {c: 4.0 for c in items(session, "tutor_group")}

    # Recorded by the import for the observer: the revision names no user, only the row.
    revision = session.exec(
        select(FeedbackRevision).where(FeedbackRevision.feedback_id == spot_check.id)
    ).one()
    assert (revision.action, revision.user_id) == ("create", None)
    assert revision.changes["source"] == [None, "feedback.csv row 2"]
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "import")).one()
    assert "feedback.csv: 4 created" in audit.detail


def test_reimport_creates_nothing(cli, session, world, tmp_path):
    directory = write_files(tmp_path / "in", good_files(session))
    assert cli("import", str(directory)).exit_code == 0
    before = database(session)

    again = cli("import", str(directory))

    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[-1] == "feedback.csv: 0 created, 0 updated, 4 unchanged"
    assert database(session) == before


def test_reimport_with_rows_added_and_reordered_adds_only_the_new(session, world):
    rows = [spot(session), tutor(session)]
    assert import_tables(session, {FEEDBACK: rows}).ok
    session.commit()
    result = import_tables(
        session, {FEEDBACK: [tutor(session), open_class(session), spot(session)]}
    )
    assert result.errors == []
    assert result.counts[FEEDBACK] == {"created": 1, "updated": 0, "unchanged": 2}
    session.commit()
    assert len(records(session)) == 3


def test_same_row_written_differently_is_the_same_record(session, world):
    first = spot(session, overall="good", announced="no", date="2026-10-15")
    assert import_tables(session, {FEEDBACK: [first]}).ok
    session.commit()
    same = spot(session, overall="良好", announced="否")
    same |= {k: "8.0" for k in same if k.startswith("score:")}
    result = import_tables(session, {FEEDBACK: [same]})
    assert result.counts[FEEDBACK]["unchanged"] == 1


def test_key_is_deterministic_and_depends_on_every_value():
    data = FeedbackInput(kind="spot_check", section="S", date=date(2026, 10, 1), scores={"a": 8})
    assert row_key("sup", data) == row_key("sup", FeedbackInput(**vars(data)))
    assert row_key("sup", data) != row_key("sup2", data)
    assert row_key("sup", data) != row_key("sup", FeedbackInput(**(vars(data) | {"comment": "x"})))
    assert len(row_key("sup", data)) <= 200


@pytest.mark.parametrize(
    ("word", "grade"),
    [
        ("优秀", "excellent"),
        ("良好", "good"),
        ("中等", "fair"),
        ("及格", "pass"),
        ("合格", "pass"),
        ("不及格", "fail"),
        ("不合格", "fail"),
        ("Excellent", "excellent"),
        ("FAIL", "fail"),
        ("", None),
    ],
)
def test_overall_grade_words(session, world, word, grade):
    result = import_tables(session, {FEEDBACK: [spot(session, overall=word)]})
    assert result.errors == []
    session.commit()
    assert records(session)[0].overall_grade == grade


def test_grade_words_cover_every_grade():
    assert set(GRADE_WORDS.values()) == {"excellent", "good", "fair", "pass", "fail"}


def test_dry_run_writes_nothing_of_any_file(cli, session, world, tmp_path):
    before = database(session)
    result = cli("import", str(write_files(tmp_path / "in", good_files(session))), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "terms.csv: 1 created, 0 updated, 0 unchanged",
        "sections.csv: 1 created, 0 updated, 0 unchanged",
        "feedback.csv: 4 created, 0 updated, 0 unchanged",
        "Dry run: nothing was written.",
    ]
    assert database(session) == before


def test_dry_run_through_python_leaves_the_session_clean(session, world):
    tables = {
        name: list(csv.DictReader(io.StringIO(text))) for name, text in good_files(session).items()
    }
    result = import_tables(session, tables, dry_run=True)
    assert result.errors == [] and result.counts[FEEDBACK]["created"] == 4
    assert not session.new and not session.dirty
    session.commit()
    assert records(session) == []
    assert session.exec(select(Section).where(Section.code == "SE101-2026-S")).first() is None


# --- errors: file, row, column; nothing written -----------------------------------------

FUTURE = (local_today() + timedelta(days=2)).isoformat()

ROW_ERRORS = [
    (
        {"observer": "ghost"},
        "observer",
        "unknown user 'ghost': neither in people.csv nor in the database",
    ),
    ({"observer": ""}, "observer", "missing value: every row needs the observer's username"),
    (
        {"section": "MA101-01"},
        "section",
        "observer 'sup': the section 'MA101-01' is outside your scope for spot checks",
    ),
    ({"observer": "teacher"}, "section", "observer 'teacher': the section 'SE101-01' is outside"),
    ({"date": FUTURE}, "date", f"{FUTURE} is in the future"),
    ({"date": "2026-08-31"}, "date", "2026-08-31 is outside the term 2026-2027-1"),
    ({"date": "2026/10/15"}, "date", "must be a date written YYYY-MM-DD"),
    ({"date": ""}, "date", "required: the date of the visit"),
    ({"score:content_accuracy": "11"}, "score:content_accuracy", "11 is outside the scale 0–10"),
    ({"score:content_accuracy": "eight"}, "score:content_accuracy", "must be a number"),
    ({"score:content_accuracy": ""}, "score:content_accuracy", "required: "),
    (
        {"score:plan_goals": "3"},
        "score:plan_goals",
        "no item 'plan_goals' in the spot_check rubric",
    ),
    ({"overall": "great"}, "overall", "unknown grade 'great'; one of excellent, good, fair"),
    ({"kind": "lecture"}, "kind", "unknown kind 'lecture'"),
    ({"kind": ""}, "kind", "required: spot_check, open_class or tutor_group"),
    ({"present": "41"}, "present", "41 present is more than the 40 enrolled"),
    ({"enrolled": "forty"}, "enrolled", "must be a whole number"),
    ({"late": "-1"}, "late", "must be 0 or more"),
    ({"attending": "5"}, "attending", "only tutor-group reports count attending"),
    ({"announced": "maybe"}, "announced", "must be true or false"),
    ({"announced": ""}, "announced", "required: say whether the visit was announced"),
    ({"observer_level": "peer"}, "observer_level", "only open class records have this"),
    ({"section": ""}, "section", "required: the code of the section you visited"),
    ({"section": "NOPE-01"}, "section", "there is no section with the code 'NOPE-01'"),
    ({"group": "G-SE-1"}, "group", "only tutor-group reports name a group"),
    ({"comment": "长" * 4001}, "comment", "4001 characters is too long; the limit is 4000"),
    ({"comment": "bad\x00byte"}, "comment", "contains a control character (such as NUL)"),
    ({"location": "A\x1b[2J"}, "location", "contains a control character (such as NUL)"),
    ({"enrolled": "1" + "0" * 49}, "enrolled", "must be at most 100000"),
    ({"score:content_accuracy": "1" + "0" * 400}, "score:content_accuracy", "must be a number"),
]


@pytest.mark.parametrize(("cells", "column", "message"), ROW_ERRORS)
def test_bad_row_is_located_and_nothing_is_written(
    session, world, tmp_path, cells, column, message
):
    good = open_class(session)
    directory = write_files(
        tmp_path / "in", PAST | {FEEDBACK: feedback_csv(session, [good, spot(session, **cells)])}
    )
    before = database(session)

    result = import_directory(session, directory)
    session.rollback()

    assert [(e.file, e.row, e.column) for e in result.errors] == [(FEEDBACK, 3, column)]
    assert message in result.errors[0].message, result.errors[0].message
    assert str(result.errors[0]).startswith(f"feedback.csv, row 3, column {column}: ")
    assert result.counts == {}
    assert database(session) == before  # not the good row, not the term or section either


def test_observer_scope_per_kind(session, world):
    rows = [
        tutor(session, observer="tutor2"),
        spot(session, observer="teacher"),
        open_class(session, observer="sup"),
    ]
    result = import_tables(session, {FEEDBACK: rows})
    assert [(e.row, e.column, e.message) for e in result.errors] == [
        (2, "group", "observer 'tutor2': you are not the tutor of the group 'G-SE-1'"),
        (
            3,
            "section",
            "observer 'teacher': the section 'SE101-01' is outside your scope for spot checks",
        ),
        (
            4,
            "section",
            "observer 'sup': the section 'SE101-01' is outside your scope for open classes",
        ),
    ]


def test_deactivated_observer(session, world):
    world.supervisor.active = False
    session.add(world.supervisor)
    session.commit()
    result = import_tables(session, {FEEDBACK: [spot(session)]})
    assert [str(e) for e in result.errors] == [
        "feedback.csv, row 2, column observer: the account 'sup' is deactivated; "
        "reactivate it for the import"
    ]


def test_every_bad_row_and_cell_is_listed_at_once(session, world):
    rows = [
        spot(session, present="50", comment="x" * 5000),
        spot(session),
        open_class(session, overall="great", date="2026/10/20"),
        spot(session),  # the same as row 3
    ]
    result = import_tables(session, {FEEDBACK: rows})
    assert [(e.row, e.column) for e in result.errors] == [
        (2, "present"),
        (2, "comment"),
        (4, "overall"),
        (4, "date"),
        (5, None),
    ]
    assert result.errors[-1].message.startswith("the same record as row 3")
    session.rollback()
    assert records(session) == []


def test_missing_columns_are_named(session, world):
    rows = [{"kind": "spot_check", "section": "SE101-01", "date": "2026-10-15"}]
    result = import_tables(session, {FEEDBACK: rows})
    assert [str(e) for e in result.errors] == [
        "feedback.csv, row 1, column group, observer, overall, comment: missing column(s) "
        "group, observer, overall, comment; the header (row 1) must name kind, section, group, "
        "observer, date, overall, comment and a score:ITEM_CODE column per rubric item"
    ]


def test_empty_score_column_name(session, world):
    result = import_tables(session, {FEEDBACK: [spot(session) | {"score:": "1"}]})
    assert [str(e) for e in result.errors] == [
        "feedback.csv, row 1, column score:: a score column names its item: score:ITEM_CODE"
    ]


def test_blank_lines_are_skipped_and_rows_keep_their_numbers(session, world):
    blank = dict.fromkeys(spot(session), "")
    result = import_tables(session, {FEEDBACK: [blank, spot(session, overall="great")]})
    assert [(e.row, e.column) for e in result.errors] == [(3, "overall")]


def test_all_or_nothing_with_units_and_sections(session, world, tmp_path):
    """A new department and section, and feedback on it: one bad feedback row undoes all."""
    files = {
        "units.csv": "code,name,kind,parent\nCS-DS,数据科学系,department,CS\n",
        "courses.csv": "code,title,department\nDS101,数据科学导论,CS-DS\n",
        "sections.csv": "code,course,term,teacher,enrolled\nDS101-01,DS101,2026-2027-1,,30\n",
    }
    good = spot(session, section="DS101-01", enrolled="30", present="30", late="0")
    bad = spot(session, section="DS101-01", date="2026-10-16", overall="superb")
    before = database(session)

    result = import_directory(
        session,
        write_files(tmp_path / "bad", files | {FEEDBACK: feedback_csv(session, [good, bad])}),
    )
    session.rollback()

    assert [str(e) for e in result.errors] == [
        "feedback.csv, row 3, column overall: unknown grade 'superb'; one of excellent, good, "
        "fair, pass, fail (or 优秀, 良好, 中等, 及格/合格, 不及格/不合格)"
    ]
    assert database(session) == before

    result = import_directory(
        session, write_files(tmp_path / "good", files | {FEEDBACK: feedback_csv(session, [good])})
    )
    assert result.errors == []
    session.commit()
    [stored] = records(session)
    department = session.exec(select(OrgUnit).where(OrgUnit.code == "CS-DS")).one()
    assert stored.department_id == department.id


def test_org_errors_and_feedback_cell_errors_are_listed_together(session, world):
    tables = {
        "sections.csv": [
            {
                "code": "X-01",
                "course": "NOPE",
                "term": "2026-2027-1",
                "teacher": "",
                "enrolled": "1",
            }
        ],
        "people.csv": [
            {"username": "newsup", "name": "新督导", "email": "", "roles": "supervisor@CS"}
        ],
        FEEDBACK: [
            spot(session, section="X-01", overall="great"),  # the section waits for its file
            spot(session, observer="newsup", date="15.10.2026"),  # a new observer is fine
            spot(session, observer="ghost"),
        ],
    }
    result = import_tables(session, tables)
    assert [str(e) for e in result.errors] == [
        "sections.csv, row 2, column course: unknown course 'NOPE': "
        "neither in courses.csv nor in the database",
        "feedback.csv, row 2, column overall: unknown grade 'great'; one of excellent, good, "
        "fair, pass, fail (or 优秀, 良好, 中等, 及格/合格, 不及格/不合格)",
        "feedback.csv, row 3, column date: must be a date written YYYY-MM-DD",
        "feedback.csv, row 4, column observer: unknown user 'ghost': neither in people.csv "
        "nor in the database",
    ]


def test_new_observer_from_people_csv(session, world):
    tables = {
        "people.csv": [
            {"username": "newsup", "name": "新督导", "email": "", "roles": "supervisor@CS"}
        ],
        FEEDBACK: [spot(session, observer="newsup")],
    }
    result = import_tables(session, tables)
    assert result.errors == []
    session.commit()
    [stored] = records(session)
    assert session.get(type(world.supervisor), stored.observer_id).username == "newsup"


def test_feedback_file_without_header(session, world, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "Feedback.CSV").write_text("\n", encoding="utf-8")
    result = import_directory(session, tmp_path / "in")
    assert [str(e) for e in result.errors] == [
        "feedback.csv, row 1: no header row; row 1 must be "
        "kind,section,group,observer,date,overall,comment"
    ]


# --- the command ----------------------------------------------------------------------


def test_cli_exit_codes(cli, session, world, tmp_path):
    bad = write_files(
        tmp_path / "bad", {FEEDBACK: feedback_csv(session, [spot(session, overall="great")])}
    )
    result = cli("import", str(bad))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "feedback.csv, row 2, column overall: unknown grade 'great'; one of excellent, good, "
        "fair, pass, fail (or 优秀, 良好, 中等, 及格/合格, 不及格/不合格)",
        "Nothing was written: 1 error. Fix it and run the import again "
        "(--dry-run checks without writing).",
    ]
    assert records(session) == []

    good = write_files(tmp_path / "good", {FEEDBACK: feedback_csv(session, [spot(session)])})
    result = cli("import", str(good))
    assert result.exit_code == 0, result.output
    assert result.output == "feedback.csv: 1 created, 0 updated, 0 unchanged\n"
    assert len(records(session)) == 1
