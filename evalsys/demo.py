"""A demo university: 华东示范大学 with colleges, departments, courses, sections, people.

:func:`demo_tables` builds the rows of the CSV import files (a pure function with a
fixed seed, so every run builds the same university); :func:`load_demo` writes them
through the importer, so the demo goes through the same checks as a real import,
and gives every demo account the one documented password :data:`DEMO_PASSWORD`.
Running it again changes nothing.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, col, select
from werkzeug.security import check_password_hash

from evalsys.accounts import service as accounts
from evalsys.accounts.models import User
from evalsys.clock import local_today
from evalsys.demo_names import COLLEGES, ENGLISH_STAFF, GIVEN_NAMES, MASS_COURSES, SCHOOL, SURNAMES
from evalsys.importer.service import import_tables
from evalsys.org.timetable import Meeting, format_meetings
from evalsys.planner import service as planner
from evalsys.planner import weeks
from evalsys.planner.draw import draw_week
from evalsys.planner.models import Draw

#: The password of every demo account; printed by ``evalsys demo``. Never use it for real.
DEMO_PASSWORD = "demo-password-2026"
SEED = 2026
EMAIL_DOMAIN = "ecmu.edu.cn"

#: (code, name, first day, last day, English name): an earlier term to compare with, the
#: current one, the next.
TERMS: list[tuple[str, str, date, date, str]] = [
    ("2025-2026-1", "2025-2026学年第一学期（2025秋）", date(2025, 9, 8), date(2026, 1, 18),
     "2025–2026 first term (autumn 2025)"),
    ("2025-2026-2", "2025-2026学年第二学期（2026春）", date(2026, 2, 23), date(2026, 7, 5),
     "2025–2026 second term (spring 2026)"),
    ("2026-2027-1", "2026-2027学年第一学期（2026秋）", date(2026, 9, 7), date(2027, 1, 17),
     "2026–2027 first term (autumn 2026)"),
]  # fmt: skip

#: The import files the demo fills, with the label its progress line shows.
TABLES = {
    "units.csv": "Units",
    "people.csv": "People",
    "terms.csv": "Terms",
    "courses.csv": "Courses",
    "sections.csv": "Sections",
    "groups.csv": "Tutor groups",
    "programmes.csv": "Programmes",
}

#: Enrolment range by study year (course code 1xx..4xx); school-wide courses are larger.
ENROLLED_BY_YEAR = {1: (50, 120), 2: (40, 100), 3: (30, 80), 4: (20, 60)}
ENROLLED_MASS = (90, 150)
#: Share of ordinary courses taught in two parallel sections in a term.
TWO_SECTION_SHARE = 0.2
#: Share of sections whose usual teacher is replaced by a colleague in a term.
TEACHER_CHANGE_SHARE = 0.15


@dataclass
class _Person:
    username: str
    name: str
    roles: list[str] = field(default_factory=list)

    def row(self) -> dict[str, str]:
        return {
            "username": self.username,
            "name": self.name,
            "email": f"{self.username}@{EMAIL_DOMAIN}",
            "roles": ";".join(self.roles),
        }


class _People:
    """Unique realistic names and pinyin usernames (王建国 → wangjg, 李敏 → limin)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.by_username: dict[str, _Person] = {}
        self._names: set[str] = set()
        self._surnames = [s for s, _, _ in SURNAMES]
        self._pinyin = {s: p for s, p, _ in SURNAMES}
        self._weights = [w for _, _, w in SURNAMES]

    def add(self, username: str, name: str, *roles: str) -> _Person:
        person = _Person(username, name, list(roles))
        self.by_username[username] = person
        self._names.add(name)
        return person

    def new(self, *roles: str) -> _Person:
        while True:
            surname = self.rng.choices(self._surnames, weights=self._weights)[0]
            given, syllables = self.rng.choice(GIVEN_NAMES)
            if surname + given not in self._names:
                break
        parts = syllables.split()
        base = self._pinyin[surname] + (
            parts[0] if len(parts) == 1 else "".join(p[0] for p in parts)
        )
        username, n = base, 1
        while username in self.by_username:
            n += 1
            username = f"{base}{n}"
        return self.add(username, surname + given, *roles)


