"""What the feedback forms offer to choose from: which kinds of record a user may write at
all, the terms still open, and the sections and tutor groups of those terms in their
scope (with a search over sections).

The same scope rules as :func:`evalsys.feedback.checks.check_feedback` (the kind's
permission, :data:`~evalsys.feedback.checks.SUBMIT_PERM`, on the section's department
through :func:`evalsys.accounts.access.scope_ids`), asked before there is a target: the
check on submit still decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from evalsys.accounts.access import ROLE_PERMS, Perm, scope_ids
from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.feedback.checks import SUBMIT_PERM
from evalsys.feedback.inputs import clean
from evalsys.feedback.vocab import FeedbackKind, ObserverLevel
from evalsys.i18n import localized
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup, UnitKind


def submittable_kinds(session: Session, *, user: User) -> list[str]:
    """The kinds of feedback the user may record at all (which forms to offer).

    The same rules as :func:`check_feedback`'s scope check, asked without a
    target: a grant carrying the kind's permission somewhere; for tutor-group
    reports a tutor role or a group the user tutors; an admin grant for all.
    Whether one particular section or group is allowed is still checked on submit.
    """
    roles = {
        Role(r) for r in session.exec(select(RoleGrant.role).where(RoleGrant.user_id == user.id))
    }
    perms: set[Perm] = set().union(*(ROLE_PERMS[r] for r in roles))
    kinds = [kind.value for kind, perm in SUBMIT_PERM.items() if perm in perms]
    tutors_a_group = session.exec(
        select(TutorGroup.id).where(TutorGroup.tutor_id == user.id).limit(1)
    ).first()
    if Perm.MANAGE in perms or Role.TUTOR in roles or tutors_a_group is not None:
        kinds.append(FeedbackKind.TUTOR_GROUP.value)
    return kinds


#: A term stays open for new records this long after its last day: visits of the
#: last weeks are often written up after the term ends.
OPEN_TERM_GRACE = timedelta(days=30)


def open_terms(session: Session, *, today: date) -> list[Term]:
    """Terms a new record can be about: begun, and not ended more than the grace ago."""
    stmt = (
        select(Term)
        .where(Term.start_date <= today, Term.end_date >= today - OPEN_TERM_GRACE)
        .order_by(col(Term.start_date).desc())
    )
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class SectionChoice:
    code: str
    course_title: str
    course_title_en: str | None
    teacher_name: str | None
    term_code: str
    enrolled: int

    @property
    def shown_title(self) -> str:
        """The course title in the reader's language (the English one where there is one)."""
        return localized(self, "course_title")

    @property
    def label(self) -> str:
        """``CODE — course title — teacher``: what a search box shows and accepts."""
        return " — ".join((self.code, self.shown_title, self.teacher_name or "—"))


def section_choices(
    session: Session,
    *,
    user: User,
    kind: str,
    today: date,
    query: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> tuple[list[SectionChoice], int]:
    """Sections of the open terms the user may record ``kind`` on, and how many match.

    Scope as in :func:`check_feedback`: the kind's permission on the course's
    department, and never one's own section. ``query`` matches the section
    code, the course title (Chinese or English, whichever the reader typed) or
    the teacher's name or username, ignoring case.
    """
    perm = SUBMIT_PERM[FeedbackKind(kind)]
    course_ids = select(Course.id).where(col(Course.department_id).in_(scope_ids(user, perm)))
    term_ids = [t.id for t in open_terms(session, today=today)]
    teacher = aliased(User, name="teacher")
    conditions = [
        col(Section.course_id).in_(course_ids),
        col(Section.term_id).in_(term_ids),
        or_(col(Section.teacher_id).is_(None), col(Section.teacher_id) != user.id),
    ]
    text = clean(query)
    if text is not None:
        needle = text.lower()
        conditions.append(
            or_(
                func.lower(Section.code).contains(needle, autoescape=True),
                func.lower(Course.title).contains(needle, autoescape=True),
                func.lower(Course.title_en).contains(needle, autoescape=True),
                func.lower(teacher.name).contains(needle, autoescape=True),
                func.lower(teacher.username).contains(needle, autoescape=True),
            )
        )
    # sqlmodel's select() is typed for at most four columns; it takes any number.
    base = (
        select(  # type: ignore[call-overload]
            Section.code, Course.title, Course.title_en, teacher.name, Term.code, Section.enrolled
        )
        .join(Course, col(Course.id) == Section.course_id)
        .join(Term, col(Term.id) == Section.term_id)
        .outerjoin(teacher, col(teacher.id) == Section.teacher_id)
        .where(*conditions)
    )
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(base.order_by(col(Section.code)).limit(limit).offset(offset)).all()
    return [SectionChoice(*row) for row in rows], total


#: The open-class observer level a leader's grant implies, by the kind of its unit.
_LEADER_LEVEL: dict[str, ObserverLevel] = {
    UnitKind.SCHOOL: ObserverLevel.SCHOOL_LEADER,
    UnitKind.COLLEGE: ObserverLevel.COLLEGE_LEADER,
}


def observer_level_of(session: Session, *, user: User) -> str | None:
    """The observer level an open-class form starts with: a leader of the school is a
    school leader, a leader of a college a college leader (the school's grant wins when
    they hold both). None for anyone else (a department's leader, a peer, an admin):
    the form then asks, as the observer's own judgement is what is stored.
    """
    kinds = set(
        session.exec(
            select(OrgUnit.kind)
            .join(RoleGrant, col(RoleGrant.unit_id) == OrgUnit.id)
            .where(RoleGrant.user_id == user.id, RoleGrant.role == Role.LEADER.value)
        ).all()
    )
    for kind in (UnitKind.SCHOOL, UnitKind.COLLEGE):
        if kind in kinds:
            return _LEADER_LEVEL[kind].value
    return None


@dataclass(frozen=True)
class GroupChoice:
    code: str
    name: str
    term_code: str
    size: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.code})"


def group_choices(session: Session, *, user: User, today: date) -> list[GroupChoice]:
    """Tutor groups of the open terms the user may report on: their own (admins: their units')."""
    term_ids = [t.id for t in open_terms(session, today=today)]
    stmt = (
        select(TutorGroup.code, TutorGroup.name, Term.code, TutorGroup.size)
        .join(Term, col(Term.id) == TutorGroup.term_id)
        .where(
            col(TutorGroup.term_id).in_(term_ids),
            or_(
                col(TutorGroup.tutor_id) == user.id,
                col(TutorGroup.department_id).in_(scope_ids(user, Perm.MANAGE)),
            ),
        )
        .order_by(col(Term.start_date).desc(), col(TutorGroup.code))
    )
    return [GroupChoice(*row) for row in session.exec(stmt).all()]
