"""API tokens. Only a SHA-256 digest is stored: a leaked database leaks no usable token."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    #: A label for the person who holds it ("timetable sync", "Li's phone").
    name: str = Field(default="", max_length=100)
    #: hex SHA-256 of the token; tokens are long random strings, so no salt or slow hash is needed.
    token_hash: str = Field(max_length=64, unique=True)
    #: The first characters of the token, shown in listings so people can tell tokens apart.
    prefix: str = Field(max_length=12)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