def _course_year(code: str) -> int:
    return int(code.rsplit("-", 1)[1][0])


def demo_tables() -> dict[str, list[dict[str, str]]]:
    """The demo university as import tables: file name → rows of column → text."""
    rng = random.Random(SEED)
    people = _People(rng)
    school_code, school_name, school_en = SCHOOL
    units = [{"code": school_code, "name": school_name, "kind": "school", "parent": "",
              "name_en": school_en}]  # fmt: skip
    courses: list[dict[str, str]] = []
    teachers: dict[str, list[_Person]] = {}  # department code → its teachers
    tutors: dict[str, list[_Person]] = {}
    deans: set[str] = set()

    people.add("admin", "教务处管理员", f"admin@{school_code}")
    for _ in range(2):
        people.new(f"leader@{school_code}")
    for _ in range(4):
        people.new(f"supervisor@{school_code}")

    for college_code, college_name, college_en, departments in COLLEGES:
        units.append({"code": college_code, "name": college_name, "kind": "college",
                      "parent": school_code, "name_en": college_en})  # fmt: skip
        first_department = departments[0][0]
        dean = people.new(f"dean@{college_code}", f"teacher@{first_department}")
        deans.add(dean.username)
        people.new(f"leader@{college_code}")
        for _ in range(2):
            people.new(f"supervisor@{college_code}")
        for dept_code, dept_name, dept_en, catalogue in departments:
            units.append({"code": dept_code, "name": dept_name, "kind": "department",
                          "parent": college_code, "name_en": dept_en})  # fmt: skip
            staff = [people.new(f"head@{dept_code}", f"teacher@{dept_code}")]
            for name, username in ENGLISH_STAFF.get(dept_code, []):
                staff.append(people.add(username, name, f"teacher@{dept_code}"))
            size = rng.randint(4, 6)
            while len(staff) < size:
                staff.append(people.new(f"teacher@{dept_code}"))
            # Two or three of the teachers (never the head) are also undergraduate tutors.
            tutors[dept_code] = rng.sample(staff[1:], min(rng.choice((2, 3)), len(staff) - 2))
            for tutor in tutors[dept_code]:
                tutor.roles.append(f"tutor@{dept_code}")
            teachers[dept_code] = staff + ([dean] if dept_code == first_department else [])
            courses.extend(_courses(dept_code, catalogue))

    terms = [{"code": c, "name": n, "start_date": s.isoformat(), "end_date": e.isoformat(),
              "name_en": en}
             for c, n, s, e, en in TERMS]  # fmt: skip
    titles = {c["code"]: c["title"] for c in courses}
    sections = _sections(rng, courses, titles, teachers, deans)
    _timetable(sections)
    groups = _groups(rng, tutors)
    programmes = _programmes(units, courses, TERMS[0][0])
    return {
        "units.csv": units,
        "people.csv": [p.row() for p in people.by_username.values()],
        "terms.csv": terms,
        "courses.csv": courses,
        "sections.csv": sections,
        "groups.csv": groups,
        "programmes.csv": programmes,
    }


def _programmes(
    units: list[dict[str, str]], courses: list[dict[str, str]], first_term: str
) -> list[dict[str, str]]:
    """One undergraduate programme per department, its courses, and a first plan version."""
    rows = []
    for unit in units:
        if unit["kind"] != "department":
            continue
        code = unit["code"]
        rows.append(
            {
                "code": f"{code}-BS",
                "name": f"{unit['name'].removesuffix('系')}（本科）",
                "name_en": f"{unit['name_en'].removeprefix('Department of ')} (undergraduate)",
                "department": code,
                "courses": ";".join(c["code"] for c in courses if c["department"] == code),
                "plan_version": "2025",
                "plan_term": first_term,
                "plan_summary": "四年制本科培养方案：通识课程、专业基础课程、"
                "专业核心课程与实践环节。",
            }
        )
    return rows


