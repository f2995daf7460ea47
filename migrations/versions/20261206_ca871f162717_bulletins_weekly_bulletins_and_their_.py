"""bulletins: weekly bulletins and their deliveries

One row per rendering of a unit's weekly supervision bulletin (ISO week, language, file,
hash, pages), and one per email of a unit's week to a person, unique per (unit, week,
user) so that a week's bulletin never reaches anyone twice.

Revision ID: ca871f162717
Revises: 2fb262dedd8f
Create Date: 2026-12-06 22:10:56.420897
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "ca871f162717"
down_revision: str | None = "2fb262dedd8f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulletin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("week", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("empty", sa.Boolean(), nullable=False),
        sa.Column("generated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("pages >= 0", name=op.f("ck_bulletin_pages_nonneg")),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
            name=op.f("fk_bulletin_unit_id_org_unit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulletin")),
    )
    with op.batch_alter_table("bulletin", schema=None) as batch_op:
        batch_op.create_index("ix_bulletin_unit_week", ["unit_id", "week", "locale"], unique=False)
        batch_op.create_index(batch_op.f("ix_bulletin_week"), ["week"], unique=False)

    op.create_table(
        "bulletin_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bulletin_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("week", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'gave_up')",
            name=op.f("ck_bulletin_delivery_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_bulletin_delivery_attempts_nonneg")),
        sa.ForeignKeyConstraint(
            ["bulletin_id"],
            ["bulletin.id"],
            name=op.f("fk_bulletin_delivery_bulletin_id_bulletin"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
            name=op.f("fk_bulletin_delivery_unit_id_org_unit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_bulletin_delivery_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulletin_delivery")),
        sa.UniqueConstraint("unit_id", "week", "user_id", name="uq_bulletin_delivery_week_user"),
    )
    with op.batch_alter_table("bulletin_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bulletin_delivery_bulletin_id"), ["bulletin_id"], unique=False
        )
        batch_op.create_index("ix_bulletin_delivery_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_bulletin_delivery_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bulletin_delivery_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bulletin_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulletin_delivery_user_id"))
        batch_op.drop_index(batch_op.f("ix_bulletin_delivery_unit_id"))
        batch_op.drop_index("ix_bulletin_delivery_status")
        batch_op.drop_index(batch_op.f("ix_bulletin_delivery_bulletin_id"))

    op.drop_table("bulletin_delivery")
    with op.batch_alter_table("bulletin", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulletin_week"))
        batch_op.drop_index("ix_bulletin_unit_week")

    op.drop_table("bulletin")
