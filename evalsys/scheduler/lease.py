"""A lease row in the database: at most one live scheduler per database.

Works the same on SQLite and PostgreSQL (a conditional UPDATE is atomic on
both), and a process that dies loses the lease when its heartbeat goes stale,
so a restarted scheduler does not wait on a ghost.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from evalsys.clock import utcnow
from evalsys.scheduler.models import SchedulerLease

LEASE_NAME = "scheduler"


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Holder:
    owner: str
    acquired_at: datetime
    heartbeat_at: datetime


def try_acquire(engine: Engine, owner: str, ttl: timedelta, name: str = LEASE_NAME) -> bool:
    """Take the lease if it is free, stale, or already ours. True when we hold it."""
    now = utcnow()
    with Session(engine) as session:
        session.add(SchedulerLease(name=name, owner=owner, acquired_at=now, heartbeat_at=now))
        try:
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
        result = session.exec(
            update(SchedulerLease)
            .where(
                col(SchedulerLease.name) == name,
                or_(
                    col(SchedulerLease.owner) == owner, col(SchedulerLease.heartbeat_at) < now - ttl
                ),
            )
            .values(owner=owner, acquired_at=now, heartbeat_at=now)
        )
        session.commit()
        return result.rowcount == 1


def renew(engine: Engine, owner: str, name: str = LEASE_NAME) -> bool:
    """Heartbeat. False means another process took the lease: stop running jobs."""
    with Session(engine) as session:
        result = session.exec(
            update(SchedulerLease)
            .where(col(SchedulerLease.name) == name, col(SchedulerLease.owner) == owner)
            .values(heartbeat_at=utcnow())
        )
        session.commit()
        return result.rowcount == 1


def holds(engine: Engine, owner: str, name: str = LEASE_NAME) -> bool:
    with Session(engine) as session:
        lease = session.get(SchedulerLease, name)
        return lease is not None and lease.owner == owner


def holder(engine: Engine, name: str = LEASE_NAME) -> Holder | None:
    with Session(engine) as session:
        lease = session.get(SchedulerLease, name)
        if lease is None:
            return None
        return Holder(lease.owner, lease.acquired_at, lease.heartbeat_at)


def release(engine: Engine, owner: str, name: str = LEASE_NAME) -> None:
    with Session(engine) as session:
        session.exec(
            delete(SchedulerLease).where(
                col(SchedulerLease.name) == name, col(SchedulerLease.owner) == owner
            )
        )
        session.commit()
