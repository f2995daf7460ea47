"""Fixtures: an app on a fresh, migrated database per test; client; CLI; login helper.

The schema is built by the real migrations once per run, then copied (SQLite)
or truncated (PostgreSQL) between tests, so every test starts from empty
tables on exactly the schema users get.

Set ``EVALSYS_TEST_DATABASE_URL`` to a PostgreSQL URL (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) to run the suite there:
a throw-away database is created beside it for the run and dropped after.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

import evalsys.models  # noqa: F401
from evalsys import clock, create_app, migrate
from evalsys.cli import main
from evalsys.db import get_engine, make_engine
from tests import compiled_once
from tests.factories import Factory
from tests.worlds import empty_tables

# Each test's app reuses the URL builders and template code earlier apps generated.
compiled_once.install()


@event.listens_for(Engine, "connect")
def _sqlite_without_flushing(dbapi_connection, _record) -> None:
    """A test's SQLite database needs no durability, as the PostgreSQL one (below): a commit
    need not wait for the disk (fsync of the WAL, at every commit and checkpoint), which
    the tests' own files spent more time on than on their SQL. What is thrown away after
    the test is all an operating-system crash could lose; statements, locks and
    transactions are the same. Only this test process: the apps tests start in other
    processes (CLI, scheduler, gunicorn) keep the production setting.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


#: Fixtures shared across areas (see tests/fixtures/__init__.py).
pytest_plugins = [
    "tests.fixtures.universities",
    "tests.fixtures.feedback_world",
    "tests.fixtures.security_world",
    "tests.fixtures.mail",
    "tests.fixtures.oidc_provider",
    "tests.fixtures.ldap_server",
]

PG_URL = os.environ.get("EVALSYS_TEST_DATABASE_URL")
# Apps the tests start in other processes (scheduler, gunicorn, CLI) speak English too,
# unless a test sets the variable itself.
os.environ.setdefault("EVALSYS_DEFAULT_LOCALE", "en")


def pytest_report_header(config) -> str:
    if PG_URL:
        shown = make_url(PG_URL).render_as_string(hide_password=True)
        return f"evalsys database: PostgreSQL ({shown})"
    return "evalsys database: SQLite (set EVALSYS_TEST_DATABASE_URL for PostgreSQL)"


#: Test files that take longest (seconds of one worker, measured on the two-core machine of
#: docs/benchmarks.md with both runs side by side), heaviest first. .ci/test hands files to
#: its workers in the order of :func:`_heaviest_first` (``--no-loadscope-reorder``): a file
#: of a few long tests started last keeps one worker busy while the others wait (seen: the
#: wheel's two minutes at the end of a run). A file missing here only runs later.
HEAVIEST_FILES = (
    "tests/reports/test_cli_and_views.py",  # 240: renders trees of PDFs
    "tests/reports/test_queue.py",  # 55-150: evalsys worker processes render trees
    "tests/scheduler/test_process.py",  # 235: schedulers waiting for fire times
    "tests/security/test_hostile_input.py",  # 235
    "tests/reports/test_render_killed.py",  # 150
    "tests/reports/test_delivery.py",  # 140
    "tests/test_wheel.py",  # 120: builds, installs and serves the wheel
    "tests/reports/test_report_languages.py",  # 100
    "tests/reports/test_report_pdf.py",  # 80
    "tests/reports/test_report_layers.py",  # 25-60: renders a tree once
    "tests/reports/test_publishing.py",  # 60
    "tests/browser/test_accessibility.py",  # 55
    "tests/test_demo.py",  # 55
    "tests/test_make_config.py",  # 50
)


def _heaviest_first(items: list[pytest.Item]) -> None:
    """The known heavy files first, then the others by their number of tests (what xdist's
    own reordering does), each file's tests in their order."""
    rank = {name: i for i, name in enumerate(HEAVIEST_FILES)}
    sizes: dict[str, int] = {}
    for item in items:
        sizes[item.nodeid.split("::")[0]] = sizes.get(item.nodeid.split("::")[0], 0) + 1

    def key(item: pytest.Item) -> tuple[int, int]:
        name = item.nodeid.split("::")[0]
        return (rank.get(name, len(rank)), -sizes[name] if name not in rank else 0)

    items.sort(key=key)  # stable: a file's tests keep their order


def pytest_collection_modifyitems(config, items) -> None:
    """Tests that use no database run once, in the SQLite run (.ci/test runs both).

    "Use no database" is read from the fixtures a test asks for, directly or through other
    fixtures: every path to the test database goes through ``migrated_database``. A test
    without it (the import graph, the worker pool, pure functions, the wheel, which builds
    its own SQLite site) would do the same thing twice. ``postgres_only`` tests are kept:
    they reach the server by its URL and are the reason for the PostgreSQL run.
    """
    _heaviest_first(items)
    if not PG_URL:
        return
    once = pytest.mark.skip(reason="uses no database: runs in the SQLite run only")
    for item in items:
        if item.get_closest_marker("postgres_only"):
            continue
        uses_database = "migrated_database" in getattr(item, "fixturenames", ())
        if item.get_closest_marker("wheel") or not uses_database:
            item.add_marker(once)
        elif (marker := item.get_closest_marker("once")) is not None:
            # A test that needs a database to set the scene, but checks what does not
            # depend on which one (the reason says what).
            item.add_marker(
                pytest.mark.skip(reason=f"runs in the SQLite run only: {marker.args[0]}")
            )


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Iterator[str]:
    """A database at the newest migration: a template SQLite file, or a PostgreSQL database."""
    if PG_URL:
        base = make_url(PG_URL)
        name = f"evalsys_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            # A test database needs no durability: a commit need not wait for the WAL to
            # reach the disk (what a crash would lose is thrown away anyway). Every
            # statement still runs and locks as in production; only the flush is skipped.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
        url = base.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        try:
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)
        engine.dispose()
        yield f"sqlite:///{path}"


