"""`evalsys demo`: the demo university, its logins, and that running it twice changes nothing."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select
from werkzeug.security import check_password_hash

from evalsys import demo
from evalsys.accounts import service
from evalsys.accounts.models import ROLE_VALUES, RoleGrant, User
from evalsys.clock import local_today
from evalsys.db import get_engine
from evalsys.demo import DEMO_PASSWORD, demo_tables, load_demo
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup
from tests.worlds import built_once

TABLES = demo_tables()
PEOPLE = {r["username"]: r for r in TABLES["people.csv"]}
CJK = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


def _grants(row: dict[str, str]) -> set[tuple[str, str]]:
    return {tuple(g.split("@")) for g in row["roles"].split(";")}  # type: ignore[misc]


def _with_role(role: str) -> list[dict[str, str]]:
    return [r for r in TABLES["people.csv"] if any(g[0] == role for g in _grants(r))]


# --- the tables, without a database -------------------------------------------------


def test_tables_are_reproducible_and_complete():
    assert demo_tables() == TABLES
    assert set(TABLES) == {
        "units.csv", "people.csv", "terms.csv", "courses.csv", "sections.csv", "groups.csv",
        "programmes.csv",
    }  # fmt: skip
    columns = {
        "units.csv": ["code", "name", "kind", "parent", "name_en"],
        "people.csv": ["username", "name", "email", "roles"],
        "terms.csv": ["code", "name", "start_date", "end_date", "name_en"],
        "courses.csv": ["code", "title", "department", "title_en"],
        "sections.csv": ["code", "course", "term", "teacher", "enrolled", "meetings"],
        "groups.csv": ["code", "name", "department", "term", "tutor", "size"],
        "programmes.csv": ["code", "name", "name_en", "department", "courses", "plan_version",
                           "plan_term", "plan_summary"],
    }  # fmt: skip
    for name, rows in TABLES.items():
        assert rows, name
        for row in rows:
            assert list(row) == columns[name], (name, row)
            assert all(isinstance(v, str) for v in row.values()), (name, row)
        codes = [r.get("code", r.get("username")) for r in rows]
        assert len(codes) == len(set(codes)), f"duplicate keys in {name}"


def test_the_tree_is_a_realistic_university():
    units = {r["code"]: r for r in TABLES["units.csv"]}
    kinds = Counter(r["kind"] for r in units.values())
    assert kinds["school"] == 1 and kinds["college"] >= 4 and kinds["department"] >= 12
    school = next(r for r in units.values() if r["kind"] == "school")
    assert (school["code"], school["name"], school["parent"]) == ("ECMU", "华东示范大学", "")
    parent_kind = {"college": "school", "department": "college"}
    seen: set[str] = set()
    for code, row in units.items():
        assert row["name"] and row["name_en"]
        if row["kind"] != "school":
            assert units[row["parent"]]["kind"] == parent_kind[row["kind"]]
            assert row["parent"] in seen, "parents must come before their children"
            assert code.startswith(row["parent"] + "-") or row["kind"] == "college"
        seen.add(code)
    per_college = Counter(r["parent"] for r in units.values() if r["kind"] == "department")
    assert min(per_college.values()) >= 3
    assert units["CS"]["name"] == "计算机科学与技术学院"
    assert units["CS-SE"]["name"] == "软件工程系"


def test_courses_sections_and_groups():
    units = {r["code"]: r for r in TABLES["units.csv"]}
    courses = {r["code"]: r for r in TABLES["courses.csv"]}
    terms = [r["code"] for r in TABLES["terms.csv"]]
    assert len(courses) >= 150 and len(terms) >= 2
    assert "2025-2026-2" in terms and "2026-2027-1" in terms
    for row in TABLES["terms.csv"]:
        assert row["start_date"] < row["end_date"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["start_date"])
    for code, row in courses.items():
        assert units[row["department"]]["kind"] == "department"
        assert re.fullmatch(re.escape(row["department"]) + r"-[1-4]\d\d", code)
        assert row["title"] and row["title_en"] and not row["title"].isascii()
    assert courses["CS-SE-201"]["title"] == "数据结构"
    assert courses["CS-SE-201"]["title_en"] == "Data Structures"
    assert len({r["title"] for r in courses.values()}) == len(courses)
    per_department = Counter(r["department"] for r in courses.values())
    assert min(per_department.values()) >= 10

    per_course_term = Counter((s["course"], s["term"]) for s in TABLES["sections.csv"])
    assert set(per_course_term) == {(c, t) for c in courses for t in terms}
    assert set(per_course_term.values()) == {1, 2}
    assert sum(n == 2 for n in per_course_term.values()) >= 30
    for s in TABLES["sections.csv"]:
        assert 20 <= int(s["enrolled"]) <= 150
        department = courses[s["course"]]["department"]
        assert ("teacher", department) in _grants(PEOPLE[s["teacher"]]), s

    groups = TABLES["groups.csv"]
    per_department_term = Counter((g["department"], g["term"]) for g in groups)
    departments = [c for c, r in units.items() if r["kind"] == "department"]
    assert set(per_department_term) == {(d, t) for d in departments for t in terms}
    assert min(per_department_term.values()) >= 2
    for g in groups:
        assert 6 <= int(g["size"]) <= 15
        assert ("tutor", g["department"]) in _grants(PEOPLE[g["tutor"]]), g
        assert g["name"].startswith(PEOPLE[g["tutor"]]["name"])


def test_people_cover_every_role_with_chinese_names_and_ascii_usernames():
    units = {r["code"]: r for r in TABLES["units.csv"]}
    for row in TABLES["people.csv"]:
        assert re.fullmatch(r"[a-z][a-z0-9]*", row["username"]), row
        assert row["email"] == f"{row['username']}@ecmu.edu.cn"
        for role, unit in _grants(row):
            assert role in ROLE_VALUES and unit in units, row
    assert {role for r in TABLES["people.csv"] for role, _ in _grants(r)} == set(ROLE_VALUES)
    names = [r["name"] for r in TABLES["people.csv"]]
    assert len(names) == len(set(names))
    chinese = [n for n in names if CJK.match(n)]
    english = [n for n in names if re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", n)]
    assert len(chinese) >= 80 and 2 <= len(english) <= 10
    assert len(chinese) + len(english) == len(names) - 1  # and the admin, 教务处管理员
    # Usernames come from the pinyin: 王婉清 → wangwq, 姚楠 → yaonan.
    assert PEOPLE["wangwq"]["name"] == "王婉清" and PEOPLE["yaonan"]["name"] == "姚楠"

    by_role_unit = Counter(g for r in TABLES["people.csv"] for g in _grants(r))
    colleges = [c for c, r in units.items() if r["kind"] == "college"]
    departments = [c for c, r in units.items() if r["kind"] == "department"]
    assert all(by_role_unit[("dean", c)] == 1 for c in colleges)
    assert all(by_role_unit[("leader", c)] >= 1 for c in colleges)
    assert all(by_role_unit[("supervisor", c)] >= 1 for c in colleges)
    assert all(by_role_unit[("head", d)] == 1 for d in departments)
    assert all(4 <= by_role_unit[("teacher", d)] <= 7 for d in departments)
    assert by_role_unit[("admin", "ECMU")] == 1
    assert by_role_unit[("leader", "ECMU")] >= 1 and by_role_unit[("supervisor", "ECMU")] >= 2
    # Every teacher teaches; each dean has a department where they teach too.
    teaching = {s["teacher"] for s in TABLES["sections.csv"]}
    assert {r["username"] for r in _with_role("teacher")} == teaching
    assert all(("teacher" in {g[0] for g in _grants(r)}) for r in _with_role("dean"))


def test_login_lines_name_real_accounts_and_the_password():
    lines = demo.login_lines(TABLES["people.csv"])
    assert lines[-1] == f"Password for every demo account: {DEMO_PASSWORD}"
    usernames = [line.split()[0] for line in lines[:-1]]
    assert usernames[0] == "admin"
    assert all(u in PEOPLE for u in usernames)
    shown = {role for u in usernames for role, _ in _grants(PEOPLE[u])}
    assert shown == set(ROLE_VALUES)
    for line in lines[:-1]:
        row = PEOPLE[line.split()[0]]
        assert f"({row['roles']})" in line and line.endswith(row["name"])


# --- loading it ---------------------------------------------------------------------


def _load(cli):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def loaded(cli, session) -> str:
    """The demo loaded into the test's database (run once, copied after); its first output."""
    return built_once("demo", session, lambda: _load(cli))


