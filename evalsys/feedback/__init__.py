"""Feedback collection: versioned rubrics, spot checks, open classes, tutor-group reports.

``rubrics`` reads rubric files and manages versions; the service is ``writes`` (check and
store records for the forms, the API and the CSV import alike), ``reads`` (records read
back, the paged lists) and ``choices`` (what the forms offer), on top of ``inputs``,
``checks``, ``rows`` and ``idempotency``.
"""
