"""Tables of the scheduler: the lease that makes one process the scheduler, and job runs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Float, LargeBinary, Table, Unicode
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class SchedulerLease(SQLModel, table=True):
    """Held by the one scheduler process that may run jobs; renewed by a heartbeat.

    A second process finds it held and fresh, and waits or exits. A lease whose
    heartbeat is older than the time-to-live belongs to a dead process and may be taken.
    """

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=200)
    acquired_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)


class JobRun(SQLModel, table=True):
    """One run of a scheduled or hand-started job, for the admins' schedule page."""

    __tablename__ = "job_run"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'skipped')", name="status"),
        CheckConstraint("trigger IN ('schedule', 'manual')", name="trigger"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=80, index=True)
    trigger: str = Field(default="schedule", max_length=20)
    status: str = Field(default=RunStatus.RUNNING.value, max_length=20)
    owner: str = Field(max_length=200)
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None
    detail: str | None = Field(default=None, max_length=4000)


#: APScheduler's own job store table, declared here so that migrations create it
#: and autogenerate knows it (the same columns APScheduler 3 would create).
apscheduler_jobs = Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