def test_demo_command_prints_logins_and_password(loaded):
    output = loaded
    for line in demo.login_lines(TABLES["people.csv"]):
        assert line in output
    assert DEMO_PASSWORD in output
    for name, label in demo.TABLES.items():
        n = len(TABLES[name])
        assert f"{label}: {n} ({n} new, 0 updated)" in output
    assert f"Passwords: {len(PEOPLE)} set" in output


def test_database_holds_exactly_the_demo_tables(loaded, session):
    units = session.exec(select(OrgUnit.id, OrgUnit.code)).all()
    unit_code = dict(units)
    assert {
        (u.code, u.name, u.kind, unit_code.get(u.parent_id, ""), u.name_en)
        for u in session.exec(select(OrgUnit)).all()
    } == {tuple(r.values()) for r in TABLES["units.csv"]}

    users = {u.id: u for u in session.exec(select(User)).all()}
    assert {(u.username, u.name, u.email) for u in users.values()} == {
        (r["username"], r["name"], r["email"]) for r in TABLES["people.csv"]
    }
    grants = defaultdict(set)
    for g in session.exec(select(RoleGrant)).all():
        grants[users[g.user_id].username].add((g.role, unit_code[g.unit_id]))
    assert dict(grants) == {u: _grants(r) for u, r in PEOPLE.items()}

    term_code = dict(session.exec(select(Term.id, Term.code)).all())
    assert {
        (t.code, t.name, t.start_date.isoformat(), t.end_date.isoformat(), t.name_en)
        for t in session.exec(select(Term)).all()
    } == {tuple(r.values()) for r in TABLES["terms.csv"]}
    courses = {c.id: c for c in session.exec(select(Course)).all()}
    assert {
        (c.code, c.title, unit_code[c.department_id], c.title_en) for c in courses.values()
    } == {tuple(r.values()) for r in TABLES["courses.csv"]}
    assert {
        (s.code, courses[s.course_id].code, term_code[s.term_id], users[s.teacher_id].username,
         str(s.enrolled), s.meetings)
        for s in session.exec(select(Section)).all()
    } == {tuple(r.values()) for r in TABLES["sections.csv"]}  # fmt: skip
    assert {
        (g.code, g.name, unit_code[g.department_id], term_code[g.term_id],
         users[g.tutor_id].username, str(g.size))
        for g in session.exec(select(TutorGroup)).all()
    } == {tuple(r.values()) for r in TABLES["groups.csv"]}  # fmt: skip


