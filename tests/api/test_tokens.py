"""API tokens: `evalsys token create|list|revoke`, `create-token`, hashing, last use."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select as select_table
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import SQLModel, col, select

from evalsys.accounts.models import AuditEvent
from evalsys.api import tokens
from evalsys.api.models import ApiToken
from evalsys.clock import utcnow


@pytest.fixture(autouse=True)
def units(factory) -> None:
    factory.university()


def only_token(session) -> ApiToken:
    session.commit()  # a new transaction: SQLite would keep the old read snapshot
    session.expire_all()
    return session.exec(select(ApiToken)).one()


def test_create_prints_the_token_once_and_stores_its_hash(cli, session, factory):
    user = factory.user("sup", "supervisor@U")
    result = cli("token", "create", "sup", "--name", "Li's phone")
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert raw.startswith("evs_") and len(raw) == 4 + 43
    assert "shown only now" in result.stderr
    token = only_token(session)
    assert token.user_id == user.id
    assert token.name == "Li's phone"
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:12]
    assert (token.last_used_at, token.revoked_at) == (None, None)
    audited = select(AuditEvent.action, AuditEvent.target, AuditEvent.detail).where(
        col(AuditEvent.action).startswith("token.")
    )
    assert session.exec(audited).all() == [("token.create", "sup", raw[:12])]


def test_the_raw_token_is_nowhere_in_the_database(cli, client, session, factory):
    factory.user("sup", "supervisor@U")
    raw = cli("token", "create", "sup").stdout.strip()
    assert (
        client.get("/api/v1/feedback", headers={"Authorization": f"Bearer {raw}"}).status_code
        == 200
    )
    session.expire_all()
    dump = []
    for table in SQLModel.metadata.sorted_tables:
        dump += [repr(tuple(row)) for row in session.execute(select_table(table)).all()]
    text = "\n".join(dump)
    assert hashlib.sha256(raw.encode()).hexdigest() in text  # the dump is complete...
    assert raw not in text  # ...and holds no token
    assert raw[12:] not in text


def test_create_token_alias_as_the_issue_spells_it(cli, session, factory):
    factory.user("lead", "leader@U")
    result = cli("create-token", "lead")
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert only_token(session).token_hash == tokens.hash_token(raw)


def test_create_for_unknown_or_deactivated_user_fails(cli, session, factory):
    result = cli("token", "create", "ghost")
    assert result.exit_code == 1
    assert "no user 'ghost'" in result.output
    user = factory.user("gone")
    user.active = False
    session.add(user)
    session.commit()
    result = cli("token", "create", "gone")
    assert result.exit_code == 1
    assert "the account 'gone' is deactivated" in result.output
    assert session.exec(select(ApiToken)).all() == []


def test_list_shows_prefix_owner_name_and_use(cli, client, session, factory):
    factory.user("sup", "supervisor@U")
    factory.user("lead", "leader@U")
    raw = cli("token", "create", "sup", "--name", "sync").stdout.strip()
    cli("token", "create", "lead")
    client.get("/api/v1/feedback", headers={"Authorization": f"Bearer {raw}"})

    lines = cli("token", "list").output.splitlines()
    assert lines[0] == "id\tprefix\tuser\tname\tcreated\tlast used\trevoked"
    sup, lead = (line.split("\t") for line in lines[1:])
    assert sup[1:4] == [raw[:12], "sup", "sync"]
    assert sup[5].endswith("UTC") and sup[6] == "-"
    assert lead[2:4] == ["lead", "-"] and lead[5] == "never"
    assert raw not in "\n".join(lines)

    only_lead = cli("token", "list", "lead").output.splitlines()
    assert len(only_lead) == 2 and only_lead[1].split("\t")[2] == "lead"
    assert cli("token", "list", "nobody").output == "No tokens for nobody.\n"


def test_revoke_by_prefix_or_id(cli, client, session, factory):
    factory.user("sup", "supervisor@U")
    first = cli("token", "create", "sup").stdout.strip()
    second = cli("token", "create", "sup").stdout.strip()
    auth = {"Authorization": f"Bearer {first}"}
    assert client.get("/api/v1/feedback", headers=auth).status_code == 200

    result = cli("token", "revoke", first[:12])
    assert result.exit_code == 0, result.output
    assert "revoked" in result.output
    assert client.get("/api/v1/feedback", headers=auth).status_code == 401
    assert (
        client.get("/api/v1/feedback", headers={"Authorization": f"Bearer {second}"}).status_code
        == 200
    )

    session.expire_all()
    second_id = session.exec(
        select(ApiToken.id).where(ApiToken.token_hash == tokens.hash_token(second))
    ).one()
    assert cli("token", "revoke", str(second_id)).exit_code == 0
    assert (
        client.get("/api/v1/feedback", headers={"Authorization": f"Bearer {second}"}).status_code
        == 401
    )
    again = cli("token", "revoke", str(second_id))
    assert again.exit_code == 0 and "already revoked" in again.output
    listed = cli("token", "list").output.splitlines()[1:]
    assert all(line.split("\t")[6].endswith("UTC") for line in listed)
    session.commit()
    actions = session.exec(
        select(AuditEvent.action)
        .where(col(AuditEvent.action).startswith("token."))
        .order_by(col(AuditEvent.id))
    ).all()
    assert actions == ["token.create", "token.create", "token.revoke", "token.revoke"]


def test_revoke_refuses_unknown_short_and_ambiguous(cli, session, factory):
    factory.user("sup", "supervisor@U")
    cli("token", "create", "sup")
    cli("token", "create", "sup")
    assert "no token matches 'evs_zzzzzzzz'" in cli("token", "revoke", "evs_zzzzzzzz").output
    assert "neither a token id nor a token prefix" in cli("token", "revoke", "evs").output
    assert cli("token", "revoke", "999").exit_code == 1
    session.expire_all()
    for token in session.exec(select(ApiToken)).all():
        token.prefix = "evs_SAMEpref"
        session.add(token)
    session.commit()
    result = cli("token", "revoke", "evs_SAMEpref")
    assert result.exit_code == 1
    assert "matches several tokens" in result.output
    assert all(t.revoked_at is None for t in session.exec(select(ApiToken)).all())


def test_last_used_is_written_at_most_once_a_minute(client, session, factory):
    user = factory.user("sup", "supervisor@U")
    _, raw = tokens.create_token(session, user=user)
    session.commit()
    auth = {"Authorization": f"Bearer {raw}"}

    client.get("/api/v1/feedback", headers=auth)
    first = only_token(session).last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    client.get("/api/v1/feedback", headers=auth)
    assert only_token(session).last_used_at == first

    token = only_token(session)
    token.last_used_at = first - timedelta(minutes=2)
    session.add(token)
    session.commit()
    client.get("/api/v1/feedback", headers=auth)
    assert only_token(session).last_used_at > first


def test_note_use_is_conditional_in_sql(session, factory):
    """Two requests that both read an old last_used_at write it once between them."""
    user = factory.user("sup", "supervisor@U")
    token, _ = tokens.create_token(session, user=user)
    session.commit()
    now = utcnow()
    stale = session.get(ApiToken, token.id)
    assert tokens.note_use(session, stale, now) is True
    # As a concurrent request that read the row before this write:
    set_committed_value(stale, "last_used_at", None)
    assert tokens.note_use(session, stale, now + timedelta(seconds=5)) is False
    assert tokens.note_use(session, stale, now + timedelta(seconds=61)) is True
