"""Small builders for test data, written against the same services the app uses."""

from __future__ import annotations

from datetime import date
from functools import cache

from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from evalsys.accounts import service as accounts
from evalsys.accounts.models import User
from evalsys.org import hierarchy
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup


@cache
def _default_hash(password: str) -> str:
    """The shared test password's hash: one PBKDF2 round, checked in microseconds.

    The product hashes with scrypt (tests/accounts/test_cli.py and
    tests/security/test_sessions_and_headers.py check it, with passwords of their
    own), which takes ~0.2 s to check by design. The suite logs in thousands of
    times as the factory's users; Werkzeug reads the method from the stored hash,
    so these users check in microseconds while every other path stays scrypt.
    """
    return generate_password_hash(password, method="pbkdf2:sha256:1")


class Factory:
    PASSWORD = "correct horse battery"

    def __init__(self, session: Session) -> None:
        self.session = session

    def unit(
        self, code: str, kind: str, parent: str | None = None, name: str | None = None
    ) -> OrgUnit:
        parent_id = None
        if parent is not None:
            parent_id = self.session.exec(select(OrgUnit).where(OrgUnit.code == parent)).one().id
        unit = OrgUnit(code=code, name=name or code, kind=kind, parent_id=parent_id)
        self.session.add(unit)
        self.session.flush()
        hierarchy.rebuild_closure(self.session)
        self.session.commit()
        return unit

    def university(self) -> dict[str, OrgUnit]:
        """School U with colleges CS (departments CS-SE, CS-AI) and MATH (MATH-PURE)."""
        units = {
            "U": self.unit("U", "school", name="示范大学"),
            "CS": self.unit("CS", "college", "U", name="计算机学院"),
            "MATH": self.unit("MATH", "college", "U", name="数学学院"),
        }
        units["CS-SE"] = self.unit("CS-SE", "department", "CS", name="软件工程系")
        units["CS-AI"] = self.unit("CS-AI", "department", "CS", name="人工智能系")
        units["MATH-PURE"] = self.unit("MATH-PURE", "department", "MATH", name="基础数学系")
        return units

    def user(
        self, username: str, *roles: str, name: str | None = None, password: str | None = PASSWORD
    ) -> User:
        user = accounts.create_user(
            self.session,
            username=username,
            name=name or username.title(),
            email=f"{username}@example.edu",
            roles=[accounts.parse_role_spec(r) for r in roles],
            password=None if password == self.PASSWORD else password,
        )
        if password == self.PASSWORD:
            user.password_hash = _default_hash(password)
        self.session.commit()
        return user

    def term(
        self,
        code: str = "2026-2027-1",
        start: date = date(2026, 9, 1),
        end: date = date(2027, 1, 20),
    ) -> Term:
        term = Term(code=code, name=code, start_date=start, end_date=end)
        self.session.add(term)
        self.session.commit()
        return term

    def course(self, code: str, department: OrgUnit, title: str | None = None) -> Course:
        course = Course(code=code, title=title or code, department_id=department.id)
        self.session.add(course)
        self.session.commit()
        return course

    def section(
        self, code: str, course: Course, term: Term, teacher: User | None = None, enrolled: int = 30
    ) -> Section:
        section = Section(
            code=code,
            course_id=course.id,
            term_id=term.id,
            teacher_id=teacher.id if teacher else None,
            enrolled=enrolled,
        )
        self.session.add(section)
        self.session.commit()
        return section

    def group(
        self, code: str, department: OrgUnit, term: Term, tutor: User | None = None, size: int = 10
    ) -> TutorGroup:
        group = TutorGroup(
            code=code,
            name=code,
            department_id=department.id,
            term_id=term.id,
            tutor_id=tutor.id if tutor else None,
            size=size,
        )
        self.session.add(group)
        self.session.commit()
        return group
