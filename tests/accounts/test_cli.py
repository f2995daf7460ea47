"""`evalsys create-user` and `evalsys set-password`."""

from __future__ import annotations

from sqlmodel import select

from evalsys.accounts import service
from evalsys.accounts.access import Perm, may
from evalsys.accounts.models import RoleGrant, User


def test_create_user_with_roles_then_set_password_and_log_in(cli, factory, session, auth):
    units = factory.university()
    r = cli(
        "create-user", "zhangwei", "--name", "张伟", "--email", "zw@example.edu",
        "--role", "head@CS-SE", "--role", "teacher@CS-SE",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    user = session.exec(select(User).where(User.username == "zhangwei")).one()
    assert user.name == "张伟" and user.password_hash is None
    grants = session.exec(select(RoleGrant.role).where(RoleGrant.user_id == user.id)).all()
    assert sorted(grants) == ["head", "teacher"]
    assert may(session, user, Perm.VIEW_FEEDBACK, units["CS-SE"].id)

    r = cli("set-password", "zhangwei", input="a long secret\n")
    assert r.exit_code == 0, r.output
    assert "a long secret" not in r.output
    assert auth.login("zhangwei", "a long secret").status_code == 302


def test_create_user_refuses_unknown_role_and_unit(cli, factory, session):
    factory.university()
    r = cli("create-user", "x", "--name", "X", "--role", "emperor@CS")
    assert r.exit_code != 0 and "unknown role 'emperor'" in r.output
    r = cli("create-user", "x", "--name", "X", "--role", "dean@NOPE")
    assert r.exit_code != 0 and "NOPE" in r.output
    r = cli("create-user", "x", "--name", "X", "--role", "dean")
    assert r.exit_code != 0 and "ROLE@UNITCODE" in r.output
    assert session.exec(select(User)).all() == []  # nothing half-written


def test_create_user_twice_refused(cli, factory):
    factory.university()
    assert cli("create-user", "x", "--name", "X").exit_code == 0
    r = cli("create-user", "x", "--name", "Y")
    assert r.exit_code != 0 and "exists already" in r.output


def test_set_password_rules(cli, factory, session):
    factory.university()
    factory.user("li", "teacher@CS-SE", password=None)
    r = cli("set-password", "li", input="short\n")
    assert r.exit_code != 0 and "at least 10 characters" in r.output
    # The policy of every other way a password is set (tests/accounts/test_policy.py).
    r = cli("set-password", "li", input="1234567890\n")
    assert r.exit_code != 0 and "10,000 most common" in r.output
    r = cli("set-password", "li", input="Li-Li-Li-Li-and-li\n")  # two letters: not a word
    assert r.exit_code == 0, r.output
    factory.user("wang.fang", "teacher@CS-SE", password=None)
    r = cli("set-password", "wang.fang", input="my name is WANG.FANG\n")
    assert r.exit_code != 0 and "must not contain your username" in r.output
    r = cli("set-password", "nobody", input="long enough pw\n")
    assert r.exit_code != 0 and "no user 'nobody'" in r.output
    user = session.exec(select(User).where(User.username == "wang.fang")).one()
    session.refresh(user)
    assert user.password_hash is None


def test_password_is_hashed_with_scrypt(session, factory):
    factory.university()
    user = factory.user("p", password="another secret")
    assert user.password_hash.startswith("scrypt:")
    assert "another secret" not in user.password_hash
    assert service.authenticate(session, "p", "another secret") is not None
