"""The database layer: migrations agree with the models, constraints are really on."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, PrimaryKeyConstraint, Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from evalsys import migrate
from evalsys.db import get_engine
from evalsys.org.models import Course, Section


def test_migrations_match_models(app):
    """Autogenerate against the migrated test database finds nothing to change."""
    engine = get_engine(app)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []
    assert migrate.current_revision(engine) == migrate.head_revision()


def _leading_columns(table: Table) -> set[str]:
    """Columns that start an index, a unique key or the primary key: a lookup on one can use it."""
    keys = [list(index.expressions) for index in table.indexes]
    keys += [
        list(c.columns)
        for c in table.constraints
        if isinstance(c, UniqueConstraint | PrimaryKeyConstraint)
    ]
    return {key[0].name for key in keys if key and isinstance(key[0], Column)}


def _foreign_key_columns() -> list[tuple[str, str]]:
    return sorted(
        (table.name, fk.parent.name)
        for table in SQLModel.metadata.tables.values()
        for fk in table.foreign_keys
    )


def test_foreign_keys_listed():
    """The checks below see the foreign keys (an empty metadata would pass them vacuously)."""
    assert ("feedback", "section_id") in _foreign_key_columns()
    assert len(_foreign_key_columns()) > 50


def test_every_foreign_key_column_starts_an_index():
    """Deleting a parent row (a user, a term) checks or cascades to its children by the
    foreign-key column, and pages join on it: without an index that starts with it, each is
    a scan of the whole child table. The migration test above holds the database to the models."""
    tables = SQLModel.metadata.tables
    bare = [
        f"{table}.{column}"
        for table, column in _foreign_key_columns()
        if column not in _leading_columns(tables[table])
    ]
    assert bare == [], "index these foreign-key columns (index=True and a migration)"


def test_foreign_key_columns_are_named_for_the_key():
    """One way to name a reference: the role, then _id (owner_id, created_by_id)."""
    assert [f"{t}.{c}" for t, c in _foreign_key_columns() if not c.endswith("_id")] == []


def test_init_db_is_repeatable(cli, app):
    r = cli("init-db")
    assert r.exit_code == 0, r.output
    assert "newest schema" in r.output


def test_foreign_keys_enforced(session):
    session.add(Course(code="C1", title="Orphan", department_id=999_999))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_negative_enrolment_refused(session, factory):
    u = factory.university()
    term = factory.term()
    course = factory.course("C1", u["CS-SE"])
    session.add(Section(code="S1", course_id=course.id, term_id=term.id, enrolled=-1))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


@pytest.mark.parametrize(("method", "locks"), [("POST", True), ("GET", False)])
def test_sqlite_write_requests_take_the_write_lock_at_begin(app, method, locks):
    """A state-changing request holds SQLite's write lock from its first statement.

    Without it, a request that reads and then writes fails with "database is locked"
    when another worker committed in between (found by bench/load_bench.py).
    """
    import sqlite3

    from sqlalchemy import text

    from evalsys.db import get_session

    engine = get_engine(app)
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with app.test_request_context("/", method=method):
        get_session().execute(text("SELECT 1")).one()  # the request's transaction begins
        other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        try:
            if locks:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            else:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
        finally:
            other.close()
            get_session().rollback()


def test_sqlite_migrations_that_copy_a_parent_table_keep_its_children(tmp_path):
    """SQLite alters a table by copying it and dropping the old one; with foreign keys on,
    dropping ``user_account`` would cascade into every table that points at it. The
    migrations run with them off and check the keys afterwards (migrations/env.py)."""
    from alembic import command
    from sqlalchemy import text

    from evalsys import migrate
    from evalsys.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_account (username, name, active, created_at) "
                "VALUES ('a', 'A', 1, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO user_session (user_id, token_hash, created_at, last_seen_at, "
                "method) VALUES (1, 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'oidc')"
            )
        )
    # Down past the migration that added user_account's second-factor columns (dropping a
    # column copies the table), and up again.
    command.downgrade(migrate.alembic_config(engine), "4b163d367d00")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT token_hash FROM user_session")).all() == [("x",)]
        assert conn.exec_driver_sql("PRAGMA foreign_keys").one() == (1,)
    engine.dispose()


def test_a_database_at_an_older_schema_is_named_not_a_traceback(tmp_path):
    """Code upgraded without ``evalsys init-db``: the command and the page say what to do."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from evalsys import create_app
    from evalsys.cli import main
    from evalsys.db import make_engine

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    # The schema before the accounts' second factor: "user" lacks columns the code reads.
    migrate.upgrade(engine, "4b163d367d00")
    engine.dispose()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    result = CliRunner().invoke(
        main,
        ["create-user", "wang", "--name", "Wang", "--role", "admin@U"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code == 1
    assert "schema revision 4b163d367d00" in result.output
    assert f"needs {migrate.head_revision()}" in result.output
    assert "evalsys init-db" in result.output and "Traceback" not in result.output

    response = app.test_client().post(
        "/login",
        data={"username": "wang", "password": "whatever"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert response.status_code == 503 and response.headers["Retry-After"] == "300"
    page = response.get_data(as_text=True)
    assert "系统正在升级" in page and "init-db" not in page  # no command for a stranger

    # A program using the API gets the API's error shape, with the same status and wait (a
    # token of the right form: looking it up reads the user's table, whose columns lag).
    from evalsys.api.tokens import TOKEN_PREFIX

    token = TOKEN_PREFIX + "x" * 40
    response = app.test_client().get(
        "/api/v1/feedback", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 503 and response.headers["Retry-After"] == "300"
    assert response.get_json() == {"error": "Upgrade in progress", "status": 503}

    # Other database errors are not dressed up as an upgrade.
    migrate.upgrade(get_engine(app))
    assert migrate.schema_problem(get_engine(app)) is None
