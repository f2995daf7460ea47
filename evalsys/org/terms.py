"""Questions about terms that several areas ask: the aggregation's comparisons, the
dashboards, the closing-the-loop report and the planner's "rated low last term"
must all mean the same term by "the previous one"."""

from __future__ import annotations

from sqlmodel import Session, col, select

from evalsys.org.models import Term


def previous_term(session: Session, term: Term) -> Term | None:
    """The term with the latest start date before this one's (terms may overlap or leave
    gaps; the start decides). Two starting the same day: the one created last."""
    stmt = (
        select(Term)
        .where(Term.start_date < term.start_date)
        .order_by(col(Term.start_date).desc(), col(Term.id).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def term_by_code(session: Session, code: str) -> Term | None:
    return session.exec(select(Term).where(col(Term.code) == code)).first()


def terms_newest_first(session: Session) -> list[Term]:
    """Every term, the latest start first: what a term picker lists."""
    return list(session.exec(select(Term).order_by(col(Term.start_date).desc())).all())
