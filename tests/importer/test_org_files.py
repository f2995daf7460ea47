"""The CSV import: a full good import checked row by row, re-imports, dry runs, every error.

Files are written into tmp_path as a user would save them. Error cases check
three things each: the exit status, a message naming file, row and column, and
that not one row was written (every table compared before and after).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select as select_table
from sqlmodel import Session, SQLModel, col, select

from evalsys.accounts.access import Perm, may
from evalsys.accounts.models import AuditEvent, RoleGrant, User
from evalsys.importer.service import ImportIssue, ImportResult, import_directory, import_tables
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section, Term, TutorGroup

GOOD: dict[str, str] = {
    # Children before parents on purpose: the row order must not matter.
    "units.csv": (
        "code,name,kind,parent,name_en\n"
        "CS-SE,软件工程系,department,CS,Software Engineering\n"
        "U,示范大学,school,,Demo University\n"
        "CS,计算机学院,college,U,Computer Science\n"
        "CS-AI,人工智能系,department,CS,\n"
        "MATH,数学学院,college,U,Mathematics\n"
        "MATH-PURE,基础数学系,department,MATH,\n"
    ),
    "people.csv": (
        "username,name,email,roles\n"
        "dean.cs,李娜,li.na@example.edu,dean@CS\n"
        "head.se,王强,,head@CS-SE;teacher@CS-SE\n"
        "t.zhang,张伟,zhang.wei@example.edu,teacher@CS-SE\n"
        "t.liu,刘洋,liu.yang@example.edu,teacher@CS-AI;tutor@CS-AI\n"
        "sup,陈静,chen.jing@example.edu,supervisor@U\n"
        "nobody,赵敏,,\n"
    ),
    "terms.csv": (
        "code,name,start_date,end_date,name_en\n"
        "2026-2027-1,2026-2027学年第一学期,2026-09-01,2027-01-20,Autumn 2026\n"
        "2026-2027-2,2026-2027学年第二学期,2027-02-24,2027-07-10,\n"
    ),
    "courses.csv": (
        "code,title,department,title_en\n"
        "SE101,软件工程导论,CS-SE,Introduction to Software Engineering\n"
        "AI201,机器学习,CS-AI,Machine Learning\n"
        "MA101,数学分析,MATH-PURE,\n"
    ),
    "sections.csv": (
        "code,course,term,teacher,enrolled\n"
        "SE101-01,SE101,2026-2027-1,t.zhang,45\n"
        "SE101-02,SE101,2026-2027-1,head.se,38\n"
        "AI201-01,AI201,2026-2027-1,t.liu,60\n"
        "MA101-01,MA101,2026-2027-2,,0\n"
    ),
    "groups.csv": (
        "code,name,department,term,tutor,size\n"
        "G-AI-1,人工智能导师组一,CS-AI,2026-2027-1,t.liu,12\n"
        "G-SE-1,软件工程导师组,CS-SE,2026-2027-1,,8\n"
    ),
}

GOOD_SUMMARY = [
    "units.csv: 6 created, 0 updated, 0 unchanged",
    "people.csv: 6 created, 0 updated, 0 unchanged",
    "terms.csv: 2 created, 0 updated, 0 unchanged",
    "courses.csv: 3 created, 0 updated, 0 unchanged",
    "sections.csv: 4 created, 0 updated, 0 unchanged",
    "groups.csv: 2 created, 0 updated, 0 unchanged",
]


def write_files(directory: Path, files: dict[str, str], encoding: str = "utf-8") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding=encoding)
    return directory


def changed(name: str, old: str, new: str, base: dict[str, str] = GOOD) -> dict[str, str]:
    """GOOD with one piece of one file replaced (the piece must be there)."""
    assert old in base[name], f"{old!r} is not in {name}"
    return {**base, name: base[name].replace(old, new)}


def database(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted; a fresh transaction so the CLI's commits show."""
    session.rollback()
    session.expire_all()
    connection = session.connection()
    tables = {}
    for table in SQLModel.metadata.sorted_tables:
        rows = connection.execute(select_table(table)).all()
        tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    session.rollback()
    return tables