def _courses(dept_code: str, catalogue: list[tuple[str, str]]) -> list[dict[str, str]]:
    rows = []
    for index, (title, title_en) in enumerate(catalogue):
        year = min(index // 3 + 1, 4)
        number = index - (year - 1) * 3 + 1
        code = f"{dept_code}-{year}{number:02d}"
        rows.append({"code": code, "title": title, "department": dept_code, "title_en": title_en})
    return rows


def _sections(
    rng: random.Random,
    courses: list[dict[str, str]],
    titles: dict[str, str],
    teachers: dict[str, list[_Person]],
    deans: set[str],
) -> list[dict[str, str]]:
    """Every course in every term, some in two sections, mostly by the same teacher each term."""
    usual: dict[str, str] = {}  # course code → its usual teacher
    load: Counter[str] = Counter({d: 1 for d in deans})  # deans teach little
    for course in courses:
        pool = [t.username for t in teachers[course["department"]]]
        chosen = min(pool, key=lambda u: (load[u], rng.random()))
        usual[course["code"]] = chosen
        load[chosen] += 1

    rows = []
    for term_code, *_ in TERMS:
        term_load: Counter[str] = Counter({d: 3 for d in deans})
        for course in courses:
            code, pool = course["code"], [t.username for t in teachers[course["department"]]]
            mass = titles[code] in MASS_COURSES
            count = 2 if mass or rng.random() < TWO_SECTION_SHARE else 1
            low, high = ENROLLED_MASS if mass else ENROLLED_BY_YEAR[_course_year(code)]
            assigned: list[str] = []
            for n in range(count):
                if n == 0 and rng.random() >= TEACHER_CHANGE_SHARE:
                    teacher = usual[code]
                else:  # a colleague with the least teaching so far this term
                    others = [u for u in pool if u not in assigned and u != usual[code]]
                    teacher = min(others, key=lambda u: (term_load[u], rng.random()))
                assigned.append(teacher)
                term_load[teacher] += 1
            for n, teacher in enumerate(assigned, start=1):
                rows.append(
                    {
                        "code": f"{code}-{term_code}-{n:02d}",
                        "course": code,
                        "term": term_code,
                        "teacher": teacher,
                        "enrolled": str(rng.randint(low, high)),
                    }
                )
    return rows


#: The day's class blocks (节次) a demo section may meet in.
BLOCKS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))


def _timetable(sections: list[dict[str, str]]) -> None:
    """Give every section one or two weekly meetings, never two at once for one teacher.

    A generator of its own, so adding timetables changed none of the other demo data.
    """
    rng = random.Random(SEED + 1)
    busy: dict[tuple[str, str], set[tuple[int, int]]] = {}  # (term, teacher) -> taken slots
    for row in sections:
        taken = busy.setdefault((row["term"], row["teacher"]), set())
        free = [
            (day, b) for day in range(1, 6) for b in range(len(BLOCKS)) if (day, b) not in taken
        ]
        count = 2 if rng.random() < 0.4 else 1
        chosen = sorted(rng.sample(free, min(count, len(free))))
        taken.update(chosen)
        room = _room(row["code"])
        meetings = [Meeting(day, BLOCKS[b][0], BLOCKS[b][1], room) for day, b in chosen]
        row["meetings"] = format_meetings(meetings)


def _room(section_code: str) -> str:
    """A classroom for the section, from its code (no draw of the generator: adding rooms
    changed none of the other demo data): teaching building 1-5, floor 1-5, room 01-12."""
    n = zlib.crc32(section_code.encode())
    return f"教{'一二三四五'[n % 5]}-{(n // 5) % 5 + 1}{(n // 25) % 12 + 1:02d}"


def _groups(rng: random.Random, tutors: dict[str, list[_Person]]) -> list[dict[str, str]]:
    """One tutor group per tutor and term, of 6 to 15 students."""
    rows = []
    for term_code, *_ in TERMS:
        for dept_code, dept_tutors in tutors.items():
            for n, tutor in enumerate(dept_tutors, start=1):
                rows.append(
                    {
                        "code": f"{dept_code}-{term_code}-T{n}",
                        "name": f"{tutor.name}导师组",
                        "department": dept_code,
                        "term": term_code,
                        "tutor": tutor.username,
                        "size": str(rng.randint(6, 15)),
                    }
                )
    return rows


