"""Import every table so that ``SQLModel.metadata`` is complete.

Alembic's env.py, the test fixtures and ``create_app`` import this module: a model
missing here would look to autogenerate like a table to drop.

It also imports every module that listens to :mod:`evalsys.signals`: a receiver
connects on import, and every process that changes records imports this module, so
none changes one without its listeners.
"""

from evalsys.accounts.models import AuditEvent, RoleGrant, User, UserSession
from evalsys.aggregation.models import (
    AggregateCoverage,
    AggregateFlag,
    AggregateResult,
    AggregationRun,
)
from evalsys.api.models import ApiToken
from evalsys.bulletins.models import Bulletin, BulletinDelivery
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

# Listeners of evalsys.signals (see above): the planner links spot checks to assignments.
from evalsys.planner import link as _planner_link  # noqa: F401
from evalsys.planner.models import Assignment, CalendarFeed, Draw, PlanSetting
from evalsys.programmes.models import Programme, ProgrammeCourse, TrainingPlan
from evalsys.reports.models import Report, ReportDelivery
from evalsys.scheduler.models import JobRun, SchedulerLease, apscheduler_jobs
from evalsys.security.models import LoginAttempt

__all__ = [
    "Bulletin",
    "BulletinDelivery",
    "Action",
    "ActionNotice",
    "AggregateCoverage",
    "AggregateFlag",
    "AggregateResult",
    "AggregationRun",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "CalendarFeed",
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
    "Programme",
    "ProgrammeCourse",
    "Report",
    "ReportDelivery",
    "RoleGrant",
    "Rubric",
    "RubricItem",
    "SchedulerLease",
    "Section",
    "TeacherResponse",
    "TrainingPlan",
    "Term",
    "TutorGroup",
    "User",
    "UserSession",
    "apscheduler_jobs",
]