def domain(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """The tables an import maintains (the audit log grows with each run, by design)."""
    tables = database(session)
    del tables[AuditEvent.__tablename__]
    return tables


def unit_ids(session: Session) -> dict[str, int]:
    return {u.code: u.id for u in session.exec(select(OrgUnit))}


def user(session: Session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def grants(session: Session, username: str) -> set[str]:
    stmt = (
        select(RoleGrant.role, OrgUnit.code)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .join(User, col(User.id) == RoleGrant.user_id)
        .where(User.username == username)
    )
    return {f"{role}@{code}" for role, code in session.exec(stmt)}


# --- a good import ---------------------------------------------------------------------


def test_full_import_through_the_cli_writes_every_row(cli, session, tmp_path):
    result = cli("import", str(write_files(tmp_path / "in", GOOD)))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == GOOD_SUMMARY
    session.rollback()
    ids = unit_ids(session)
    code_of = {id_: code for code, id_ in ids.items()}
    units = {
        u.code: (u.name, u.name_en, u.kind, code_of.get(u.parent_id))
        for u in session.exec(select(OrgUnit))
    }
    assert units == {
        "U": ("示范大学", "Demo University", "school", None),
        "CS": ("计算机学院", "Computer Science", "college", "U"),
        "CS-SE": ("软件工程系", "Software Engineering", "department", "CS"),
        "CS-AI": ("人工智能系", None, "department", "CS"),
        "MATH": ("数学学院", "Mathematics", "college", "U"),
        "MATH-PURE": ("基础数学系", None, "department", "MATH"),
    }
    people = {
        u.username: (u.name, u.email, u.password_hash, u.active) for u in session.exec(select(User))
    }
    assert people == {
        "dean.cs": ("李娜", "li.na@example.edu", None, True),
        "head.se": ("王强", None, None, True),
        "t.zhang": ("张伟", "zhang.wei@example.edu", None, True),
        "t.liu": ("刘洋", "liu.yang@example.edu", None, True),
        "sup": ("陈静", "chen.jing@example.edu", None, True),
        "nobody": ("赵敏", None, None, True),
    }
    assert grants(session, "dean.cs") == {"dean@CS"}
    assert grants(session, "head.se") == {"head@CS-SE", "teacher@CS-SE"}
    assert grants(session, "t.liu") == {"teacher@CS-AI", "tutor@CS-AI"}
    assert grants(session, "nobody") == set()
    terms = {
        t.code: (t.name, t.name_en, t.start_date, t.end_date) for t in session.exec(select(Term))
    }
    assert terms == {
        "2026-2027-1": (
            "2026-2027学年第一学期",
            "Autumn 2026",
            date(2026, 9, 1),
            date(2027, 1, 20),
        ),
        "2026-2027-2": ("2026-2027学年第二学期", None, date(2027, 2, 24), date(2027, 7, 10)),
    }
    courses = {
        c.code: (c.title, c.title_en, code_of[c.department_id])
        for c in session.exec(select(Course))
    }
    assert courses == {
        "SE101": ("软件工程导论", "Introduction to Software Engineering", "CS-SE"),
        "AI201": ("机器学习", "Machine Learning", "CS-AI"),
        "MA101": ("数学分析", None, "MATH-PURE"),
    }
    course_of = {c.id: c.code for c in session.exec(select(Course))}
    term_of = {t.id: t.code for t in session.exec(select(Term))}
    name_of = {u.id: u.username for u in session.exec(select(User))}
    sections = {
        s.code: (course_of[s.course_id], term_of[s.term_id], name_of.get(s.teacher_id), s.enrolled)
        for s in session.exec(select(Section))
    }
    assert sections == {
        "SE101-01": ("SE101", "2026-2027-1", "t.zhang", 45),
        "SE101-02": ("SE101", "2026-2027-1", "head.se", 38),
        "AI201-01": ("AI201", "2026-2027-1", "t.liu", 60),
        "MA101-01": ("MA101", "2026-2027-2", None, 0),
    }
    groups = {
        g.code: (
            g.name,
            code_of[g.department_id],
            term_of[g.term_id],
            name_of.get(g.tutor_id),
            g.size,
        )
        for g in session.exec(select(TutorGroup))
    }
    assert groups == {
        "G-AI-1": ("人工智能导师组一", "CS-AI", "2026-2027-1", "t.liu", 12),
        "G-SE-1": ("软件工程导师组", "CS-SE", "2026-2027-1", None, 8),
    }


def test_closure_is_rebuilt_so_grants_cover_subtrees(cli, session, tmp_path):
    assert cli("import", str(write_files(tmp_path, GOOD))).exit_code == 0
    session.rollback()
    ids = unit_ids(session)
    closure = session.exec(select(OrgUnitClosure)).all()
    # U covers 6 units, each college itself and 2 or 1 departments, each department itself.
    assert len(closure) == 6 + 3 + 2 + 3
    dean, head = user(session, "dean.cs"), user(session, "head.se")
    assert may(session, dean, Perm.VIEW_FEEDBACK, ids["CS"])
    assert may(session, dean, Perm.VIEW_FEEDBACK, ids["CS-SE"])
    assert may(session, dean, Perm.VIEW_FEEDBACK, ids["CS-AI"])
    assert not may(session, dean, Perm.VIEW_FEEDBACK, ids["MATH-PURE"])
    assert not may(session, dean, Perm.VIEW_FEEDBACK, ids["U"])
    assert may(session, head, Perm.VIEW_REPORTS, ids["CS-SE"])
    assert not may(session, head, Perm.VIEW_REPORTS, ids["CS-AI"])
    assert may(session, user(session, "sup"), Perm.SUBMIT_SPOT_CHECK, ids["MATH-PURE"])


def test_import_directory_returns_counts_and_leaves_the_commit_to_the_caller(session, tmp_path):
    result = import_directory(session, write_files(tmp_path, GOOD))

    assert result.errors == []
    assert result.dry_run is False
    assert result.counts["sections.csv"] == {"created": 4, "updated": 0, "unchanged": 0}
    assert result.report_lines() == GOOD_SUMMARY
    session.rollback()  # not committed: the caller decides
    assert all(rows == [] for rows in database(session).values())


def test_reimport_changes_nothing(cli, session, tmp_path):
    directory = write_files(tmp_path, GOOD)
    assert cli("import", str(directory)).exit_code == 0
    before = domain(session)

    again = cli("import", str(directory))

    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == [
        "units.csv: 0 created, 0 updated, 6 unchanged",
        "people.csv: 0 created, 0 updated, 6 unchanged",
        "terms.csv: 0 created, 0 updated, 2 unchanged",
        "courses.csv: 0 created, 0 updated, 3 unchanged",
        "sections.csv: 0 created, 0 updated, 4 unchanged",
        "groups.csv: 0 created, 0 updated, 2 unchanged",
    ]
    assert domain(session) == before


def test_each_import_is_audited_once(cli, session, tmp_path):
    directory = write_files(tmp_path, GOOD)
    assert cli("import", str(directory), "--dry-run").exit_code == 0
    assert cli("import", str(directory)).exit_code == 0
    assert cli("import", str(directory)).exit_code == 0
    events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    imports = [e for e in events if e.action == "import"]
    assert len(imports) == 2
    assert "units.csv: 6 created" in imports[0].detail
    # Each role granted is its own event, written by the first import only (the second
    # changed nothing).
    grants = [(e.target, e.detail) for e in events if e.action.startswith("role.")]
    assert ("head.se", "teacher@CS-SE (import)") in grants
    assert len(grants) == 7 and all(e.id < imports[1].id for e in events if e.action != "import")


def test_changed_fields_are_updated(cli, session, tmp_path):
    assert cli("import", str(write_files(tmp_path / "a", GOOD))).exit_code == 0
    files = changed(
        "units.csv", "CS-AI,人工智能系,department,CS,", "CS-AI,智能科学系,department,CS,AI"
    )
    files = changed(
        "sections.csv",
        "AI201-01,AI201,2026-2027-1,t.liu,60",
        "AI201-01,AI201,2026-2027-1,,61",
        files,
    )
    files = changed("people.csv", "nobody,赵敏,,", "nobody,赵敏,zhao.min@example.edu,", files)

    result = cli("import", str(write_files(tmp_path / "b", files)))

    assert result.exit_code == 0, result.output
    assert "units.csv: 0 created, 1 updated, 5 unchanged" in result.output
    assert "people.csv: 0 created, 1 updated, 5 unchanged" in result.output
    assert "sections.csv: 0 created, 1 updated, 3 unchanged" in result.output
    session.rollback()
    session.expire_all()
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == "CS-AI")).one()
    assert (unit.name, unit.name_en) == ("智能科学系", "AI")
    section = session.exec(select(Section).where(Section.code == "AI201-01")).one()
    assert (section.teacher_id, section.enrolled) == (None, 61)
    assert user(session, "nobody").email == "zhao.min@example.edu"


