"""What an import of programmes.csv does beyond writing rows (the rows themselves are
checked and written by :mod:`evalsys.importer`, which sits above this package).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

#: The statement of the migration that made programmes records (2fb262dedd8f): an action's
#: free-text programme that is a programme's code (spaces around it ignored) is linked to
#: that programme and its text cleared; other text stays as it was typed.
LINK_FREE_TEXT = """
UPDATE loop_action
SET plan_programme_id = (
        SELECT p.id FROM programme AS p
        WHERE p.code = trim(loop_action.plan_programme)),
    plan_programme = NULL
WHERE plan_programme_id IS NULL
  AND plan_programme IS NOT NULL
  AND EXISTS (
        SELECT 1 FROM programme AS p
        WHERE p.code = trim(loop_action.plan_programme))
"""


def link_free_text(session: Session) -> int:
    """Link the actions whose typed programme is now a programme's code; how many were.

    Run after every import of programmes: a database migrated to programmes had none,
    so the migration's own run of this statement finds what was typed only once the
    programmes are imported.
    """
    result = session.connection().execute(text(LINK_FREE_TEXT))
    return int(result.rowcount or 0)
