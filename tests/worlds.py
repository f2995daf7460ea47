"""Test worlds built once per run and copied into each test's empty database.

A world (the aggregation tests' generated university, the security tests' one user
per role, ...) takes from a few tenths of a second to seconds to build through the
services, and dozens of tests start from the same one. :func:`built_once` builds it
in the first test that asks, keeps every row of the database then (and, on
PostgreSQL, where each sequence stood), and from then on writes those rows straight
into the next test's database in place of what it holds — the same ids, the same
values, as if built again. A world built on another (the aggregated university on
the generated one) is saved whole, so restoring it replaces the first.

The objects a world hands to its tests (ORM rows inside dataclasses, dicts, lists)
are kept detached and merged into each test's own session without a query, so a test
that changes one of them changes only its own copy.

A world may only write database rows through the test's session: files it needs
(stand-in PDFs, staged uploads) belong to the fixture's per-test part, after
:func:`built_once` returns.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from tests.factories import Factory

W = TypeVar("W")


@dataclass
class _Saved:
    rows: dict[str, list[dict[str, Any]]]
    sequences: dict[str, tuple[int, bool]]
    world: Any


_SAVED: dict[str, _Saved] = {}


def built_once(name: str, session: Session, build: Callable[[], W], *, on: str | None = None) -> W:
    """The world ``name``: built by ``build`` the first time, restored from its rows after.

    The database must be empty, or hold the world ``on`` it is built on, as the fixture
    left it: rows a test wrote before asking for the world would be saved into it the
    first time (and show in every later test) and silently deleted after. So a world
    that starts from nothing checks that nothing is there (one query).
    """
    if on is None:
        held = _tables_with_rows(session.connection())
        assert not held, (
            f"the test world {name!r} is built on an empty database, but it holds rows in "
            f"{', '.join(held)}: ask for the world fixture before fixtures that write"
        )
    saved = _SAVED.get(name)
    if saved is None:
        world = build()
        session.commit()
        connection = session.connection()
        saved = _Saved(_rows(connection), _sequences(connection), world)
        session.commit()
        # The built objects become the detached originals every test merges a copy of.
        session.expunge_all()
        _SAVED[name] = saved
    else:
        _restore(session.connection(), saved)
        session.commit()
    return _attach(saved.world, session)


def _rows(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in SQLModel.metadata.sorted_tables:
        stmt = table.select().order_by(*table.primary_key.columns)
        found = [dict(r) for r in conn.execute(stmt).mappings()]
        if found:
            rows[table.name] = _parents_first(table, found)
    return rows


def _parents_first(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` ordered so that a row a foreign key of the same table points at (a unit's
    parent) is inserted before the row that points at it.

    Tables are inserted in dependency order already; within one table the order read back
    is not that order on PostgreSQL (an updated row moves to the end of the heap), and its
    foreign keys are checked row by row."""
    keys = [
        (fk.parent.name, fk.column.name) for fk in table.foreign_keys if fk.column.table is table
    ]
    if not keys:
        return rows
    by_value = {(target, row[target]): i for _, target in keys for i, row in enumerate(rows)}
    placed: set[int] = set()
    out: list[dict[str, Any]] = []

    def place(i: int) -> None:
        if i in placed:
            return
        placed.add(i)
        for column, target in keys:
            j = by_value.get((target, rows[i][column]))
            if j is not None:
                place(j)
        out.append(rows[i])

    for i in range(len(rows)):
        place(i)
    return out


def _sequences(conn: Connection) -> dict[str, tuple[int, bool]]:
    if conn.dialect.name != "postgresql":
        return {}  # SQLite's ids follow the rows (no AUTOINCREMENT table in the schema)
    names = conn.execute(text("SELECT sequencename FROM pg_sequences")).scalars().all()
    out: dict[str, tuple[int, bool]] = {}
    for seq in names:
        last, called = conn.execute(text(f'SELECT last_value, is_called FROM "{seq}"')).one()
        out[seq] = (last, called)
    return out


def empty_tables(conn: Connection) -> None:
    """Deletes every row, children first, touching only the tables that hold some.

    One query finds them: a test fills a few of the 37 tables, and emptying only
    those is far cheaper than ``TRUNCATE`` of all (which gives each a new file).
    """
    tables = SQLModel.metadata.sorted_tables
    for i in sorted(_indexes_with_rows(conn), reverse=True):
        conn.execute(tables[i].delete())


def _indexes_with_rows(conn: Connection) -> set[int]:
    """Positions in ``sorted_tables`` of the tables that hold a row: one query."""
    tables = SQLModel.metadata.sorted_tables
    probe = " UNION ALL ".join(
        f'SELECT {i} FROM (SELECT 1 FROM "{t.name}" LIMIT 1) AS t{i}' for i, t in enumerate(tables)
    )
    return {row[0] for row in conn.execute(text(probe))}


def _tables_with_rows(conn: Connection) -> list[str]:
    tables = SQLModel.metadata.sorted_tables
    return [tables[i].name for i in sorted(_indexes_with_rows(conn))]


def _restore(conn: Connection, saved: _Saved) -> None:
    """The saved rows, in place of whatever the database holds (a world built on another)."""
    empty_tables(conn)
    for table in SQLModel.metadata.sorted_tables:
        rows = saved.rows.get(table.name)
        if rows:
            conn.execute(table.insert(), rows)
    for seq, (last, called) in saved.sequences.items():
        conn.execute(
            text("SELECT setval(CAST(:seq AS regclass), :last, :called)"),
            {"seq": f'"{seq}"', "last": last, "called": called},
        )


def _attach(value: Any, session: Session) -> Any:
    """A copy of ``value`` whose ORM objects belong to ``session`` (no query is made)."""
    if isinstance(value, SQLModel) and hasattr(value, "__table__"):
        return session.merge(value, load=False)
    if isinstance(value, Session):
        return session
    if isinstance(value, Factory):
        return Factory(session)
    if isinstance(value, dict):
        return {k: _attach(v, session) for k, v in value.items()}
    if isinstance(value, list):
        return [_attach(v, session) for v in value]
    if isinstance(value, tuple):
        return tuple(_attach(v, session) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = copy.copy(value)
        for f in dataclasses.fields(value):
            setattr(out, f.name, _attach(getattr(value, f.name), session))
        return out
    return copy.deepcopy(value)