_SHARED_ENGINES: dict[str, Engine] = {}


def shared_engine(url: str) -> Engine:
    """One engine (and pool) for every test of this process on ``url``.

    Every test of a process runs on the same database: PostgreSQL's, emptied after each
    test, or SQLite's file at one path, copied afresh before each (``database_url``).
    A new engine per test meant, on PostgreSQL, new connections: a backend forked,
    authenticated and its catalogue caches filled again, a third of the server's work in
    the PostgreSQL run; on both, a new dialect, so every statement compiled again and every
    column type adapted again (SQLAlchemy caches both per engine): a sixth of the CPU of a
    page-walking test file on SQLite. Connections are returned to the pool at the end of
    each request and test, and everything the app sets on one is transaction-local
    (``SET LOCAL``, ``set_config(..., true)``), so a pooled connection carries nothing from
    one test to the next; SQLite's pool is emptied after each test (its file is replaced).
    """
    engine = _SHARED_ENGINES.get(url)
    if engine is None:
        engine = _SHARED_ENGINES[url] = make_engine(url)
    return engine


@pytest.fixture
def database_url(migrated_database: str, tmp_path_factory) -> Iterator[str]:
    if PG_URL:
        yield migrated_database
        with shared_engine(migrated_database).begin() as conn:
            # As a fresh copy would be: no rows, every id counting from 1.
            empty_tables(conn)
            restart = "SELECT setval(c.oid, 1, false) FROM pg_class AS c WHERE c.relkind = 'S'"
            conn.execute(text(restart))
    else:
        # One path per test process, a fresh copy of the template for each test: the app's
        # engine can then be shared (``shared_engine``). The copy is written beside and
        # renamed over the last test's file (a new inode: a connection a test left open
        # keeps the old file), and the last test's WAL and shared-memory files go first —
        # SQLite would otherwise replay them into the fresh copy.
        path = tmp_path_factory.getbasetemp() / "test-database" / "evalsys.sqlite3"
        path.parent.mkdir(exist_ok=True)
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        fresh = path.with_name("fresh.sqlite3")
        shutil.copyfile(migrated_database.removeprefix("sqlite:///"), fresh)
        os.replace(fresh, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
            # The tests read English unless they ask for Chinese (Accept-Language or a
            # user's choice); the product's default for a silent browser is Chinese.
            "DEFAULT_LOCALE": "en",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    own = get_engine(app)
    engine = app.extensions["evalsys.engine"] = shared_engine(database_url)
    own.dispose()  # never connected
    yield app
    if not PG_URL:
        # Every connection closed, so that the next test's copy of the file is the one
        # opened (the engine, its compiled statements and adapted types, stay).
        engine.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session for arranging data and checking results directly in the database."""
    with Session(get_engine(app), expire_on_commit=False) as session:
        yield session


@pytest.fixture
def factory(session: Session) -> Factory:
    return Factory(session)


class Cli:
    """Runs ``evalsys ...`` against the test app, as a user would type it."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            main, list(args), input=input, obj=ScriptInfo(create_app=lambda: self.app)
        )


@pytest.fixture
def cli(app: Flask) -> Cli:
    return Cli(app)


class Auth:
    def __init__(self, client) -> None:
        self.client = client

    def login(self, username: str, password: str = Factory.PASSWORD):
        return self.client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


class Queries:
    """The SQL statements the app's engine runs, for tests that a page's count stays flat."""

    def __init__(self, app: Flask) -> None:
        self.engine = get_engine(app)

    @contextmanager
    def __call__(self) -> Iterator[list[str]]:
        """Every statement run inside the block (the test's own session's included)."""
        seen: list[str] = []

        def before(conn, cursor, statement, *args) -> None:
            seen.append(statement)

        event.listen(self.engine, "before_cursor_execute", before)
        try:
            yield seen
        finally:
            event.remove(self.engine, "before_cursor_execute", before)

    def page(self, client, url: str) -> int:
        """The number of statements a successful GET of ``url`` runs."""
        with self() as seen:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        return len(seen)


@pytest.fixture
def queries(app: Flask) -> Queries:
    return Queries(app)


class SiteClock:
    """Moves the whole application in time by patching :func:`evalsys.clock._now`,
    the one place it reads the system clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def at(self, moment: datetime) -> None:
        """Stop the clock at ``moment`` (aware, or naive meaning UTC)."""
        fixed = clock.as_utc(moment)
        self._monkeypatch.setattr(clock, "_now", lambda: fixed)

    def on(self, day: date) -> None:
        """Noon of ``day`` on the site's clock (the default SCHEDULER_TIMEZONE)."""
        self.at(clock.site_datetime(day, time(12)))


@pytest.fixture
def site_clock(monkeypatch: pytest.MonkeyPatch) -> SiteClock:
    return SiteClock(monkeypatch)
