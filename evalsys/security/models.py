"""Login attempts and password-reset requests, kept in the database so that every web worker
sees the same count."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow


class AttemptKind(StrEnum):
    """What was tried: each kind is counted on its own (``security.ratelimit``)."""

    #: A login (or a current password typed to change it): failures count.
    LOGIN = "login"
    #: A "forgot password" request: every request counts (each may send an email);
    #: ``username`` holds the email address as typed.
    RESET = "reset"


class LoginAttempt(SQLModel, table=True):
    """One login try: the username as typed (lowercased), the client address, the outcome.

    Failures are counted per username and per address over a sliding window;
    a success ends the username's count (failures before it no longer block).
    Password-reset requests are kept here too (``kind``), counted apart from logins.
    Rows older than a day are deleted as new ones arrive.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_ip_at", "ip", "at"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k.value}'" for k in AttemptKind) + ")", name="kind"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    username: str = Field(max_length=80)
    ip: str = Field(max_length=64)
    succeeded: bool = False
    kind: str = Field(
        default=AttemptKind.LOGIN.value,
        max_length=10,
        sa_column_kwargs={"server_default": AttemptKind.LOGIN.value},
    )
