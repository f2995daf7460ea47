"""The columns of a feedback spreadsheet: one row per record, as ``feedback.csv`` lays it out.

The export (:mod:`evalsys.feedback.export`) writes these columns first and the
historical import (:mod:`evalsys.importer.feedback`) reads them, so an exported
sheet can be edited and imported again. They live here, in feedback, because the
importer sits above feedback: feedback never imports the importer.
"""

from __future__ import annotations

#: Columns the header must name (a value may still be empty: group for spot checks...).
COLUMNS = ("kind", "section", "group", "observer", "date", "overall", "comment")
#: Columns read when the header has them: the other fields of a record.
OPTIONAL_COLUMNS = (
    "announced",
    "observer_level",
    "meeting_format",
    "enrolled",
    "present",
    "late",
    "attending",
    "topics",
    "strengths",
    "problems",
    "suggestions",
    "class_period",
    "location",
)
#: ``score:ITEM_CODE`` columns hold the item scores (item codes of the current rubric).
SCORE_PREFIX = "score:"
