"""The migration that made programmes records keeps what old actions typed, and its linking
statement is the one the import runs (so the two cannot drift apart)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from evalsys import migrate
from evalsys.db import make_engine
from evalsys.programmes.importing import LINK_FREE_TEXT

REVISION = "2fb262dedd8f"
BEFORE = "a9a1b9aeb92a"
FILE = next((Path(migrate.__file__).parent.parent / "migrations/versions").glob(f"*_{REVISION}_*"))


def _migration():
    spec = importlib.util.spec_from_file_location("programmes_migration", FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.once("migrates a SQLite file of its own, up and down")
def test_old_free_text_kept_and_linked_where_a_code_matches(tmp_path):
    assert _migration().LINK_FREE_TEXT == LINK_FREE_TEXT
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate.upgrade(engine, BEFORE)
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO user_account (username, name, active, created_at)"
            " VALUES ('h', 'H', 1, CURRENT_TIMESTAMP)",
            "INSERT INTO org_unit (id, code, name, kind) VALUES (1, 'U', 'U', 'school')",
            "INSERT INTO term (id, code, name, start_date, end_date)"
            " VALUES (1, 'T1', 'T1', '2026-02-23', '2026-07-05')",
            "INSERT INTO loop_problem (id, term_id, unit_id, title, category, severity, status,"
            " source, created_at, updated_at) VALUES (1, 1, 1, 'p', 'other', 'low', 'open',"
            " 'manual', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        ):
            conn.execute(text(sql))
        for i, typed in enumerate(("SE-BS", "软件工程专业"), start=1):
            conn.execute(
                text(
                    "INSERT INTO loop_action (id, problem_id, title, owner_id, due_date, status,"
                    " plan_programme, plan_change, created_at, updated_at) VALUES (:i, 1, 't', 1,"
                    " '2026-03-01', 'open', :typed, 'more labs', CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"i": i, "typed": typed},
            )
    migrate.upgrade(engine)
    read = "SELECT plan_programme, plan_programme_id FROM loop_action ORDER BY id"
    with engine.begin() as conn:
        # No programme exists yet: both texts are kept as typed.
        assert conn.execute(text(read)).all() == [("SE-BS", None), ("软件工程专业", None)]
        conn.execute(
            text(
                "INSERT INTO programme (id, code, name, department_id) VALUES (7, 'SE-BS', 'x', 1)"
            )
        )
        conn.execute(text(LINK_FREE_TEXT))  # what an import of programmes.csv runs
        assert conn.execute(text(read)).all() == [(None, 7), ("软件工程专业", None)]
    # Down again: the linked programme goes back to text, so the old rule still holds.
    command.downgrade(migrate.alembic_config(engine), BEFORE)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT plan_programme FROM loop_action ORDER BY id")).all()
        assert rows == [("SE-BS",), ("软件工程专业",)]
    engine.dispose()
