"""What the next term's reports say about last term's problems: plain values only.

:func:`report_section` is called once by ``reports.data.report_data`` and shown by
``templates/loop/_report_section.html``: the problems confirmed last term at and
below the unit, what became of each (status, actions done, training-plan
changes), and per child unit how many were found, resolved and verified. Three
queries whatever the size of the unit.

Codes only, no words: the template names them in the reader's language with the
``loop_name`` global (see :mod:`evalsys.loop.views`), so the same data renders a
Chinese or an English report.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from evalsys.loop.summary import summary
from evalsys.org.models import Term
from evalsys.org.terms import previous_term

#: Problems listed in a report; the rest are counted.
REPORT_PROBLEM_LIMIT = 40

_PROBLEMS = """
SELECT p.id, p.title, p.category, p.severity, p.status, p.dismiss_reason,
       u.code AS unit_code, u.name AS unit_name,
       COUNT(a.id) AS actions,
       COALESCE(SUM(CASE WHEN a.status = 'done' THEN 1 ELSE 0 END), 0) AS actions_done,
       COALESCE(SUM(CASE WHEN a.status = 'done' AND a.plan_change IS NOT NULL THEN 1 ELSE 0 END),
                0) AS plan_changes
FROM loop_problem p
JOIN org_unit u ON u.id = p.unit_id
JOIN org_unit_closure cl ON cl.descendant_id = p.unit_id AND cl.ancestor_id = :unit_id
LEFT JOIN loop_action a ON a.problem_id = p.id
WHERE p.term_id = :term_id AND p.status IN ('open', 'in_progress', 'resolved', 'verified')
GROUP BY p.id, p.title, p.category, p.severity, p.status, p.dismiss_reason, u.code, u.name
ORDER BY CASE p.status WHEN 'open' THEN 0 WHEN 'in_progress' THEN 1 WHEN 'resolved' THEN 2
                       ELSE 3 END,
         CASE p.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
         u.code, p.id
"""


def report_section(session: Session, *, term: Term, unit_id: int) -> dict[str, Any]:
    """Last term's problems of the unit (and below) and what became of them.

    Empty (``prev_term`` None) when there is no earlier term. Counts are those
    of :func:`evalsys.loop.summary.summary` for the previous term.
    """
    prev = previous_term(session, term)
    if prev is None:
        return {"prev_term": None, "problems": [], "more": 0, "children": [], "total": {}}
    rows = [
        dict(r)
        for r in session.execute(
            text(_PROBLEMS), {"term_id": prev.id, "unit_id": unit_id}
        ).mappings()
    ]
    problems = [
        {
            "id": r["id"],
            "title": r["title"],
            "unit_code": r["unit_code"],
            "unit_name": r["unit_name"],
            "category": r["category"],
            "severity": r["severity"],
            "status": r["status"],
            "actions": int(r["actions"]),
            "actions_done": int(r["actions_done"]),
            "plan_changes": int(r["plan_changes"]),
        }
        for r in rows[:REPORT_PROBLEM_LIMIT]
    ]
    counts = summary(session, term_id=prev.id, unit_id=unit_id)  # type: ignore[arg-type]  # a stored term
    return {
        "prev_term": {"code": prev.code, "name": prev.name},
        "problems": problems,
        "more": max(0, len(rows) - REPORT_PROBLEM_LIMIT),
        "children": [
            {k: c[k] for k in ("code", "name", "name_en", "found", "resolved", "verified", "open")}
            for c in counts["children"]
        ],
        "own": counts["own"],
        "total": counts["total"],
    }
