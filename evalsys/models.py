"""Import every table so that ``SQLModel.metadata`` is complete.

Alembic's env.py and the test fixtures import this module: a model missing
here would look to autogenerate like a table to drop.
"""

from evalsys.accounts.models import AuditEvent, RoleGrant, User, UserSession
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
from evalsys.loop.models import (
    Action,
    ActionNotice,
    Meeting,
    MeetingAttendee,
    MeetingProblem,
    Problem,
    ProblemEvidence,
)
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section, Term, TutorGroup
from evalsys.planner.models import Assignment, Draw, PlanSetting
from evalsys.reports.models import Report, ReportDelivery
from evalsys.scheduler.models import JobRun, SchedulerLease, apscheduler_jobs
from evalsys.security.models import LoginAttempt

__all__ = [
    "Action",
    "ActionNotice",
    "AggregateCoverage",
    "AggregateFlag",
    "AggregateResult",
    "AggregationRun",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Course",
    "Draw",
    "Feedback",
    "FeedbackRevision",
    "FeedbackScore",
    "JobRun",
    "Meeting",
    "MeetingAttendee",
    "MeetingProblem",
    "LoginAttempt",
    "OrgUnit",
    "OrgUnitClosure",
    "Problem",
    "ProblemEvidence",
    "PlanSetting",
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
    "UserSession",
    "apscheduler_jobs",
]
