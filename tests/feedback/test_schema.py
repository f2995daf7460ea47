"""The feedback tables: the migration matches the models, and the constraints hold in SQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from evalsys.feedback import rubrics
from evalsys.feedback.models import Feedback, FeedbackScore, Rubric
from tests.fixtures.feedback_world import TODAY

FEEDBACK_TABLES = {
    "rubric",
    "rubric_item",
    "feedback",
    "feedback_score",
    "feedback_revision",
    "teacher_response",
}


def test_migration_matches_models(migrated_database: str):
    """Autogenerate finds nothing to do for the feedback tables on a migrated database."""

    def include(obj, name, type_, reflected, compare_to):
        return type_ != "table" or name in FEEDBACK_TABLES

    engine = create_engine(migrated_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include}
            )
            assert set(conn.dialect.get_table_names(conn)) >= FEEDBACK_TABLES
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


@pytest.fixture
def good(session: Session, world) -> dict:
    """Column values of a valid spot-check row, to break one at a time."""
    rubric = rubrics.current_rubric(session, "spot_check")
    return {
        "kind": "spot_check",
        "rubric_id": rubric.id,
        "term_id": world.term.id,
        "section_id": world.se.id,
        "department_id": world.group.department_id,
        "observer_id": world.supervisor.id,
        "status": "submitted",
        "visit_date": TODAY,
        "enrolled": 30,
        "present": 20,
        "late": 1,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"group_id": "group"},  # both a section and a group
        {"section_id": None},  # neither
        {"kind": "tutor_group"},  # a tutor-group row about a section
        {"kind": "lecture"},
        {"status": "deleted"},
        {"present": 31},
        {"late": 21},
        {"enrolled": -1, "present": None, "late": None},
        {"observer_level": "peer"},  # only on open classes
        {"meeting_format": "tutor_meeting"},  # only on tutor groups
        {"kind": "open_class", "announced": True},  # only on spot checks
        {"kind": "open_class", "observer_level": "dean"},
        {"overall_grade": "great"},
        {"overall_score": 100.5},
    ],
)
def test_feedback_constraints(session: Session, world, good, change):
    session.add(Feedback(**good))
    session.flush()  # the valid row is accepted
    values = good | change
    if values.get("group_id") == "group":
        values["group_id"] = world.group.id
    session.add(Feedback(**values))
    with pytest.raises(IntegrityError):
        session.flush()


def test_idempotency_key_unique_per_observer(session: Session, world, good):
    session.add(Feedback(**good, idempotency_key="k"))
    session.add(Feedback(**(good | {"observer_id": world.admin.id}), idempotency_key="k"))
    session.add(Feedback(**good))  # no key: no limit
    session.add(Feedback(**good))
    session.flush()
    session.add(Feedback(**good, idempotency_key="k"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_rubric_constraints(session: Session):
    rubrics.ensure_default_rubrics(session)
    now = datetime.now(UTC)
    session.add(Rubric(kind="spot_check", version=1, title="dup", status="draft"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    session.add(Rubric(kind="open_class", version=5, title="x", status="published"))
    with pytest.raises(IntegrityError):  # published without a date
        session.flush()
    session.rollback()
    session.add(Rubric(kind="open_class", version=0, title="x", published_at=now))
    with pytest.raises(IntegrityError):
        session.flush()


def test_scores_need_a_real_item_and_go_with_their_record(session: Session, world, good):
    fb = Feedback(**good)
    session.add(fb)
    session.flush()
    item = rubrics.rubric_items(session, good["rubric_id"])[0]
    session.add(FeedbackScore(feedback_id=fb.id, item_id=item.id, value=7))
    session.commit()
    session.delete(fb)
    session.commit()
    assert session.get(FeedbackScore, (fb.id, item.id)) is None  # ON DELETE CASCADE
    session.add(FeedbackScore(feedback_id=fb.id, item_id=item.id, value=7))
    with pytest.raises(IntegrityError):  # the record is gone
        session.flush()
