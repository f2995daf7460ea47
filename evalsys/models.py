"""Import every table so that ``SQLModel.metadata`` is complete.

Alembic's env.py and the test fixtures import this module: a model missing
here would look to autogenerate like a table to drop.
"""

from evalsys.accounts.models import AuditEvent, RoleGrant, User
from evalsys.aggregation.models import (
    AggregateCoverage,
    AggregateFlag,
    AggregateResult,
    AggregationRun,
)
from evalsys.api.models import ApiToken
from evalsys.feedback.models import (
    Feedback,
    FeedbackRevision,
    FeedbackScore,
    Rubric,
    RubricItem,
    TeacherResponse,
)
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section, Term, TutorGroup
from evalsys.reports.models import Report, ReportDelivery
from evalsys.scheduler.models import JobRun, SchedulerLease, apscheduler_jobs
from evalsys.security.models import LoginAttempt

__all__ = [
    "AggregateCoverage",
    "AggregateFlag",
    "AggregateResult",
    "AggregationRun",
    "ApiToken",
    "AuditEvent",
    "Course",
    "Feedback",
    "FeedbackRevision",
    "FeedbackScore",
    "JobRun",
    "LoginAttempt",
    "OrgUnit",
    "OrgUnitClosure",
    "Report",
    "ReportDelivery",
    "RoleGrant",
    "Rubric",
    "RubricItem",
    "SchedulerLease",
    "Section",
    "TeacherResponse",
    "Term",
    "TutorGroup",
    "User",
    "apscheduler_jobs",
]
