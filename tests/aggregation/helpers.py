"""Reading the stored aggregates back, for comparisons in the tests."""

from __future__ import annotations

import math
from typing import Any

from sqlmodel import Session, col, select

from evalsys.aggregation.models import AggregateCoverage, AggregateFlag, AggregateResult


def results(session: Session, term_id: int) -> dict[tuple, AggregateResult]:
    session.expire_all()
    rows = session.exec(select(AggregateResult).where(AggregateResult.term_id == term_id)).all()
    return {(r.level, r.unit_id, r.kind, r.dimension): r for r in rows}


def flags(session: Session, term_id: int) -> dict[tuple, AggregateFlag]:
    rows = session.exec(select(AggregateFlag).where(AggregateFlag.term_id == term_id)).all()
    return {(f.level, f.unit_id, f.kind, f.dimension, f.flag): f for f in rows}


def snapshot(session: Session, term_id: int | None = None) -> dict[str, list[tuple]]:
    """Every column of every aggregate row (of one term, or all), in key order."""
    session.rollback()  # a fresh read: under WAL an open transaction keeps an old snapshot
    out: dict[str, list[tuple]] = {}
    for model in (AggregateResult, AggregateCoverage, AggregateFlag):
        stmt = select(model)
        if term_id is not None:
            stmt = stmt.where(model.term_id == term_id)
        keys = [c.name for c in model.__table__.primary_key.columns]  # type: ignore[attr-defined]
        stmt = stmt.order_by(*(col(getattr(model, k)) for k in keys))
        columns = [c.name for c in model.__table__.columns]  # type: ignore[attr-defined]
        out[model.__tablename__] = [  # type: ignore[index]
            tuple(getattr(row, c) for c in columns) for row in session.exec(stmt).all()
        ]
    return out


def close(a: Any, b: Any, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
