"""``evalsys backup FILE`` and ``evalsys restore FILE [--force]``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from evalsys.db import get_engine
from evalsys.ops import backup as backups


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_cmd(file: Path) -> None:
    """Write a consistent backup of the database to FILE (safe while the app runs)."""
    engine = get_engine()
    try:
        done = backups.backup(engine, file)
    except backups.BackupError as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"Backed up {backups.describe(engine.url)} to {done.path} "
        f"({done.kind}, {done.size:,} bytes)."
    )


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the content of a database that is not empty.")
@with_appcontext
def restore_cmd(file: Path, force: bool) -> None:
    """Restore the backup in FILE into the (empty) database.

    Stop the app servers and the scheduler first; afterwards run `evalsys init-db`
    to bring an older backup to the newest schema.
    """
    engine = get_engine()
    try:
        backups.restore(engine, file, force=force)
    except backups.BackupError as err:
        raise click.ClickException(str(err)) from err
    counts = backups.user_row_counts(engine)
    click.echo(
        f"Restored {file} into {backups.describe(engine.url)}: "
        f"{len(counts)} tables, {sum(counts.values()):,} rows."
    )


COMMANDS = [backup_cmd, restore_cmd]
