"""Tables of the weekly bulletins: every rendering, and every delivery by email.

A ``bulletin`` row is one rendering of one unit's bulletin for one ISO week in one
language; the newest row of a (unit, week, language) is the current one. Its file is
written as the term reports' are (:mod:`evalsys.reports.store`: a fsynced part, the
row committed under the directory's lock, then the rename), and a download serves the
bytes only when their SHA-256 is the row's.

A ``bulletin_delivery`` row is one email of a unit's bulletin of a week to one person:
the unique constraint on (unit, week, user) keeps a week's bulletin from reaching anyone
twice, however often it is re-rendered or the job retried.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow
from evalsys.feedback.vocab import sql_in
from evalsys.reports.models import DeliveryStatus


class Bulletin(SQLModel, table=True):
    __tablename__ = "bulletin"
    __table_args__ = (
        CheckConstraint("pages >= 0", name="pages_nonneg"),
        Index("ix_bulletin_unit_week", "unit_id", "week", "locale"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", ondelete="CASCADE")
    #: The ISO week, ``2026-W45``.
    week: str = Field(max_length=8, index=True)
    locale: str = Field(default="zh", max_length=8)
    path: str = Field(max_length=1000)
    sha256: str = Field(max_length=64)
    pages: int
    size: int = 0
    #: Nothing happened that week: the bulletin says so in a line.
    empty: bool = False
    generated_at: datetime = Field(default_factory=utcnow)


class BulletinDelivery(SQLModel, table=True):
    __tablename__ = "bulletin_delivery"
    __table_args__ = (
        CheckConstraint(sql_in("status", DeliveryStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        UniqueConstraint("unit_id", "week", "user_id", name="uq_bulletin_delivery_week_user"),
        Index("ix_bulletin_delivery_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bulletin_id: int = Field(foreign_key="bulletin.id", index=True, ondelete="CASCADE")
    unit_id: int = Field(foreign_key="org_unit.id", index=True, ondelete="CASCADE")
    week: str = Field(max_length=8)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