def login_lines(people_rows: list[dict[str, str]]) -> list[str]:
    """One demo login per kind of user, then the password they all share."""
    school = SCHOOL[0]
    wanted: list[Callable[[str, str], bool]] = [
        lambda roles, _: roles == f"admin@{school}",
        lambda roles, _: roles == f"leader@{school}",
        lambda roles, _: roles == f"supervisor@{school}",
        lambda roles, _: roles == "leader@CS",
        lambda roles, _: roles == "supervisor@CS",
        lambda roles, _: roles.startswith("dean@CS;"),
        lambda roles, _: roles.startswith("head@CS-SE;"),
        lambda roles, _: "tutor@CS-SE" in roles,
        lambda roles, _: roles == "teacher@CS-SE",
        lambda roles, name: "teacher@FL-EN" in roles and name.isascii(),
    ]
    lines = []
    for test in wanted:
        row = next((r for r in people_rows if test(r["roles"], r["name"])), None)
        if row is not None:
            lines.append(f"{row['username']:<12} {'(' + row['roles'] + ')':<30} {row['name']}")
    lines.append(f"Password for every demo account: {DEMO_PASSWORD}")
    return lines


def set_demo_passwords(session: Session, usernames: list[str]) -> int:
    """Give these accounts :data:`DEMO_PASSWORD` unless they have it; return how many changed.

    Hashing is slow on purpose (scrypt, ~0.2 s), so it runs once: the accounts that need
    the password share that one hash, and each distinct stored hash is checked only once.
    The password is public anyway, so a shared salt gives nothing away.
    """
    users = session.exec(select(User).where(col(User.username).in_(usernames))).all()
    verified: set[str] = set()
    fresh: str | None = None
    changed = 0
    for user in sorted(users, key=lambda u: u.username):
        stored = user.password_hash
        if stored and (stored in verified or check_password_hash(stored, DEMO_PASSWORD)):
            verified.add(stored)
            continue
        if fresh is None:
            accounts.set_password(session, user, DEMO_PASSWORD)
            fresh = user.password_hash
        else:
            user.password_hash = fresh
            session.add(user)
        changed += 1
    session.flush()
    return changed


def load_demo(session: Session, *, echo: Callable[[str], object] = print) -> list[str]:
    """Write the demo university (idempotent) and return the demo login lines.

    Does not commit: the caller does, as the CLI's ``session_scope`` does.
    """
    tables = demo_tables()
    result = import_tables(session, tables)
    if result.errors:
        raise RuntimeError("\n".join(["The demo data did not import:", *result.report_lines()]))
    for name, label in TABLES.items():
        c = result.counts[name]
        echo(f"{label}: {len(tables[name])} ({c['created']} new, {c['updated']} updated)")
    usernames = [r["username"] for r in tables["people.csv"]]
    changed = set_demo_passwords(session, usernames)
    echo(f"Passwords: {changed} set, {len(usernames) - changed} already the demo password")
    echo(_demo_plan(session))
    return login_lines(tables["people.csv"])


def _demo_plan(session: Session) -> str:
    """Default plan settings for the current demo term, and today's week drawn (seed 2026).

    Both only when missing, so running the demo again changes nothing.
    """
    term = planner.term_by_code(session, TERMS[-1][0])
    if term is None:
        return "Spot-check plan: no demo term"
    if planner.settings_of(session, term) is None:
        planner.save_settings(session, term=term, values={})
    today = local_today()
    if not term.start_date <= today <= term.end_date:
        return f"Spot-check plan: settings for {term.code}; draw a week with `evalsys plan draw`"
    week = weeks.week_of(term, today)
    drawn = session.exec(select(Draw).where(Draw.term_id == term.id, Draw.week == week)).first()
    if drawn is None:
        drawn = draw_week(session, term=term, week=week, seed=SEED)
    return (
        f"Spot-check plan: week {week} of {term.code} drawn with seed {drawn.seed} "
        f"({drawn.parameters['assignments']} assignments)"
    )
