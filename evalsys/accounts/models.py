"""Users and their role grants. A grant on a unit covers that unit's whole subtree."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from evalsys import db as _db  # noqa: F401  (naming convention first)
from evalsys.clock import utcnow


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    LEADER = "leader"
    TUTOR = "tutor"
    DEAN = "dean"
    HEAD = "head"
    TEACHER = "teacher"


ROLE_VALUES = tuple(r.value for r in Role)


class User(SQLModel, table=True):
    # "user" is a reserved word in PostgreSQL.
    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("length(username) > 0", name="username_not_empty"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    #: None until a password is set: such an account cannot log in.
    password_hash: str | None = Field(default=None, max_length=255)
    active: bool = True
    #: "zh" or "en"; None follows the browser (web) or the site default (emails, reports).
    locale: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(default_factory=utcnow)
    #: The base32 secret of the user's authenticator app (TOTP, ``accounts.totp``); None:
    #: no second factor. Only used once ``totp_enabled_at`` is set (enrolment confirmed).
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = None
    #: The last TOTP time step accepted, so that one code cannot be used twice.
    totp_last_step: int | None = None

    # What Flask-Login asks of a user object (UserMixin does not mix with SQLModel).
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class RoleGrant(SQLModel, table=True):
    __tablename__ = "role_grant"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLE_VALUES) + ")", name="role"),
        UniqueConstraint("user_id", "role", "unit_id", name="uq_role_grant_user_role_unit"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=20)
    unit_id: int = Field(foreign_key="org_unit.id", index=True, ondelete="CASCADE")


class SessionEnd(StrEnum):
    """Why a login session ended."""

    LOGOUT = "logout"
    PASSWORD = "password"
    DEACTIVATED = "deactivated"
    ROLES = "roles"
    EXPIRED = "expired"
    #: An administrator reset the user's second factor (a lost phone).
    SECOND_FACTOR = "second_factor"


class SignInMethod(StrEnum):
    """How a login session was opened: a local password, the LDAP directory, or OpenID Connect."""

    PASSWORD = "password"
    LDAP = "ldap"
    OIDC = "oidc"


class UserSession(SQLModel, table=True):
    """One login in one browser, so that logging out (or a password change) can end it.

    Flask's session cookie is signed, not stored: without this row a copied cookie
    would keep working after logout. The cookie carries a random id; only its
    SHA-256 digest is kept here, so a copy of the database opens no session.
    """

    __tablename__ = "user_session"
    __table_args__ = (
        CheckConstraint(
            "end_reason IN (" + ", ".join(f"'{r.value}'" for r in SessionEnd) + ")",
            name="end_reason",
        ),
        CheckConstraint("(ended_at IS NULL) = (end_reason IS NULL)", name="ended_with_reason"),
        CheckConstraint(
            "method IN (" + ", ".join(f"'{m.value}'" for m in SignInMethod) + ")", name="method"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    #: Moved on by requests at most about once a minute (see ``accounts.sessions``).
    last_seen_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    end_reason: str | None = Field(default=None, max_length=20)
    method: str = Field(default=SignInMethod.PASSWORD.value, max_length=10)


class RecoveryCode(SQLModel, table=True):
    """A one-time code that stands in for the authenticator app when it is lost.

    Only the SHA-256 digest is kept (the codes are random, so no slow hash is needed);
    ``used_at`` is set when one is spent, and a new set replaces the old.
    """

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = None


def _one_of(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v.value}'" for v in enum) + ")"


class MailKind(StrEnum):
    """What an account email carries: a set-password link for a new account, or for a reset."""

    INVITE = "invite"
    RESET = "reset"


class MailStatus(StrEnum):
    PENDING = "pending"
    #: Claimed by a sender: no other sender touches it (until it is taken for dead).
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    GAVE_UP = "gave_up"
    #: Not sent, and never will be: when its turn came, the account was switched off, its
    #: email address had changed, or (an invitation) it had a password already.
    DROPPED = "dropped"


class AccountMail(SQLModel, table=True):
    """One email with a set-password link, queued, then sent and retried like the others.

    The link is not stored: it is signed when the email is sent (``accounts.links``), so
    the table holds nothing that opens an account. ``email`` is the address it was queued
    for; if the user's address changed since, the email is dropped, not sent to the old one.
    """

    __tablename__ = "account_mail"
    __table_args__ = (
        CheckConstraint(_one_of("kind", MailKind), name="kind"),
        CheckConstraint(_one_of("status", MailStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        Index("ix_account_mail_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)
    email: str = Field(max_length=254)
    status: str = Field(default=MailStatus.PENDING.value, max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    #: When a sender claimed it last; a claim this old is taken for a dead sender's.
    claimed_at: datetime | None = None
    sent_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """Who did what, when: logins, failed logins, role changes, imports, exports.

    Rows are only ever inserted; no view offers to edit or delete them.
    """

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    action: str = Field(max_length=60, index=True)
    target: str | None = Field(default=None, max_length=300)
    detail: str | None = Field(default=None, max_length=2000)
    ip: str | None = Field(default=None, max_length=64)