def test_moving_a_department_to_another_college(cli, session, tmp_path):
    assert cli("import", str(write_files(tmp_path / "a", GOOD))).exit_code == 0
    files = {"units.csv": "code,name,kind,parent\nCS-AI,人工智能系,department,MATH\n"}

    result = cli("import", str(write_files(tmp_path / "b", files)))

    assert result.exit_code == 0, result.output
    session.rollback()
    ids = unit_ids(session)
    dean = user(session, "dean.cs")
    assert not may(session, dean, Perm.VIEW_FEEDBACK, ids["CS-AI"])
    assert may(session, dean, Perm.VIEW_FEEDBACK, ids["CS-SE"])
    name_en = session.exec(select(OrgUnit.name_en).where(OrgUnit.code == "CS")).one()
    assert name_en == "Computer Science"  # a file without name_en leaves it as it was


def test_term_english_name_is_updated_cleared_or_kept(cli, session, tmp_path):
    assert cli("import", str(write_files(tmp_path / "a", GOOD))).exit_code == 0
    files = changed("terms.csv", "2027-07-10,", "2027-07-10,Spring 2027")
    files = changed("terms.csv", "2027-01-20,Autumn 2026", "2027-01-20,", files)
    files = {"terms.csv": files["terms.csv"]}

    result = cli("import", str(write_files(tmp_path / "b", files)))

    assert result.exit_code == 0, result.output
    assert "terms.csv: 0 created, 2 updated, 0 unchanged" in result.output
    session.rollback()
    session.expire_all()
    english = dict(session.exec(select(Term.code, Term.name_en)).all())
    assert english == {"2026-2027-1": None, "2026-2027-2": "Spring 2027"}

    # A file without the column leaves the stored English names alone.
    without = {
        "terms.csv": "code,name,start_date,end_date\n2026-2027-2,春季,2027-02-24,2027-07-10\n"
    }
    result = cli("import", str(write_files(tmp_path / "c", without)))

    assert result.exit_code == 0, result.output
    session.rollback()
    session.expire_all()
    term = session.exec(select(Term).where(Term.code == "2026-2027-2")).one()
    assert (term.name, term.name_en) == ("春季", "Spring 2027")


