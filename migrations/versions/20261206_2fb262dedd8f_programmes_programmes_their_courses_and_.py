"""programmes: programmes, their courses and training plans; actions name a programme

A programme (专业) of a department, the courses of its plan, and the versions of its
training plan. A loop action's training-plan adjustment now names a programme by its id
(``plan_programme_id``), which makes it an entry of the programme's change log, and a head
or dean may mark the change verified. The free-text ``plan_programme`` stays for what
names no programme: the data step below links the actions whose text is a programme's
code (surrounding spaces ignored) and clears their text; the same statement runs
after every import of programmes.csv (evalsys.programmes.importing.link_free_text), since
a database being migrated has no programmes yet.

Revision ID: 2fb262dedd8f
Revises: a9a1b9aeb92a
Create Date: 2026-12-06 21:02:20.370845
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "2fb262dedd8f"
down_revision: str | None = "a9a1b9aeb92a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TARGET_OLD = "plan_change IS NULL OR plan_course_id IS NOT NULL OR plan_programme IS NOT NULL"
_TARGET_NEW = (
    "plan_change IS NULL OR plan_course_id IS NOT NULL OR plan_programme_id IS NOT NULL"
    " OR plan_programme IS NOT NULL"
)

#: Link free-text programmes that are a programme's code; copied here (not imported) so
#: the migration keeps meaning what it meant when the application code moves on.
LINK_FREE_TEXT = """
UPDATE loop_action
SET plan_programme_id = (
        SELECT p.id FROM programme AS p
        WHERE p.code = trim(loop_action.plan_programme)),
    plan_programme = NULL
WHERE plan_programme_id IS NULL
  AND plan_programme IS NOT NULL
  AND EXISTS (
        SELECT 1 FROM programme AS p
        WHERE p.code = trim(loop_action.plan_programme))
"""


def upgrade() -> None:
    op.create_table(
        "programme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("length(code) > 0", name=op.f("ck_programme_code_not_empty")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["org_unit.id"], name=op.f("fk_programme_department_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme")),
        sa.UniqueConstraint("code", name=op.f("uq_programme_code")),
    )
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_programme_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "programme_course",
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_programme_course_course_id_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_programme_course_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("programme_id", "course_id", name=op.f("pk_programme_course")),
    )
    with op.batch_alter_table("programme_course", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_programme_course_course_id"), ["course_id"], unique=False
        )

    op.create_table(
        "training_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("effective_term_id", sa.Integer(), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.CheckConstraint("length(version) > 0", name=op.f("ck_training_plan_version_not_empty")),
        sa.ForeignKeyConstraint(
            ["effective_term_id"], ["term.id"], name=op.f("fk_training_plan_effective_term_id_term")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_training_plan_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_plan")),
        sa.UniqueConstraint("programme_id", "version", name="uq_training_plan_version"),
    )
    with op.batch_alter_table("training_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_plan_effective_term_id"), ["effective_term_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_training_plan_programme_id"), ["programme_id"], unique=False
        )

    with op.batch_alter_table("loop_action", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_programme_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("plan_verified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("plan_verified_by_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_loop_action_plan_programme_id"), ["plan_programme_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loop_action_plan_verified_by_id"), ["plan_verified_by_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loop_action_plan_programme_id_programme"),
            "programme",
            ["plan_programme_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loop_action_plan_verified_by_id_user_account"),
            "user_account",
            ["plan_verified_by_id"],
            ["id"],
        )
        batch_op.drop_constraint(op.f("ck_loop_action_plan_change_has_target"), type_="check")
        batch_op.create_check_constraint(op.f("ck_loop_action_plan_change_has_target"), _TARGET_NEW)

    op.execute(LINK_FREE_TEXT)


def downgrade() -> None:
    # A linked action gets its programme back as text, so the old rule (a target) holds.
    op.execute(
        "UPDATE loop_action SET plan_programme ="
        " (SELECT code FROM programme WHERE programme.id = loop_action.plan_programme_id)"
        " WHERE plan_programme_id IS NOT NULL AND plan_programme IS NULL"
    )
    with op.batch_alter_table("loop_action", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_loop_action_plan_change_has_target"), type_="check")
        batch_op.create_check_constraint(op.f("ck_loop_action_plan_change_has_target"), _TARGET_OLD)
        batch_op.drop_constraint(
            batch_op.f("fk_loop_action_plan_verified_by_id_user_account"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_loop_action_plan_programme_id_programme"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_loop_action_plan_verified_by_id"))
        batch_op.drop_index(batch_op.f("ix_loop_action_plan_programme_id"))
        batch_op.drop_column("plan_verified_by_id")
        batch_op.drop_column("plan_verified_at")
        batch_op.drop_column("plan_programme_id")

    with op.batch_alter_table("training_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_plan_programme_id"))
        batch_op.drop_index(batch_op.f("ix_training_plan_effective_term_id"))

    op.drop_table("training_plan")
    with op.batch_alter_table("programme_course", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_course_course_id"))

    op.drop_table("programme_course")
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_department_id"))

    op.drop_table("programme")