def test_counts_and_chinese_text_in_the_database(loaded, session):
    kinds = dict(session.exec(select(OrgUnit.kind, func.count()).group_by(OrgUnit.kind)).all())
    assert kinds["school"] == 1 and kinds["college"] >= 4 and kinds["department"] >= 12
    n_courses = session.exec(select(func.count()).select_from(Course)).one()
    n_terms = session.exec(select(func.count()).select_from(Term)).one()
    assert n_courses >= 150 and n_terms >= 2
    pairs = select(Section.course_id, Section.term_id).distinct().subquery()
    assert session.exec(select(func.count()).select_from(pairs)).one() == n_courses * n_terms
    assert session.exec(select(func.count()).select_from(TutorGroup)).one() >= 12 * n_terms
    assert set(session.exec(select(RoleGrant.role).distinct()).all()) == set(ROLE_VALUES)

    school = session.exec(select(OrgUnit).where(OrgUnit.kind == "school")).one()
    assert school.name == "华东示范大学"
    course = session.exec(select(Course).where(Course.code == "MATH-APP-101")).one()
    assert course.title == "高等数学（一）"
    names = session.exec(select(User.name)).all()
    assert "教务处管理员" in names and "王婉清" in names and "Emily Carter" in names


def test_a_demo_dean_logs_in(loaded, client):
    dean = _with_role("dean")[0]["username"]
    r = client.post("/login", data={"username": dean, "password": "wrong password"})
    assert r.status_code == 401
    r = client.post("/login", data={"username": dean, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_demo_head_reads_a_programme_and_its_plan_change(loaded, client):
    """The demo's programmes have plans, and one change shows its evidence and figures."""
    head = next(p for p in _with_role("head") if "head@CS-SE" in p["roles"])["username"]
    client.post("/login", data={"username": head, "password": DEMO_PASSWORD})
    page = client.get("/programmes/CS-SE-BS").get_data(as_text=True)
    assert "增设每周 2 学时上机实践" in page and "实践教学专题研讨会" in page
    assert "In effect" in page and "n=" in page
    assert "/programmes/CS-SE-BS" in client.get("/units/CS-SE").get_data(as_text=True)


def _snapshot(app) -> dict[str, list[dict]]:
    """Every row of every table, password hashes and timestamps included."""
    with get_engine(app).connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(
                sa_select(table).order_by(*table.primary_key.columns)
            )]
            for table in SQLModel.metadata.sorted_tables
        }  # fmt: skip


