"""Backups of the whole database, taken while the app runs, and restores into an empty one.

SQLite: the ``sqlite3`` online backup API copies the database page by page
under a read lock, so the copy is one consistent state even while web workers
write (copying the file with ``cp`` could catch half a transaction, or miss
what still sits in the WAL file). PostgreSQL: ``pg_dump --format=custom``,
which reads in one repeatable-read snapshot, and ``pg_restore`` in a single
transaction, so a failed restore leaves nothing half-restored.

A backup restores into the same kind of database it came from: the two file
formats are not interchangeable, and :func:`restore` says so instead of trying.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Engine, make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
#: Tables that hold no user data: a database with rows only here counts as empty.
BOOKKEEPING_TABLES = {"alembic_version"}


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Done:
    path: Path
    kind: str  # "sqlite" or "postgresql"
    size: int


# --- helpers -------------------------------------------------------------------------------


def sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def libpq_uri(url: URL) -> tuple[str, dict[str, str]]:
    """The URL as libpq reads it (no ``+psycopg``), with the password moved to PGPASSWORD.

    The password stays out of the command line, which other users can read in ``ps``.
    """
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    # URL.set(password=None) keeps the password; build the URL again without it.
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return plain.render_as_string(hide_password=False), env


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed or not on PATH; install the PostgreSQL client tools "
            f"of the server's major version (Debian: apt-get install postgresql-client) "
            f"and try again"
        )
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tool = Path(args[0]).name
        raise BackupError(f"{tool} failed (exit {done.returncode}): {done.stderr.strip()}")


def _file_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    return "unknown"


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return Path(tmp)


# --- what is in a database --------------------------------------------------------------------


def user_row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table, bookkeeping tables left out; {} for a database with no tables."""
    names = [n for n in inspect(engine).get_table_names() if n not in BOOKKEEPING_TABLES]
    quote = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        return {
            name: conn.execute(text(f"SELECT COUNT(*) FROM {quote(name)}")).scalar_one()
            for name in names
        }


def is_empty(engine: Engine) -> bool:
    return not any(user_row_counts(engine).values())


# --- backup ---------------------------------------------------------------------------------


def backup(engine: Engine, target: Path) -> Done:
    """Write a consistent copy of the database to ``target`` (replaced only when complete)."""
    url = engine.url
    tmp = _temp_beside(target)
    try:
        if url.get_backend_name() == "sqlite":
            kind = "sqlite"
            source = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
            dest = sqlite3.connect(tmp)
            try:
                with dest:
                    source.backup(dest)
            finally:
                dest.close()
                source.close()
        elif url.get_backend_name() == "postgresql":
            kind = "postgresql"
            uri, env = libpq_uri(url)
            _run(
                [pg_tool("pg_dump"), "--format=custom", f"--file={tmp}", f"--dbname={uri}"],
                env,
            )
        else:
            raise BackupError(f"no backup method for {url.get_backend_name()} databases")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return Done(target, kind, target.stat().st_size)


# --- restore --------------------------------------------------------------------------------


def restore(engine: Engine, source: Path, *, force: bool = False) -> Done:
    """Replace the database's content with the backup in ``source``.

    Refuses a database that holds any rows unless ``force``: a restore pointed at
    the live database by mistake would otherwise throw away everything since the backup.
    """
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    url = engine.url
    backend = url.get_backend_name()
    kind = _file_kind(source)
    if kind == "unknown":
        raise BackupError(f"{source} is neither an SQLite database nor a pg_dump custom archive")
    if kind != backend:
        raise BackupError(
            f"{source} is a {kind} backup and the database is {backend}: restore it into "
            f"a {kind} database (moving between the two is not supported by backup files)"
        )
    if not force and not is_empty(engine):
        raise BackupError(
            f"the database {url.render_as_string(hide_password=True)} is not empty; "
            "restore into an empty database, or pass --force to replace its content"
        )
    engine.dispose()  # no pooled connection of ours holds a lock on what is replaced
    if backend == "sqlite":
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dest = sqlite3.connect(sqlite_path(url), timeout=30)
        try:
            with dest:
                src.backup(dest)
        finally:
            dest.close()
            src.close()
    else:
        uri, env = libpq_uri(url)
        _run(
            [
                pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                f"--dbname={uri}",
                str(source),
            ],
            env,
        )
    return Done(source, kind, source.stat().st_size)


def describe(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)