def test_grants_are_replaced_on_reimport(cli, session, factory, tmp_path):
    assert cli("import", str(write_files(tmp_path / "a", GOOD))).exit_code == 0
    files = changed("people.csv", "teacher@CS-AI;tutor@CS-AI", "teacher@MATH-PURE")
    files = changed(
        "people.csv",
        "dean.cs,李娜,li.na@example.edu,dean@CS",
        "dean.cs,李娜,li.na@example.edu,",
        files,
    )

    result = cli("import", str(write_files(tmp_path / "b", files)))

    assert result.exit_code == 0, result.output
    assert "people.csv: 0 created, 2 updated, 4 unchanged" in result.output
    session.rollback()
    assert grants(session, "t.liu") == {"teacher@MATH-PURE"}
    assert grants(session, "dean.cs") == set()
    assert grants(session, "head.se") == {"head@CS-SE", "teacher@CS-SE"}


def test_import_keeps_passwords_and_never_sets_them(cli, session, factory, tmp_path):
    factory.university()
    existing = factory.user("t.zhang", "admin@U", name="Old Name")
    password_hash = existing.password_hash
    assert password_hash is not None

    assert cli("import", str(write_files(tmp_path, GOOD))).exit_code == 0

    session.rollback()
    session.expire_all()
    imported = user(session, "t.zhang")
    assert (imported.name, imported.password_hash) == ("张伟", password_hash)
    assert grants(session, "t.zhang") == {"teacher@CS-SE"}
    assert user(session, "t.liu").password_hash is None


def test_references_to_stored_rows(cli, session, factory, tmp_path):
    units = factory.university()
    term = factory.term("2025-2026-2")
    teacher = factory.user("t.old", "teacher@CS-SE")
    factory.course("SE200", units["CS-SE"])
    files = {
        "courses.csv": "code,title,department\nSE300,软件测试,CS-SE\n",
        "sections.csv": "code,course,term,teacher,enrolled\n"
        "SE200-01,SE200,2025-2026-2,t.old,20\nSE300-01,SE300,2025-2026-2,,25\n",
    }

    result = cli("import", str(write_files(tmp_path, files)))

    assert result.exit_code == 0, result.output
    session.rollback()
    rows = session.exec(select(Section).order_by(Section.code)).all()
    assert [(s.code, s.term_id, s.teacher_id, s.enrolled) for s in rows] == [
        ("SE200-01", term.id, teacher.id, 20),
        ("SE300-01", term.id, None, 25),
    ]


# --- file handling ---------------------------------------------------------------------


