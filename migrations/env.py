"""Alembic environment: the app's engine and the complete SQLModel metadata."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import evalsys.models  # noqa: F401  (every table, or autogenerate would drop the missing ones)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from evalsys import create_app
        from evalsys.db import get_engine

        engine = get_engine(create_app())
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it into a new one and dropping the old. With
            # foreign keys enforced, dropping a parent (user_account, say) would cascade and
            # delete every child row. Off for the migration, checked afterwards, on again for
            # the pool. On the driver's connection, before SQLAlchemy's BEGIN (evalsys.db):
            # inside a transaction SQLite ignores the PRAGMA.
            _driver(connection).execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows without their parent: {broken}")
        connection.commit()
        if sqlite:
            _driver(connection).execute("PRAGMA foreign_keys=ON")


def _driver(connection):
    """The sqlite3 connection under SQLAlchemy's (autocommit: evalsys.db sets no isolation)."""
    return connection.connection.driver_connection


if context.is_offline_mode():
    raise SystemExit("evalsys migrations run online only: use `evalsys init-db`.")
run_migrations_online()
