"""Login attempts, kept in the database so that every web worker sees the same count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow


class LoginAttempt(SQLModel, table=True):
    """One login try: the username as typed (lowercased), the client address, the outcome.

    Failures are counted per username and per address over a sliding window;
    a success ends the username's count (failures before it no longer block).
    Rows older than a day are deleted as new ones arrive.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_ip_at", "ip", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    username: str = Field(max_length=80)
    ip: str = Field(max_length=64)
    succeeded: bool = False