def test_excel_bom_is_accepted(cli, session, tmp_path):
    directory = write_files(tmp_path, GOOD, encoding="utf-8-sig")
    assert (directory / "units.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    result = cli("import", str(directory))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == GOOD_SUMMARY


def test_extra_columns_blank_lines_spaces_and_crlf_are_tolerated(session, tmp_path):
    files = {
        "units.csv": "编号备注, code , name ,kind,parent,notes\r\n"
        "x, U , 示范大学 ,school,,根\r\n"
        "\r\n"
        ",,,,,\r\n"
        "y,CS,计算机学院, College ,U,备注\r\n",
        "people.csv": "username,name,email,roles,phone\n"
        "dean.cs,李娜, li.na@example.edu , dean@CS ; teacher@CS ,13800000000\n",
    }

    result = import_directory(session, write_files(tmp_path, files))

    assert result.errors == []
    assert result.counts["units.csv"] == {"created": 2, "updated": 0, "unchanged": 0}
    session.commit()
    cs = session.exec(select(OrgUnit).where(OrgUnit.code == "CS")).one()
    assert (cs.name, cs.kind) == ("计算机学院", "college")
    assert user(session, "dean.cs").email == "li.na@example.edu"
    assert grants(session, "dean.cs") == {"dean@CS", "teacher@CS"}


def test_file_names_match_ignoring_case_and_other_files_are_ignored(session, tmp_path):
    directory = write_files(tmp_path, {"Units.CSV": GOOD["units.csv"], "readme.txt": "hi"})

    result = import_directory(session, directory)

    assert result.errors == []
    assert list(result.counts) == ["units.csv"]


def test_header_only_file_imports_nothing(session, tmp_path):
    result = import_directory(
        session, write_files(tmp_path, {"terms.csv": "code,name,start_date,end_date\n"})
    )
    assert result.errors == []
    assert result.counts == {"terms.csv": {"created": 0, "updated": 0, "unchanged": 0}}


def test_directory_without_known_files_is_an_error(cli, session, tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here", encoding="utf-8")
    result = cli("import", str(tmp_path))
    assert result.exit_code == 1
    assert "nothing to import" in result.output


def test_import_tables_takes_rows_directly(session):
    tables = {
        "units.csv": [
            {"code": "U", "name": "示范大学", "kind": "school", "parent": ""},
            {"code": "CS", "name": "计算机学院", "kind": "college", "parent": "U"},
        ],
        "people.csv": [{"username": "dean.cs", "name": "李娜", "email": "", "roles": "dean@CS"}],
    }

    result = import_tables(session, tables)

    assert result.errors == []
    assert result.counts["people.csv"]["created"] == 1
    session.commit()
    assert grants(session, "dean.cs") == {"dean@CS"}


def test_unknown_table_name_is_an_error(session):
    result = import_tables(session, {"teachers.csv": [{"code": "x"}]})
    assert [str(e) for e in result.errors] == [
        "teachers.csv: unknown file; expected units.csv, people.csv, terms.csv, courses.csv,"
        " sections.csv, groups.csv, programmes.csv"
    ]


# --- dry run -----------------------------------------------------------------------------


def test_dry_run_reports_and_writes_nothing(cli, session, tmp_path):
    result = cli("import", str(write_files(tmp_path, GOOD)), "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [*GOOD_SUMMARY, "Dry run: nothing was written."]
    assert all(rows == [] for rows in database(session).values())


def test_dry_run_leaves_the_session_clean(session, factory, tmp_path):
    factory.university()
    files = changed("units.csv", "计算机学院", "计算机科学与技术学院")

    result = import_directory(session, write_files(tmp_path, files), dry_run=True)

    assert result.dry_run is True
    # U, CS, CS-SE and MATH gain an English name (CS a new name too); CS-AI, MATH-PURE match.
    assert result.counts["units.csv"] == {"created": 0, "updated": 4, "unchanged": 2}
    assert not session.new and not session.dirty and not session.deleted
    assert result.report_lines()[-1] == "Dry run: nothing was written."


# --- errors ----------------------------------------------------------------------------

# (id, file, text replaced, replacement, row, column, part of the message)
ERROR_CASES = [
    (
        "unknown parent",
        "units.csv",
        "MATH-PURE,基础数学系,department,MATH,",
        "MATH-PURE,基础数学系,department,MATHS,",
        7,
        "parent",
        "unknown parent 'MATHS': neither in units.csv nor in the database",
    ),
    (
        "cycle",
        "units.csv",
        "CS,计算机学院,college,U,Computer Science\nCS-AI,人工智能系,department,CS,",
        "CS,计算机学院,college,CS-AI,Computer Science\nCS-AI,人工智能系,department,CS,",
        4,
        "parent",
        "cycle: CS",
    ),
    (
        "wrong parent kind",
        "units.csv",
        "CS-AI,人工智能系,department,CS,",
        "CS-AI,人工智能系,department,U,",
        5,
        "parent",
        "parent 'U' is of kind 'school'; the parent of a unit of kind 'department' must be of"
        " kind 'college'",
    ),
    (
        "school with a parent",
        "units.csv",
        "U,示范大学,school,,",
        "U,示范大学,school,CS,",
        3,
        "parent",
        "a school is the top of the tree; leave its parent empty",
    ),
    (
        "college without a parent",
        "units.csv",
        "MATH,数学学院,college,U,",
        "MATH,数学学院,college,,",
        6,
        "parent",
        "missing value: a unit of kind 'college' needs a parent of kind 'school'",
    ),
    (
        "duplicate code",
        "units.csv",
        "MATH-PURE,基础数学系,department,MATH,\n",
        "MATH-PURE,基础数学系,department,MATH,\nCS,计算机学院（重复）,college,U,\n",
        8,
        "code",
        "duplicate code 'CS': already on row 4",
    ),
    (
        "duplicate username",
        "people.csv",
        "nobody,赵敏",
        "sup,赵敏",
        7,
        "username",
        "duplicate username 'sup': already on row 6",
    ),
    (
        "unknown kind",
        "units.csv",
        "CS-AI,人工智能系,department",
        "CS-AI,人工智能系,faculty",
        5,
        "kind",
        "unknown kind 'faculty'; use school, college, department",
    ),
    (
        "code with a space",
        "units.csv",
        "MATH-PURE,基础数学系,department,MATH,\n",
        "MATH-PURE,基础数学系,department,MATH,\nMATH APP,应用数学系,department,MATH,\n",
        8,
        "code",
        "'MATH APP' holds a space, '@', ';' or ','; a unit code cannot",
    ),
    ("missing name", "units.csv", "CS-AI,人工智能系,", "CS-AI,,", 5, "name", "missing value"),
    (
        "bad date",
        "terms.csv",
        "2026-09-01",
        "2026/9/1",
        2,
        "start_date",
        "'2026/9/1' is not a date written YYYY-MM-DD",
    ),
    (
        "impossible date",
        "terms.csv",
        "2027-02-24",
        "2027-02-30",
        3,
        "start_date",
        "'2027-02-30' is not a date",
    ),
    (
        "end before start",
        "terms.csv",
        "2027-01-20",
        "2026-08-01",
        2,
        "end_date",
        "the end date 2026-08-01 is not after the start date 2026-09-01",
    ),
    (
        "end equal to start",
        "terms.csv",
        "2027-02-24,2027-07-10",
        "2027-02-24,2027-02-24",
        3,
        "end_date",
        "the end date 2027-02-24 is not after the start date 2027-02-24",
    ),
    ("unknown role", "people.csv", "supervisor@U", "boss@U", 6, "roles", "unknown role 'boss'"),
    (
        "malformed role",
        "people.csv",
        "supervisor@U",
        "supervisor",
        6,
        "roles",
        "'supervisor' is not ROLE@UNITCODE",
    ),
    (
        "unknown unit in a role",
        "people.csv",
        "dean@CS",
        "dean@XX",
        2,
        "roles",
        "unknown unit 'XX' in 'dean@XX'",
    ),
    (
        "bad email",
        "people.csv",
        "li.na@example.edu",
        "li.na.example.edu",
        2,
        "email",
        "'li.na.example.edu' is not an e-mail address",
    ),
    ("missing person name", "people.csv", "nobody,赵敏", "nobody,", 7, "name", "missing value"),
    (
        "unknown department",
        "courses.csv",
        "MA101,数学分析,MATH-PURE",
        "MA101,数学分析,MATH-X",
        4,
        "department",
        "unknown department 'MATH-X': neither in units.csv nor in the database",
    ),
    (
        "course in a college",
        "courses.csv",
        "MA101,数学分析,MATH-PURE",
        "MA101,数学分析,MATH",
        4,
        "department",
        "'MATH' is of kind 'college'; a course belongs to a department",
    ),
    ("missing title", "courses.csv", "AI201,机器学习", "AI201,", 3, "title", "missing value"),
    (
        "unknown course",
        "sections.csv",
        "AI201-01,AI201",
        "AI201-01,AI999",
        4,
        "course",
        "unknown course 'AI999': neither in courses.csv nor in the database",
    ),
    (
        "unknown term",
        "sections.csv",
        "MA101,2026-2027-2",
        "MA101,2030-2031-1",
        5,
        "term",
        "unknown term '2030-2031-1'",
    ),
    (
        "unknown teacher",
        "sections.csv",
        "t.zhang,45",
        "t.zhao,45",
        2,
        "teacher",
        "unknown teacher 't.zhao': neither in people.csv nor in the database",
    ),
    ("negative count", "sections.csv", "head.se,38", "head.se,-3", 3, "enrolled", "-3 is negative"),
    (
        "non-integer count",
        "sections.csv",
        "head.se,38",
        "head.se,38.5",
        3,
        "enrolled",
        "'38.5' is not a whole number",
    ),
    ("missing count", "sections.csv", "head.se,38", "head.se,", 3, "enrolled", "missing value"),
    ("unknown tutor", "groups.csv", "t.liu,12", "t.li,12", 2, "tutor", "unknown tutor 't.li'"),
    ("negative size", "groups.csv", ",8\n", ",-8\n", 3, "size", "-8 is negative"),
    (
        "group in a college",
        "groups.csv",
        "软件工程导师组,CS-SE",
        "软件工程导师组,CS",
        3,
        "department",
        "'CS' is of kind 'college'; a tutor group belongs to a department",
    ),
    (
        "term English name too long",
        "terms.csv",
        "2027-01-20,Autumn 2026",
        "2027-01-20," + "A" * 201,
        2,
        "name_en",
        "'" + "A" * 30 + "...' has 201 characters; at most 200",
    ),
    (
        "missing column",
        "courses.csv",
        "code,title,department,title_en",
        "code,title,title_en",
        1,
        "department",
        "missing column(s) department",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "row", "column", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES],
)
def test_error_is_located_and_nothing_is_written(
    cli, session, tmp_path, file, old, new, row, column, message
):
    directory = write_files(tmp_path, changed(file, old, new))

    result = cli("import", str(directory))

    assert result.exit_code == 1
    assert f"{file}, row {row}, column {column}: {message}" in result.output
    assert "Nothing was written: 1 error." in result.output
    assert all(rows == [] for rows in database(session).values())
    # The same through the function, with the location as data.
    found = import_directory(session, directory)
    assert [(e.file, e.row, e.column) for e in found.errors] == [(file, row, column)]
    assert found.counts == {}
    assert not session.new and not session.dirty and not session.deleted


def test_cycle_through_stored_units_is_refused(cli, session, factory, tmp_path):
    """Re-parenting a stored college under its own department."""
    factory.university()
    before = database(session)
    files = {"units.csv": "code,name,kind,parent\nCS,计算机学院,college,CS-SE\n"}

    result = cli("import", str(write_files(tmp_path, files)))

    assert result.exit_code == 1
    assert "units.csv, row 2, column parent: cycle: CS -> CS-SE -> CS" in result.output
    assert database(session) == before


@pytest.mark.parametrize("stored_first", [True, False])
def test_a_cycle_is_told_from_the_rows_unit_whatever_order_units_come_in(stored_first):
    """The database hands stored units over in no set order (PostgreSQL differed from SQLite)."""
    from evalsys.importer.common import Planned
    from evalsys.importer.tree import _check_cycles

    stored = {"U": None, "CS-SE": "CS"}
    planned_parents = {"CS": "CS-SE"}
    parents = {**stored, **planned_parents} if stored_first else {**planned_parents, **stored}
    said: list[tuple[str, str, str]] = []
    in_cycle = _check_cycles(
        {"CS": Planned(row=2, values={})},
        parents,
        lambda code, column, message: said.append((code, column, str(message))),
    )
    assert in_cycle == {"CS", "CS-SE"}
    assert [(code, column, message.split(";")[0]) for code, column, message in said] == [
        ("CS", "parent", "cycle: CS -> CS-SE -> CS")
    ]


def test_two_cycles_are_both_reported(session):
    rows = [
        {"code": "U", "name": "U", "kind": "school", "parent": ""},
        {"code": "A", "name": "A", "kind": "college", "parent": "B"},
        {"code": "B", "name": "B", "kind": "college", "parent": "A"},
        {"code": "C", "name": "C", "kind": "department", "parent": "D"},
        {"code": "D", "name": "D", "kind": "department", "parent": "C"},
    ]
    result = import_tables(session, {"units.csv": rows})
    assert [(e.row, e.column, e.message.split(";")[0]) for e in result.errors] == [
        (3, "parent", "cycle: A -> B -> A"),
        (5, "parent", "cycle: C -> D -> C"),
    ]


def test_turning_a_stored_college_into_a_department_strands_its_departments(
    cli, session, factory, tmp_path
):
    factory.university()
    before = database(session)
    files = {"units.csv": "code,name,kind,parent\nCS,计算机学院,department,MATH\n"}

    result = cli("import", str(write_files(tmp_path, files)))

    assert result.exit_code == 1
    assert (
        "units.csv, row 2, column kind: as a unit of kind 'department' it would leave the"
        " stored units"
        " CS-AI, CS-SE below it" in result.output
    )
    assert database(session) == before


def test_a_department_with_courses_cannot_become_a_college(cli, session, factory, tmp_path):
    units = factory.university()
    factory.course("SE101", units["CS-SE"])
    factory.group("G1", units["CS-SE"], factory.term())
    before = database(session)
    files = {"units.csv": "code,name,kind,parent\nCS-SE,软件工程学院,college,U\n"}

    result = cli("import", str(write_files(tmp_path, files)))

    assert result.exit_code == 1
    assert (
        "units.csv, row 2, column kind: course SE101, tutor group G1 belong to 'CS-SE'"
        in result.output
    )
    assert database(session) == before


def test_non_utf8_file_is_named(cli, session, tmp_path):
    write_files(tmp_path, GOOD)
    (tmp_path / "units.csv").write_bytes(GOOD["units.csv"].encode("gbk"))

    result = cli("import", str(tmp_path))

    assert result.exit_code == 1
    assert "units.csv, row 2: the file is not UTF-8 text" in result.output
    assert "CSV UTF-8" in result.output
    # References into the unreadable file are not reported as unknown on top.
    assert "Nothing was written: 1 error." in result.output
    assert all(rows == [] for rows in database(session).values())


def test_semicolon_separated_file_gets_a_hint(session, tmp_path):
    files = {"terms.csv": "code;name;start_date;end_date\nT1;第一学期;2026-09-01;2027-01-20\n"}
    result = import_directory(session, write_files(tmp_path, files))
    assert len(result.errors) == 1
    assert result.errors[0].row == 1
    assert "save it as CSV with commas" in result.errors[0].message


def test_every_bad_row_in_every_file_is_reported_in_file_order(cli, session, tmp_path):
    files = changed("units.csv", "MATH,数学学院,college,U", "MATH,数学学院,college,NOPE")
    files = changed("groups.csv", "t.liu,12", "t.liu,many", files)
    files = changed("terms.csv", "2027-07-10", "2027-07-32", files)
    files = changed("sections.csv", "t.zhang,45", "t.nobody,-1", files)

    result = cli("import", str(write_files(tmp_path, files)))

    assert result.exit_code == 1
    located = [line.split(":")[0] for line in result.output.splitlines()[:-1]]
    assert located == [
        "units.csv, row 6, column parent",
        "terms.csv, row 3, column end_date",
        "sections.csv, row 2, column teacher",
        "sections.csv, row 2, column enrolled",
        "groups.csv, row 2, column size",
    ]
    assert result.output.splitlines()[-1].startswith("Nothing was written: 5 errors.")
    assert all(rows == [] for rows in database(session).values())


def test_dry_run_with_errors_fails_too(cli, session, tmp_path):
    files = changed("people.csv", "dean@CS", "dean@XX")
    result = cli("import", str(write_files(tmp_path, files)), "--dry-run")
    assert result.exit_code == 1
    assert "people.csv, row 2, column roles: unknown unit 'XX' in 'dean@XX'" in result.output


def test_issue_and_result_formatting():
    result = ImportResult(
        errors=[ImportIssue("people.csv", 7, "roles", "unknown unit 'XX' in 'dean@XX'")]
    )
    assert (
        result.report_lines()[0]
        == "people.csv, row 7, column roles: unknown unit 'XX' in 'dean@XX'"
    )
    assert str(ImportIssue("units.csv", None, None, "x")) == "units.csv: x"


# --- size ------------------------------------------------------------------------------


def demo_sized_files() -> dict[str, str]:
    """A university the size of the demo: 300 people, 160 courses, 640 sections."""
    units = ["code,name,kind,parent", "U,示范大学,school,"]
    departments = []
    for c in range(8):
        units.append(f"C{c},学院{c},college,U")
        for d in range(4):
            departments.append(f"C{c}-D{d}")
            units.append(f"C{c}-D{d},系{c}{d},department,C{c}")
    people = ["username,name,email,roles"] + [
        f"t{i},教师{i},t{i}@example.edu,teacher@{departments[i % 32]}" for i in range(300)
    ]
    courses = ["code,title,department"] + [
        f"K{i},课程{i},{departments[i % 32]}" for i in range(160)
    ]
    sections = ["code,course,term,teacher,enrolled"] + [
        f"K{i % 160}-{i},K{i % 160},T1,t{i % 300},{i % 90}" for i in range(640)
    ]
    return {
        "units.csv": "\n".join(units),
        "people.csv": "\n".join(people),
        "terms.csv": "code,name,start_date,end_date\nT1,第一学期,2026-09-01,2027-01-20",
        "courses.csv": "\n".join(courses),
        "sections.csv": "\n".join(sections),
    }


def test_a_demo_sized_import_reads_once_per_table(app, session, tmp_path, queries):
    """No query per CSV row: the reads stay the same whatever the number of rows.

    (SQLAlchemy batches the INSERTs on PostgreSQL; on SQLite it sends one INSERT per
    row to get the ids back, which in-process costs microseconds.)
    """
    directory = write_files(tmp_path, demo_sized_files())
    with queries() as statements:
        result = import_directory(session, directory)
        session.commit()
        first = [s.lstrip().split(None, 1)[0].upper() for s in statements]
        statements.clear()
        again = import_directory(session, directory)
    statements[:] = [s.lstrip().split(None, 1)[0].upper() for s in statements]

    assert result.errors == []
    assert result.counts["people.csv"]["created"] == 300
    assert result.counts["sections.csv"]["created"] == 640
    # units, users, terms, courses, sections named in the file (no grants yet).
    assert first.count("SELECT") == 5
    assert again.counts["sections.csv"] == {"created": 0, "updated": 0, "unchanged": 640}
    # The same five, the grants of the 300 people, and the closure rebuilt: no writes per row.
    assert statements.count("SELECT") == 6
    assert len(statements) < 12, statements


def test_a_long_import_shows_its_progress_on_stderr(cli, session, tmp_path):
    rows = "".join(f"p{i:05d},Person {i},p{i}@example.edu,\n" for i in range(2500))
    files = {"people.csv": "username,name,email,roles\n" + rows}

    result = cli("import", str(write_files(tmp_path, files)))

    assert result.exit_code == 0, result.output
    # The summary alone on standard output; the progress beside it on standard error.
    assert result.stdout.splitlines() == ["people.csv: 2500 created, 0 updated, 0 unchanged"]
    progress = [line.split(" (")[0].strip() for line in result.stderr.splitlines()]
    assert progress == [
        "people.csv: read 2,500/2,500 rows",
        "people.csv: checked 1,000/2,500 rows",
        "people.csv: checked 2,000/2,500 rows",
        "people.csv: checked 2,500/2,500 rows",
        "people.csv: wrote 2,500/2,500 rows",
    ]
    session.rollback()
    assert len(session.exec(select(User)).all()) == 2500


def test_a_short_import_prints_its_summary_only(cli, tmp_path):
    result = cli("import", str(write_files(tmp_path, GOOD)), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_the_cli_speaks_english_where_the_site_speaks_chinese(cli, app, tmp_path):
    app.config["DEFAULT_LOCALE"] = "zh"
    files = changed("sections.csv", "AI201-01,AI201,", "AI201-01,AI999,")
    result = cli("import", str(write_files(tmp_path, files)))
    assert result.exit_code == 1
    assert "unknown course 'AI999': neither in courses.csv nor in the database" in result.output
    assert "Nothing was written: 1 error." in result.output
