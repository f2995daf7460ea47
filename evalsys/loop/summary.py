"""How many problems a term found, resolved and verified, per child unit and in total:
what the problem list shows above its rows and the next term's report compares.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import Session

_SUMMARY = """
SELECT c.id AS unit_id, c.code, c.name, c.name_en,
       COALESCE(SUM(CASE WHEN p.status IN ('open', 'in_progress', 'resolved', 'verified')
                         THEN 1 ELSE 0 END), 0) AS found,
       COALESCE(SUM(CASE WHEN p.status IN ('resolved', 'verified') THEN 1 ELSE 0 END), 0)
           AS resolved,
       COALESCE(SUM(CASE WHEN p.status = 'verified' THEN 1 ELSE 0 END), 0) AS verified,
       COALESCE(SUM(CASE WHEN p.status IN ('open', 'in_progress') THEN 1 ELSE 0 END), 0)
           AS open,
       COALESCE(SUM(CASE WHEN p.status = 'proposed' THEN 1 ELSE 0 END), 0) AS proposed,
       COALESCE(SUM(CASE WHEN p.status = 'dismissed' THEN 1 ELSE 0 END), 0) AS dismissed
FROM org_unit c
JOIN org_unit_closure cl ON cl.ancestor_id = c.id
LEFT JOIN loop_problem p ON p.unit_id = cl.descendant_id AND p.term_id = :term_id
WHERE {where}
GROUP BY c.id, c.code, c.name, c.name_en
ORDER BY c.code
"""
COUNT_KEYS = ("found", "resolved", "verified", "open", "proposed", "dismissed")


def summary(session: Session, *, term_id: int, unit_id: int) -> dict[str, Any]:
    """Problem counts of a term per child unit (each with its whole subtree), and in total.

    "found" counts confirmed problems (open, in progress, resolved, verified);
    "resolved" those resolved or since verified; merged ones count in their target.
    Two queries, computed in the database.
    """
    children = [
        dict(r)
        for r in session.execute(
            text(_SUMMARY.format(where="c.parent_id = :unit_id")),
            {"term_id": term_id, "unit_id": unit_id},
        ).mappings()
    ]
    row = (
        session.execute(
            text(_SUMMARY.format(where="c.id = :unit_id")),
            {"term_id": term_id, "unit_id": unit_id},
        )
        .mappings()
        .one()
    )
    total = dict(row)
    own = {k: total[k] - sum(c[k] for c in children) for k in COUNT_KEYS}
    return {"children": children, "own": own, "total": {k: total[k] for k in COUNT_KEYS}}
