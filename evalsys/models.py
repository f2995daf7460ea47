"""Import every table so that ``SQLModel.metadata`` is complete.

Alembic's env.py and the test fixtures import this module: a model missing
here would look to autogenerate like a table to drop.
"""

from evalsys.accounts.models import AuditEvent, RoleGrant, User
from evalsys.feedback.models import (
    Feedback,
    FeedbackRevision,
    FeedbackScore,
    Rubric,
    RubricItem,
    TeacherResponse,
)
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section, Term, TutorGroup

__all__ = [
    "AuditEvent",
    "Course",
    "Feedback",
    "FeedbackRevision",
    "FeedbackScore",
    "OrgUnit",
    "OrgUnitClosure",
    "RoleGrant",
    "Rubric",
    "RubricItem",
    "Section",
    "TeacherResponse",
    "Term",
    "TutorGroup",
    "User",
]
