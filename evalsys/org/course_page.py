"""A course's page: its figures term by term, its sections with their teachers and figures,
and the records of each section for those who may read them.

Plain values for the template, read in a fixed number of queries whatever the number
of terms, sections and records. Figures come from the aggregation's rows at course and
section level (all kinds, overall): a figure from fewer than MIN_N records is marked
``insufficient`` in those rows, and its mean is then never handed to the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.aggregation.models import ALL_KINDS, OVERALL, AggregateFlag, AggregateResult, Level
from evalsys.aggregation.summary import run_min_n, terms_with_results
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import KIND_NAMES, FeedbackStatus, name_of
from evalsys.org.models import Course, Section, Term

#: Terms in the trend chart, the shown one included (as in the report).
TREND_TERMS = 6


@dataclass
class CoursePage:
    course: Course
    #: Terms that have results (latest first) and the one shown, None before any.
    terms: list[Term] = field(default_factory=list)
    term: Term | None = None
    min_n: int = 3
    #: The course's overall figure per term with results, latest first.
    by_term: list[dict[str, Any]] = field(default_factory=list)
    #: The sections of the shown term (every term when there are no figures to show).
    sections: list[dict[str, Any]] = field(default_factory=list)
    #: Whether the figures (n, mean) are shown: the reader may read reports, and a term
    #: has results.
    figures: bool = False


def course_in_department(session: Session, department_id: int, code: str) -> Course | None:
    """The course of that code in that department; None for a course of another one."""
    return session.exec(
        select(Course).where(Course.code == code, Course.department_id == department_id)
    ).first()


def course_page(
    session: Session,
    course: Course,
    *,
    term_code: str | None,
    reports: bool,
    records: bool,
    min_n: int,
) -> CoursePage | None:
    """The page's values; None when ``term_code`` names no term with results."""
    assert course.id is not None  # loaded from the database
    page = CoursePage(course=course, min_n=min_n)
    if reports:
        page.terms = terms_with_results(session)
        if term_code:
            page.term = next((t for t in page.terms if t.code == term_code), None)
            if page.term is None:
                return None
        elif page.terms:
            page.term = page.terms[0]
        page.figures = page.term is not None
    if page.figures:
        from evalsys.aggregation.service import last_run

        assert page.term is not None and page.term.id is not None
        page.min_n = run_min_n(last_run(session, page.term.id, succeeded=True), min_n)
        page.by_term = _by_term(session, course.id)
    page.sections = _sections(session, course.id, page.term if page.figures else None)
    if records and page.sections:
        _add_records(session, page.sections)
    return page


def trend_points(page: CoursePage) -> list[dict[str, Any]]:
    """The course's overall mean in the last TREND_TERMS terms up to the shown one, oldest
    first (the trend chart's points)."""
    if page.term is None:
        return []
    shown = [r for r in page.by_term if r["start_date"] <= page.term.start_date]
    points = [
        {
            "term": r["term"].code,
            "n": r["n"],
            "mean": None if r["insufficient"] else r["raw_mean"],
            "insufficient": r["insufficient"],
        }
        for r in shown[:TREND_TERMS]
    ]
    return points[::-1]


def _by_term(session: Session, course_id: int) -> list[dict[str, Any]]:
    """The course's overall result (all kinds) and its number of flags in every term with
    results: one query."""
    flags = (
        select(func.count())
        .where(
            AggregateFlag.term_id == AggregateResult.term_id,
            AggregateFlag.level == Level.COURSE.value,
            AggregateFlag.unit_id == course_id,
        )
        .correlate(AggregateResult)
        .scalar_subquery()
    )
    rows = session.exec(
        select(AggregateResult, Term, flags)
        .join(Term, col(Term.id) == AggregateResult.term_id)
        .where(
            AggregateResult.level == Level.COURSE.value,
            AggregateResult.unit_id == course_id,
            AggregateResult.kind == ALL_KINDS,
            AggregateResult.dimension == OVERALL,
        )
        .order_by(col(Term.start_date).desc())
    ).all()
    return [
        {
            "term": term,
            "start_date": term.start_date,
            "n": r.n,
            "insufficient": r.insufficient or r.n == 0,
            "mean": None if r.insufficient or r.n == 0 else r.mean,
            "raw_mean": r.mean,
            "prev_change": r.prev_change,
            "flags": n_flags,
        }
        for r, term, n_flags in rows
    ]


def _sections(session: Session, course_id: int, term: Term | None) -> list[dict[str, Any]]:
    """The course's sections (of ``term``, or of every term) with teacher, and with the
    section's overall result of that term when there is one: one query."""
    joined = and_(
        col(AggregateResult.term_id) == Section.term_id,
        col(AggregateResult.level) == Level.SECTION.value,
        col(AggregateResult.unit_id) == Section.id,
        col(AggregateResult.kind) == ALL_KINDS,
        col(AggregateResult.dimension) == OVERALL,
    )
    stmt = (
        select(Section, Term, col(User.name), AggregateResult)
        .join(Term, col(Term.id) == Section.term_id)
        .join(User, col(User.id) == Section.teacher_id, isouter=True)
        .join(AggregateResult, joined, isouter=True)
        .where(Section.course_id == course_id)
        .order_by(col(Term.start_date).desc(), Section.code)
    )
    if term is not None:
        stmt = stmt.where(Section.term_id == term.id)
    out = []
    for section, sterm, teacher, result in session.exec(stmt).all():
        n = result.n if result is not None else 0
        few = result is None or result.insufficient or not n
        out.append(
            {
                "id": section.id,
                "code": section.code,
                "term": sterm,
                "teacher": teacher,
                "enrolled": section.enrolled,
                "n": n or 0,
                #: Never the mean of too few records.
                "insufficient": few,
                "mean": None if few else result.mean,
                "records": None,
            }
        )
    return out


def _add_records(session: Session, sections: list[dict[str, Any]]) -> None:
    """Each section's submitted records (date and kind; the record's page has the rest,
    behind its own access check): one query."""
    by_id = {s["id"]: s for s in sections}
    for s in sections:
        s["records"] = []
    rows = session.exec(
        select(
            col(Feedback.id), col(Feedback.section_id), col(Feedback.kind), col(Feedback.visit_date)
        )
        .where(
            col(Feedback.section_id).in_(list(by_id)),
            Feedback.status == FeedbackStatus.SUBMITTED.value,
        )
        .order_by(col(Feedback.visit_date), col(Feedback.id))
    ).all()
    for fid, section_id, kind, visit_date in rows:
        by_id[section_id]["records"].append(
            {"id": fid, "kind": name_of(KIND_NAMES, kind), "date": visit_date}
        )