def test_running_twice_changes_nothing(loaded, app, cli):
    before = _snapshot(app)
    assert len(before["section"]) == len(TABLES["sections.csv"])
    assert len(before["role_grant"]) == sum(len(_grants(r)) for r in PEOPLE.values())
    hashes = {row["password_hash"] for row in before["user_account"]}
    assert len(hashes) == 1 and check_password_hash(hashes.pop(), DEMO_PASSWORD)

    output = _load(cli)
    assert f"Passwords: 0 set, {len(PEOPLE)} already" in output
    assert output.count(" (0 new, 0 updated)") == len(TABLES)
    after = _snapshot(app)
    # The audit trail records each import, the repeated one too; nothing else moves.
    audit_before, audit_after = before.pop("audit_event"), after.pop("audit_event")
    assert after == before
    assert audit_after[: len(audit_before)] == audit_before
    new_actions = [row["action"] for row in audit_after[len(audit_before) :]]
    assert new_actions == ["import"]


def test_running_again_restores_a_changed_password_only(loaded, app, cli, session):
    user = session.exec(select(User).where(col(User.username) == "wangwq")).one()
    other = session.exec(select(User).where(col(User.username) == "yaonan")).one()
    service.set_password(session, user, "changed by the user")
    session.commit()
    kept = other.password_hash

    assert "Passwords: 1 set" in _load(cli)
    session.expire_all()
    assert service.authenticate(session, "wangwq", DEMO_PASSWORD) is not None
    assert session.get(User, other.id).password_hash == kept


def test_invalid_demo_data_is_refused(session, monkeypatch):
    tables = demo_tables()
    tables["sections.csv"][0]["teacher"] = "nobody-at-all"
    monkeypatch.setattr(demo, "demo_tables", lambda: tables)
    with pytest.raises(RuntimeError, match="did not import"):
        load_demo(session, echo=lambda _line: None)


def test_demo_has_feedback_and_statistics_in_every_begun_term(loaded, session):
    """The pages, dashboards and reports of the demo show figures, not empty states."""

    from sqlalchemy import func

    from evalsys.aggregation.models import AggregateResult, AggregationRun
    from evalsys.demo import TERMS
    from evalsys.feedback.models import Feedback
    from evalsys.org.models import Term

    output = loaded
    session.rollback()
    for code, _name, start, end, name_en in TERMS:
        term = session.exec(select(Term).where(Term.code == code)).one()
        assert term.name_en == name_en  # English pages and PDFs name the term in English
        kinds = dict(
            session.exec(
                select(Feedback.kind, func.count())
                .where(Feedback.term_id == term.id, Feedback.status == "submitted")
                .group_by(Feedback.kind)
            ).all()
        )
        if start >= local_today():
            assert not kinds, code
            continue
        assert set(kinds) == {"spot_check", "open_class", "tutor_group"}, (code, kinds)
        assert f"Feedback {code}: {sum(kinds.values())} records" in output
        run = session.exec(
            select(AggregationRun).where(
                AggregationRun.term_id == term.id, AggregationRun.status == "succeeded"
            )
        ).one()
        assert run.final == (end < local_today())
        school = session.exec(
            select(AggregateResult).where(
                AggregateResult.term_id == term.id,
                AggregateResult.level == "school",
                AggregateResult.kind == "all",
                AggregateResult.dimension == "overall",
            )
        ).one()
        assert school.n == sum(kinds.values())
        latest = session.exec(
            select(func.max(Feedback.visit_date)).where(Feedback.term_id == term.id)
        ).one()
        assert latest < local_today()  # nothing in the future
