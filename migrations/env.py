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
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("evalsys migrations run online only: use `evalsys init-db`.")
run_migrations_online()
