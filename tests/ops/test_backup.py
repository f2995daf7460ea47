"""``evalsys backup`` / ``evalsys restore``: every row of every table comes back.

Runs on the suite's database: SQLite files through the sqlite3 backup API, or
PostgreSQL through pg_dump/pg_restore into a second, new database.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, MetaData, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from evalsys import create_app
from evalsys.accounts.models import AuditEvent
from evalsys.aggregation import service as aggregation
from evalsys.api import tokens
from evalsys.db import get_engine, make_engine
from evalsys.ops import backup as backups
from tests.conftest import Cli
from tests.fixtures.universities import Uni


def table_digests(engine: Engine) -> dict[str, tuple[int, str]]:
    """Per table (every table in the database, reflected): row count and a hash of all rows."""
    meta = MetaData()
    meta.reflect(engine)
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            digest = hashlib.sha256()
            count = 0
            for row in conn.execute(select(table).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
                count += 1
            out[table.name] = (count, digest.hexdigest())
    return out


@pytest.fixture
def empty_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second database of the same kind, with no tables at all."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"evalsys_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def restored_app(empty_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": empty_url,
            "WTF_CSRF_ENABLED": False,
            "INSTANCE_PATH": str(tmp_path / "instance-restored"),
        }
    )
    yield app
    get_engine(app).dispose()


@pytest.fixture
def filled(uni: Uni, session: Session, factory) -> Uni:
    """The generated university, aggregated, with a token and audit events: many tables used."""
    aggregation.aggregate_term(session, term=uni.terms["T1"].code)
    aggregation.aggregate_term(session, term=uni.terms["T2"].code)
    dean = factory.user("dean_cs", "dean@CS", name="计算机院长 ‘quoted’ \\ back")
    tokens.create_token(session, user=dean, name="bench")
    session.add(AuditEvent(user_id=dean.id, action="login", detail="带 NUL-free 文字\n第二行"))
    session.commit()
    return uni


def test_backup_and_restore_bring_back_every_row(filled, app, cli, restored_app, tmp_path):
    source = table_digests(get_engine(app))
    counts = {name: n for name, (n, _) in source.items()}
    # The data really spans the schema: a restore that skipped a table would show.
    for table in ("feedback", "feedback_score", "aggregate_result", "user_account", "api_token"):
        assert counts[table] > 0, table
    assert sum(counts.values()) > 1000

    file = tmp_path / "evalsys.backup"
    result = cli("backup", str(file))
    assert result.exit_code == 0, result.output
    assert "Backed up" in result.output and file.stat().st_size > 0
    assert not list(tmp_path.glob(".evalsys.backup.*")), "the temporary file was left behind"

    restore = Cli(restored_app)
    result = restore("restore", str(file))
    assert result.exit_code == 0, result.output
    assert f"{len(counts) - 1} tables" in result.output  # alembic_version is not counted
    assert table_digests(get_engine(restored_app)) == source

    # The restored database is a working one: the app logs in a restored user.
    client = restored_app.test_client()
    response = client.post(
        "/login", data={"username": "dean_cs", "password": "correct horse battery"}
    )
    assert response.status_code == 302


def test_restore_refuses_a_database_with_rows_unless_forced(filled, app, cli, tmp_path):
    file = tmp_path / "evalsys.backup"
    assert cli("backup", str(file)).exit_code == 0
    before = table_digests(get_engine(app))
    with Session(get_engine(app)) as session:
        session.add(AuditEvent(action="after the backup"))
        session.commit()

    result = cli("restore", str(file))
    assert result.exit_code != 0
    assert "is not empty" in result.output and "--force" in result.output
    assert table_digests(get_engine(app))["audit_event"] != before["audit_event"]  # untouched

    result = cli("restore", "--force", str(file))
    assert result.exit_code == 0, result.output
    assert table_digests(get_engine(app)) == before


def test_restore_refuses_files_it_cannot_read(app, cli, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    result = cli("restore", str(junk))
    assert result.exit_code != 0 and "neither an SQLite database nor" in result.output
    result = cli("restore", str(tmp_path / "missing.backup"))
    assert result.exit_code != 0 and "no such file" in result.output

    other = tmp_path / "other.backup"
    if get_engine(app).dialect.name == "sqlite":
        other.write_bytes(backups.PG_CUSTOM_MAGIC + b"\0" * 100)
        expected = "is a postgresql backup and the database is sqlite"
    else:
        other.write_bytes(backups.SQLITE_MAGIC + b"\0" * 100)
        expected = "is a sqlite backup and the database is postgresql"
    result = cli("restore", str(other))
    assert result.exit_code != 0 and expected in result.output


def test_backup_is_one_consistent_state_while_the_app_writes(app, session, factory, tmp_path):
    """Writers commit audit rows in pairs; every backup taken meanwhile holds an even count."""
    engine = make_engine(str(get_engine(app).url.render_as_string(hide_password=False)))
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            with Session(engine) as s:
                s.add(AuditEvent(action="pair", target="first"))
                s.add(AuditEvent(action="pair", target="second"))
                s.commit()
            written[0] += 2

    writer = threading.Thread(target=write)
    writer.start()
    try:
        seen = []
        for i in range(5):
            file = tmp_path / f"b{i}.backup"
            backups.backup(get_engine(app), file)
            seen.append(_audit_rows_in(file, tmp_path, app))
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    assert written[0] > 0
    assert all(n % 2 == 0 for n in seen), seen
    assert seen[-1] > 0


def _audit_rows_in(file: Path, tmp_path: Path, app: Flask) -> int:
    """Count audit rows inside a backup file without restoring it over the live database."""
    if get_engine(app).dialect.name == "sqlite":
        import sqlite3

        with sqlite3.connect(file) as conn:
            return conn.execute("SELECT COUNT(*) FROM audit_event").fetchone()[0]
    import subprocess

    data = subprocess.run(
        ["pg_restore", "--data-only", "--table=audit_event", "--file=-", str(file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    start = data.index("COPY public.audit_event")
    body = data[start:].split("\n", 1)[1]
    return len(body[: body.index("\\.")].splitlines())


def test_pg_tools_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "")
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/nowhere")
    with pytest.raises(backups.BackupError, match="pg_dump is not installed"):
        backups.backup(engine, Path("/nonexistent/x.backup"))


def test_password_stays_off_the_command_line():
    uri, env = backups.libpq_uri(make_url("postgresql+psycopg://ev:s3cret@db.example:5433/ev"))
    assert uri == "postgresql://ev@db.example:5433/ev"
    assert env["PGPASSWORD"] == "s3cret"
