"""Account services: creating users, passwords, grants, authentication, the audit log.

Plain functions taking a session, used alike by views, the CLI, the importer and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import update
from sqlmodel import Session, col, delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from evalsys.accounts import policy, sessions
from evalsys.accounts.models import ROLE_VALUES, AuditEvent, RoleGrant, SessionEnd, User
from evalsys.org.models import OrgUnit

# A hash of a random string, checked when the username is unknown so that an
# unknown user and a wrong password take the same time and get the same answer.
_DUMMY_HASH = generate_password_hash("evalsys-timing-equaliser")


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class PasswordRejected(AccountError):
    """A new password breaks the policy (:mod:`evalsys.accounts.policy`); the message says
    which rules, in the reader's language."""


class PasswordChangedMeanwhile(AccountError):
    """The password is no longer the one the caller saw (a set-password link used twice at
    once): nothing was changed."""


class _Unchecked(Enum):
    """``set_password(replacing=...)`` left out: whatever the stored hash is, replace it."""

    ANY = 0


@dataclass(frozen=True)
class RoleSpec:
    role: str
    unit_code: str

    def __str__(self) -> str:
        return f"{self.role}@{self.unit_code}"


def parse_role_spec(text: str) -> RoleSpec:
    """Parse ``ROLE@UNITCODE`` (e.g. ``dean@CS``)."""
    role, sep, unit = text.strip().partition("@")
    role, unit = role.strip().lower(), unit.strip()
    if not sep or not role or not unit:
        raise AccountError(f"'{text}' is not ROLE@UNITCODE (for example dean@CS)")
    if role not in ROLE_VALUES:
        raise AccountError(f"unknown role '{role}' in '{text}'; roles are {', '.join(ROLE_VALUES)}")
    return RoleSpec(role, unit)


def parse_role_list(text: str) -> list[RoleSpec]:
    """Parse ``dean@CS;teacher@CS-SE`` (semicolons or commas between grants)."""
    parts = [p for p in text.replace(",", ";").split(";") if p.strip()]
    return [parse_role_spec(p) for p in parts]


def check_password_strength(password: str, user: policy.Person) -> None:
    """Refuse a password the policy refuses, with every reason (see :mod:`.policy`)."""
    found = policy.problems(password, user)
    if found:
        raise PasswordRejected(" ".join(found))


def set_password(
    session: Session,
    user: User,
    password: str,
    *,
    keep: str | None = None,
    by: int | None = None,
    replacing: str | None | _Unchecked = _Unchecked.ANY,
) -> int:
    """Check the password against the policy, set it, and end the user's sessions but
    ``keep`` (a raw session id).

    The one way a password is set (the CLI, a set-password link, "change my password"),
    so the policy and the hashing are the same everywhere. Whoever knew the old password
    may be logged in somewhere: a new password logs them out. A user changing their own
    password keeps the session they did it in. Returns the number of sessions ended.

    ``replacing``: the stored hash the caller saw (None: no password yet). The new one is
    written only if it is still that one, in one UPDATE, else
    :class:`PasswordChangedMeanwhile`: a link that works once works once even when it is
    used twice at the same moment.
    """
    check_password_strength(password, user)
    # Werkzeug's default is scrypt, a memory-hard modern scheme.
    new_hash = generate_password_hash(password)
    if not isinstance(replacing, _Unchecked):
        written = session.exec(
            update(User)
            .where(
                col(User.id) == user.id,
                col(User.password_hash).is_not_distinct_from(replacing),
            )
            .values(password_hash=new_hash)
            .execution_options(synchronize_session=False)
        ).rowcount
        if written != 1:
            raise PasswordChangedMeanwhile("the password was changed meanwhile; nothing changed")
    user.password_hash = new_hash
    session.add(user)
    return sessions.end_all(session, user, reason=SessionEnd.PASSWORD, keep=keep, by=by)


def set_active(session: Session, user: User, active: bool, *, by: int | None = None) -> int:
    """Switch an account on or off (audited); switching it off ends its sessions.

    Returns the number of sessions ended. A deactivated user cannot log in, and
    their old cookies stay dead when the account is switched on again.
    """
    if user.active != active:
        user.active = active
        session.add(user)
        action = "user.activate" if active else "user.deactivate"
        before, after = ("inactive", "active") if active else ("active", "inactive")
        detail = f"before: {before}; after: {after}"
        audit(session, action, user_id=by, target=user.username, detail=detail)
    if active:
        return 0
    return sessions.end_all(session, user, reason=SessionEnd.DEACTIVATED, by=by)


