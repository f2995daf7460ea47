"""Tables of the term reports: every rendering, and every delivery by email.

A ``report`` row is one rendering of one unit's report for one term: where the
file was written, its hash, the hash of its inputs (the report data and the
template/stylesheet version) and its page count. A unit's current report in a
language (``locale``: each language is its own file) is its newest row in that
language. A rendering is skipped when that row has the same input hash and its
file is still there unchanged. The row is committed just before its file is renamed
into place, and a rename cut short is finished later, so a file on disk is always its
newest row's (:mod:`evalsys.reports.store`).

A ``report_delivery`` row is one email of one report *version* (term, unit,
input hash) to one person: the unique constraint on those keeps a version from
being sent twice to anyone, whatever re-renders or retries happen.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow
from evalsys.feedback.vocab import sql_in


class Report(SQLModel, table=True):
    __tablename__ = "report"
    __table_args__ = (
        CheckConstraint("pages >= 0", name="pages_nonneg"),
        Index("ix_report_term_unit", "term_id", "unit_id", "generated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    term_id: int = Field(foreign_key="term.id", ondelete="CASCADE")
    unit_id: int = Field(foreign_key="org_unit.id", index=True, ondelete="CASCADE")
    #: The report's language ("zh", "en"): part of its input hash and of its file name.
    locale: str = Field(default="zh", max_length=8, sa_column_kwargs={"server_default": "zh"})
    #: Where the PDF was written (absolute, as the renderer saw it).
    path: str = Field(max_length=1000)
    sha256: str = Field(max_length=64)
    #: Hash of the report data and of the template/stylesheet/chart version.
    input_hash: str = Field(max_length=64)
    pages: int
    size: int = 0
    #: Wall-clock seconds the rendering took (data, charts, HTML, PDF).
    seconds: float = 0.0
    generated_at: datetime = Field(default_factory=utcnow)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    #: Failed too often: no more retries (an admin can reset it to pending).
    GAVE_UP = "gave_up"


class ReportDelivery(SQLModel, table=True):
    __tablename__ = "report_delivery"
    __table_args__ = (
        CheckConstraint(sql_in("status", DeliveryStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        UniqueConstraint(
            "term_id", "unit_id", "input_hash", "user_id", name="uq_report_delivery_version_user"
        ),
        Index("ix_report_delivery_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True, ondelete="CASCADE")
    term_id: int = Field(foreign_key="term.id", ondelete="CASCADE")
    unit_id: int = Field(foreign_key="org_unit.id", index=True, ondelete="CASCADE")
    input_hash: str = Field(max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
