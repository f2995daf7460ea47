"""Feedback collection: versioned rubrics, spot checks, open classes, tutor-group reports.

``rubrics`` reads rubric files and manages versions; ``service`` checks and stores
feedback records for the forms, the API and the CSV import alike.
"""