def get_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def resolve_units(session: Session, specs: list[RoleSpec]) -> dict[str, OrgUnit]:
    codes = {s.unit_code for s in specs}
    units = session.exec(select(OrgUnit).where(col(OrgUnit.code).in_(codes))).all()
    found = {u.code: u for u in units}
    missing = sorted(codes - found.keys())
    if missing:
        raise AccountError(f"unknown unit code(s): {', '.join(missing)}")
    return found


def replace_grants(session: Session, user: User, specs: list[RoleSpec]) -> None:
    """Make the user's grants exactly ``specs`` (an import re-run changes nothing)."""
    units = resolve_units(session, specs)
    # Units were loaded from the database, so each has its id.
    wanted: set[tuple[str, int]] = {(s.role, units[s.unit_code].id) for s in specs}  # type: ignore[misc]
    existing = session.exec(select(RoleGrant).where(RoleGrant.user_id == user.id)).all()
    assert user.id is not None  # stored: the query above flushed a new user
    have = {(g.role, g.unit_id) for g in existing}
    removed = []
    for grant in existing:
        if (grant.role, grant.unit_id) not in wanted:
            removed.append((grant.role, grant.unit_id))
            session.delete(grant)
    added = sorted(wanted - have)
    for role, unit_id in added:
        session.add(RoleGrant(user_id=user.id, role=role, unit_id=unit_id))
    audit_grant_changes(session, user.username, added=added, removed=removed)
    if removed:
        sessions.end_all(session, user, reason=SessionEnd.ROLES)


def audit_grant_changes(
    session: Session,
    username: str,
    *,
    added: list[tuple[str, int]],
    removed: list[tuple[str, int]],
    by: int | None = None,
    how: str | None = None,
    codes: dict[int, str] | None = None,
) -> None:
    """One ``role.grant`` / ``role.revoke`` event per changed grant, as ``role@UNITCODE``.

    ``codes`` (unit id to code) saves the lookup when the caller has them (the import).
    """
    ids = {unit_id for _, unit_id in added + removed}
    if not ids:
        return
    if codes is None:
        stmt = select(OrgUnit.id, OrgUnit.code).where(col(OrgUnit.id).in_(ids))
        # Ids read from the table are never None; SQLModel types the column as Optional.
        codes = {unit_id: code for unit_id, code in session.exec(stmt).all()}  # type: ignore[misc]
    for action, changes in (("role.grant", added), ("role.revoke", removed)):
        for role, unit_id in sorted(changes):
            detail = f"{role}@{codes.get(unit_id, unit_id)}" + (f" ({how})" if how else "")
            audit(session, action, user_id=by, target=username, detail=detail)


def create_user(
    session: Session,
    *,
    username: str,
    name: str,
    email: str | None = None,
    roles: list[RoleSpec] | None = None,
    password: str | None = None,
) -> User:
    username = username.strip()
    if not username:
        raise AccountError("the username is empty")
    if get_user(session, username) is not None:
        raise AccountError(f"user '{username}' exists already")
    if not name.strip():
        raise AccountError("the name is empty")
    user = User(username=username, name=name.strip(), email=(email or "").strip() or None)
    if password is not None:
        set_password(session, user, password)
    session.add(user)
    session.flush()
    replace_grants(session, user, roles or [])
    audit(
        session,
        "user.create",
        user_id=None,
        target=username,
        detail=";".join(map(str, roles or [])),
    )
    return user


def remove_all_grants(session: Session, user: User) -> None:
    stmt = select(RoleGrant.role, RoleGrant.unit_id).where(RoleGrant.user_id == user.id)
    removed = [(role, unit_id) for role, unit_id in session.exec(stmt).all()]
    session.exec(delete(RoleGrant).where(col(RoleGrant.user_id) == user.id))
    audit_grant_changes(session, user.username, added=[], removed=removed)
    if removed:
        sessions.end_all(session, user, reason=SessionEnd.ROLES)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if the password is right and the account active; None otherwise, alike."""
    user = get_user(session, username.strip())
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    ok = check_password_hash(stored, password)
    if user is None or not user.password_hash or not user.active or not ok:
        return None
    return user


def password_matches(user: User, password: str) -> bool:
    """Is ``password`` the user's? Takes as long when they have none (checked against the
    dummy hash), as :func:`authenticate` does."""
    stored = user.password_hash or _DUMMY_HASH
    ok = check_password_hash(stored, password)
    return ok and bool(user.password_hash)


def audit(
    session: Session,
    action: str,
    *,
    user_id: int | None,
    target: str | None = None,
    detail: str | None = None,
    ip: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            user_id=user_id,
            action=action,
            target=target[:300] if target else None,
            detail=detail[:2000] if detail else None,
            ip=ip,
        )
    )
