"""The database layer: migrations agree with the models, constraints are really on."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from evalsys import migrate
from evalsys.db import get_engine
from evalsys.org.models import Course, Section


def test_migrations_match_models(app):
    """Autogenerate against the migrated test database finds nothing to change."""
    engine = get_engine(app)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_init_db_is_repeatable(cli, app):
    r = cli("init-db")
    assert r.exit_code == 0, r.output
    assert "newest schema" in r.output


def test_foreign_keys_enforced(session):
    session.add(Course(code="C1", title="Orphan", department_id=999_999))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_negative_enrolment_refused(session, factory):
    u = factory.university()
    term = factory.term()
    course = factory.course("C1", u["CS-SE"])
    session.add(Section(code="S1", course_id=course.id, term_id=term.id, enrolled=-1))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
