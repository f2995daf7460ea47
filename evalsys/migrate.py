"""Alembic, driven from Python: no alembic.ini to keep in step with the app's config."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from evalsys import resource_folder

#: The checkout's migrations/, or the copy an installed wheel carries as evalsys/_migrations:
#: a real folder either way (Alembic's script_location must be a path; see resource_folder).
MIGRATIONS = resource_folder("migrations")


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Date-prefixed revision files sort in the order they were written.
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.set_main_option("truncate_slug_length", "40")
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_problem(engine: Engine) -> str | None:
    """What is wrong with the database's schema for this code, or None if it is the newest.

    Asked only after a statement failed (never on the happy path: reading the migration
    scripts costs tens of milliseconds), so that a database left at an older revision —
    an upgrade of the code without ``evalsys init-db`` — is named as such instead of
    surfacing as "no such table" or "column does not exist".
    """
    try:
        current = current_revision(engine)
    except Exception:  # noqa: BLE001 - an unreachable database is another problem, said as it is
        return None
    head = head_revision()
    if current == head:
        return None
    url = engine.url.render_as_string(hide_password=True)
    return (
        f"the database {url} is at schema revision {current or '(empty)'}, and this evalsys "
        f"needs {head}: run `evalsys init-db` to upgrade it (safe to run again)"
    )


def revision(engine: Engine, message: str) -> None:
    command.revision(alembic_config(engine), message=message, autogenerate=True)
