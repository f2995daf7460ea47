"""One engine per app, one session per request, explicit sessions for CLI and jobs.

The naming convention is set here, before any model is defined, so that every
constraint has a stable name: Alembic needs names to alter or drop constraints,
and SQLite batch migrations rebuild tables by them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the settings each backend needs to be trustworthy."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        # Flask serves requests from several threads; each gets its own connection.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # A restarted database server must not break the next request.
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling breaks SAVEPOINT (a savepoint before the
        # first write commits for real); let SQLAlchemy emit BEGIN itself, as its docs advise.
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite forgets foreign keys per connection; WAL lets readers and one writer overlap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    if not _is_memory(dbapi_connection):
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    """BEGIN, or BEGIN IMMEDIATE for a state-changing request.

    A deferred transaction that reads first and then writes fails at once with
    "database is locked" when another process committed in between (its snapshot
    is stale; SQLite cannot wait that out, busy_timeout or not). Under load, with
    several gunicorn workers, that turned a third of the submissions into 500s
    (bench/load_bench.py). Taking the write lock at BEGIN makes such requests wait
    their turn instead. Reads (GET) stay deferred, so they never queue behind writers.
    """
    writing = has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _is_memory(dbapi_connection: Any) -> bool:
    cursor = dbapi_connection.cursor()
    try:
        rows = cursor.execute("PRAGMA database_list").fetchall()
    finally:
        cursor.close()
    return any(row[2] in ("", ":memory:") for row in rows if row[1] == "main")


def init_app(app: Flask) -> None:
    app.extensions["evalsys.engine"] = make_engine(
        app.config["DATABASE_URL"], echo=app.config["DATABASE_ECHO"]
    )
    app.teardown_appcontext(_close_session)


def get_engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions["evalsys.engine"]


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work for CLI commands and jobs: commit on success, roll back on error."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
